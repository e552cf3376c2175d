package history

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSettingsPolicy(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  string
		err   bool
	}{
		{nil, "versioning=remote versions=10 max-age=30d max-size=10% of the folder", false},
		{[]string{"versions=20", "max-age=7d", "max-size=5%"}, "versioning=remote versions=20 max-age=7d max-size=5% of the folder", false},
		{[]string{"versioning=all", "max-size=2GiB", "max-age=1d12h"}, "versioning=all versions=10 max-age=36h0m0s max-size=2.0 GiB", false},
		{[]string{"max-age=0", "max-size=0", "versions=0"}, "versioning=remote versions=0 max-age=no limit max-size=no limit", false},
		{[]string{"max-age=2w"}, "versioning=remote versions=10 max-age=14d max-size=10% of the folder", false},
		{[]string{"versions=-1"}, "", true},
		{[]string{"versions=many"}, "", true},
		{[]string{"max-age=forever"}, "", true},
		{[]string{"max-age=-3h"}, "", true},
		{[]string{"max-size=lots"}, "", true},
		{[]string{"max-size=x%"}, "", true},
		{[]string{"versioning=some"}, "", true},
		{[]string{"colour=blue"}, "", true},
		{[]string{"versions"}, "", true},
	} {
		t.Run(fmt.Sprint(tc.words), func(t *testing.T) {
			var s Settings
			err := s.SetWords(tc.words)
			if tc.err {
				if !errors.Is(err, ErrBadSetting) {
					t.Fatalf("err = %v, want ErrBadSetting", err)
				}
				if s != (Settings{}) {
					t.Fatal("a bad word changed the settings")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Policy()
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tc.want {
				t.Fatalf("policy %q, want %q", p, tc.want)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	kept := []Kept{
		{ID: "a1", Path: "a", Size: 100, Kept: ago(1)},
		{ID: "a2", Path: "a", Size: 100, Kept: ago(2)},
		{ID: "a3", Path: "a", Size: 100, Kept: ago(3)},
		{ID: "b1", Path: "b", Size: 500, Kept: ago(10)},
		{ID: "c1", Path: "c", Size: 50, Kept: ago(24 * 40)},
	}
	ids := func(ks []Kept) string {
		s := ""
		for _, k := range ks {
			s += k.ID + " "
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		p      Policy
		folder int64
		held   string
		want   string
	}{
		{"defaults: age drops c1", Policy{Versions: 10, MaxAge: 30 * 24 * time.Hour}, 0, "", "c1 "},
		{"two a file", Policy{Versions: 2}, 0, "", "a3 "},
		{"none kept", Policy{Versions: 0}, 0, "", "a1 a2 a3 b1 c1 "},
		{"size: oldest go first, a file's newest of the last day spared", Policy{Versions: 10, MaxBytes: 300}, 0, "", "a2 a3 c1 "},
		{"size as percent", Policy{Versions: 10, MaxPercent: 10}, 2500, "", "a2 a3 c1 "},
		{"held stays and counts", Policy{Versions: 1}, 0, "a3", "a2 "},
		{"held is never dropped for size", Policy{Versions: 10, MaxBytes: 100}, 0, "c1", "a2 a3 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Expired(kept, tc.p, tc.folder, now, func(k Kept) bool { return k.ID == tc.held })
			if ids(got) != tc.want {
				t.Fatalf("expired %q, want %q", ids(got), tc.want)
			}
		})
	}
}
