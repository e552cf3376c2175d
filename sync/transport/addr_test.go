package transport

import (
	"errors"
	"testing"
)

func TestParseAddr(t *testing.T) {
	id := nodeIDFromByte(t, 9)
	tests := []struct {
		in       string
		hostPort string
		withID   bool
		err      bool
	}{
		{"127.0.0.1:4001", "127.0.0.1:4001", false, false},
		{"example.org:1", "example.org:1", false, false},
		{"[::1]:65535", "[::1]:65535", false, false},
		{"[fe80::1%eth0]:22", "[fe80::1%eth0]:22", false, false},
		{id.String() + "@127.0.0.1:4001", "127.0.0.1:4001", true, false},
		{id.String() + "@[::1]:4001", "[::1]:4001", true, false},
		{"", "", false, true},
		{"127.0.0.1", "", false, true},
		{"::1:4001", "", false, true},
		{":4001", "", false, true},
		{"host:0", "", false, true},
		{"host:65536", "", false, true},
		{"host:-1", "", false, true},
		{"host:port", "", false, true},
		{"@host:1", "", false, true},
		{"notanid@host:1", "", false, true},
		{id.String() + "@", "", false, true},
		{id.String() + "@" + id.String() + "@host:1", "", false, true},
		{"ho st:1", "", false, true},
		{"a/b:1", "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseAddr(tc.in)
			if tc.err {
				if !errors.Is(err, ErrBadAddr) {
					t.Fatalf("ParseAddr(%q) = %+v, %v; want ErrBadAddr", tc.in, a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddr(%q): %v", tc.in, err)
			}
			if a.HostPort != tc.hostPort {
				t.Errorf("HostPort = %q, want %q", a.HostPort, tc.hostPort)
			}
			if tc.withID && a.ID != id || !tc.withID && !a.ID.IsZero() {
				t.Errorf("ID = %s", a.ID)
			}
			if a.String() != tc.in {
				t.Errorf("String() = %q, want %q", a.String(), tc.in)
			}
		})
	}
}

func FuzzParseAddr(f *testing.F) {
	id := nodeIDFromByte(f, 9).String()
	for _, s := range []string{
		"127.0.0.1:4001", "[::1]:1", id + "@host:80", "@:", "a@b@c:1", "host:0", "[::1%25x]:9", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			if !errors.Is(err, ErrBadAddr) {
				t.Fatalf("error without ErrBadAddr: %v", err)
			}
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil {
			t.Fatalf("%q parsed to %q, which does not parse: %v", s, a, err)
		}
		if a != b {
			t.Fatalf("%q: %+v re-parses as %+v", s, a, b)
		}
	})
}
