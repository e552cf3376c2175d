package chunker

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
		str  string
	}{
		{"", DefaultConfig(), "fastcdc-16384-65536-262144"},
		{"fastcdc", DefaultConfig(), "fastcdc-16384-65536-262144"},
		{"fastcdc-16384-65536-262144", DefaultConfig(), "fastcdc-16384-65536-262144"},
		{"fastcdc-64-65-66", Config{Kind: FastCDC, Min: 64, Avg: 65, Max: 66}, "fastcdc-64-65-66"},
		{"fastcdc-2048-8192-1048576", Config{Kind: FastCDC, Min: 2048, Avg: 8192, Max: 1 << 20}, "fastcdc-2048-8192-1048576"},
		{"size-262144", Config{Kind: Fixed, Size: 262144}, "size-262144"},
		{"size-1", Config{Kind: Fixed, Size: 1}, "size-1"},
		{"size-1048576", Config{Kind: Fixed, Size: 1 << 20}, "size-1048576"},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
		if back, err := Parse(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", got.String(), back, err, got)
		}
	}
}

func TestParseBad(t *testing.T) {
	for _, in := range []string{
		"rabin", "buzhash", "FASTCDC", " fastcdc", "fastcdc-", "fastcdc-1-2", "fastcdc-1-2-3-4",
		"fastcdc-16384-65536-262144 ", "fastcdc-63-128-256", // min below 64
		"fastcdc-4096-4096-8192", "fastcdc-4096-8192-8192", "fastcdc-8192-4096-16384", // not min<avg<max
		"fastcdc-1024-4096-1048577", // max above 1 MiB
		"fastcdc--1-2-3", "fastcdc-+100-200-300", "fastcdc-0100-200-300", "fastcdc-1e3-2000-3000",
		"size-", "size-0", "size-1048577", "size--1", "size-+5", "size-05", "size-0x10", "size-1k",
		"size-99999999999999999999999", "size-262144-1", "size",
	} {
		c, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, c)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalidConfig", in, err)
		}
	}
}

func TestZeroConfig(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if c.String() != DefaultConfig().String() || c.MaxSize() != DefaultMax {
		t.Errorf("zero Config = %s (max %d), want the defaults", c, c.MaxSize())
	}
	for _, bad := range []Config{{Kind: Fixed}, {Kind: 7, Size: 5}, {Min: 1, Avg: 2, Max: 3}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "fastcdc", "fastcdc-16384-65536-262144", "fastcdc-64-65-66",
		"size-262144", "size-1", "size-0", "fastcdc-1-2-3", "size-01", "fastcdc--", "size-1048577"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidConfig", s, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", s, c, err)
		}
		back, err := Parse(c.String())
		if err != nil || back != c {
			t.Fatalf("Parse(%q) = %+v; String %q parses to %+v, %v", s, c, c.String(), back, err)
		}
		if s != "" && s != "fastcdc" && c.String() != s {
			t.Fatalf("Parse(%q) accepted a non-canonical spec (canonical %q)", s, c.String())
		}
		if c.MaxSize() < 1 || c.MaxSize() > MaxChunkSize {
			t.Fatalf("Parse(%q): MaxSize %d out of range", s, c.MaxSize())
		}
	})
}
