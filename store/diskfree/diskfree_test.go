package diskfree

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestCheckSpace(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name  string
		sp    Space
		n     uint64
		floor Floor
		ok    bool
	}{
		{"plenty", Space{Free: 50 * gib, Total: 100 * gib}, 1 << 20, Floor{Percent: 1}, true},
		{"percent", Space{Free: gib + 1<<20, Total: 100 * gib}, 2 << 20, Floor{Percent: 1}, false},
		{"exactly at the floor", Space{Free: gib + 1<<20, Total: 100 * gib}, 1 << 20, Floor{Percent: 1}, true},
		{"bytes beat percent", Space{Free: 50 << 20, Total: gib}, 1 << 20, Floor{Percent: 1, Bytes: 64 << 20}, false},
		{"more than free", Space{Free: 10, Total: gib}, 11, Floor{}, false},
		{"no floor", Space{Free: 10, Total: gib}, 10, Floor{}, true},
	}
	for _, tc := range tests {
		err := CheckSpace("/x", tc.sp, tc.n, tc.floor)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device")) {
			t.Errorf("%s: %v does not say ENOSPC", tc.name, err)
		}
	}
}

func TestStat(t *testing.T) {
	sp, ok, err := Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ok && (sp.Total == 0 || sp.Free > sp.Total) {
		t.Fatalf("space %+v", sp)
	}
	if _, _, err := Stat("/nonexistent/dir/x"); ok && err == nil {
		t.Error("no error for a missing path")
	}
}

func TestParseFloor(t *testing.T) {
	tests := []struct {
		in   string
		want Floor
		ok   bool
	}{
		{"1%", Floor{Percent: 1}, true},
		{"0.5 %", Floor{Percent: 0.5}, true},
		{"5GiB", Floor{Bytes: 5 << 30}, true},
		{"2GB", Floor{Bytes: 2e9}, true},
		{"1%,100MiB", Floor{Percent: 1, Bytes: 100 << 20}, true},
		{"123", Floor{Bytes: 123}, true},
		{"101%", Floor{}, false},
		{"-1%", Floor{}, false},
		{"lots", Floor{}, false},
		{"", Floor{}, false},
	}
	for _, tc := range tests {
		got, err := ParseFloor(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseFloor(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseFloor(f *testing.F) {
	for _, s := range []string{"1%", "5GiB", "1%,100MiB", "0.5 %", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFloor(s)
		if err == nil && (fl.Percent < 0 || fl.Percent > 100 || fl.Bytes < 0) {
			t.Fatalf("ParseFloor(%q) = %+v", s, fl)
		}
	})
}
