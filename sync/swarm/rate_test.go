package swarm

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"16MiB", 16 << 20, false},
		{"16MiB/s", 16 << 20, false},
		{"16 mib", 16 << 20, false},
		{"500kB", 500e3, false},
		{"500KiB", 500 << 10, false},
		{"1.5GB", 1.5e9, false},
		{"2G", 2 << 30, false},
		{"1048576", 1 << 20, false},
		{"10MBps", 10e6, false},
		{"0", 0, false},
		{"", 0, false},
		{"unlimited", 0, false},
		{"-1MiB", 0, true},
		{"fast", 0, true},
		{"MiB", 0, true},
		{"1e30GiB", 0, true},
		{"NaN", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadRate) {
				t.Errorf("ParseRate(%q) = %d, %v; want ErrBadRate", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if back, err := ParseRate(FormatRate(got)); err != nil || back != got {
			t.Errorf("ParseRate(FormatRate(%d)=%q) = %d, %v", got, FormatRate(got), back, err)
		}
	}
}

// TestLimiterRate checks in fake time that the bucket lets through about
// its rate, burst included, and that a zero rate never waits.
func TestLimiterRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := NewLimiter(1 << 20)
		start := time.Now()
		for range 40 { // 10 MiB in 256 KiB pieces
			if err := l.WaitN(ctx, 256<<10); err != nil {
				t.Fatal(err)
			}
		}
		// 10 MiB at 1 MiB/s with a 256 KiB burst: 9.75 s.
		if d := time.Since(start); d < 9700*time.Millisecond || d > 9800*time.Millisecond {
			t.Errorf("10 MiB at 1 MiB/s took %v, want 9.75 s", d)
		}
		start = time.Now()
		if err := l.WaitN(ctx, 3<<20); err != nil { // larger than the burst: split
			t.Fatal(err)
		}
		if d := time.Since(start); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
			t.Errorf("3 MiB took %v, want 3 s", d)
		}
		var none *Limiter = NewLimiter(0)
		start = time.Now()
		if err := none.WaitN(ctx, 1<<40); err != nil || time.Since(start) != 0 {
			t.Errorf("unlimited waited %v, %v", time.Since(start), err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.WaitN(cctx, 1<<20); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled wait: %v", err)
		}
	})
}

// FuzzParseRate checks ParseRate never panics, never returns a negative
// rate, and reads back what FormatRate prints.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"16MiB", "16MiB/s", "500kB", "1.5GB", "0", "", "unlimited", "-1", "1e400", "NaN", "12 kbps", "0.0001b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseRate(s)
		if err != nil {
			if !errors.Is(err, ErrBadRate) {
				t.Fatalf("ParseRate(%q): error %v does not wrap ErrBadRate", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseRate(%q) = %d", s, n)
		}
		if back, err := ParseRate(FormatRate(n)); err != nil || back != n {
			t.Fatalf("ParseRate(FormatRate(%d) = %q) = %d, %v", n, FormatRate(n), back, err)
		}
	})
}
