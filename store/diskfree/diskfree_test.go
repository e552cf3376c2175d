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
