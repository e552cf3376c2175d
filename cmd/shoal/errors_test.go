package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/store"
)

// TestNotFoundSaysCIDOnceAndOffline: a CID no store holds, asked of every
// reading command without a daemon: the error names the CID once and says
// that no daemon runs (so no peer was asked).
func TestNotFoundSaysCIDOnceAndOffline(t *testing.T) {
	const file = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
	const dir = "bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm"
	home := t.TempDir()
	for _, args := range [][]string{
		{"get", file, "-o", filepath.Join(t.TempDir(), "out")},
		{"cat", file},
		{"ls", dir},
		{"get", dir + "/hello.txt", "-o", filepath.Join(t.TempDir(), "out")},
		{"cat", dir + "/sub/deeper/notes.md"},
		{"pin", "add", file},
	} {
		_, _, err := runIn(t, append([]string{"--home", home}, args...)...)
		if err == nil {
			t.Fatalf("shoal %v: no error", args)
		}
		msg := err.Error()
		var cid string
		for _, a := range args {
			if strings.HasPrefix(a, "baf") {
				cid = strings.Split(a, "/")[0]
			}
		}
		if n := strings.Count(msg, cid); n != 1 {
			t.Errorf("shoal %v: %q names the CID %d times", args, msg, n)
		}
		if !strings.Contains(msg, "offline") || !strings.Contains(msg, "no daemon runs") {
			t.Errorf("shoal %v: %q does not say no daemon runs", args, msg)
		}
		if !strings.HasPrefix(msg, args[0]) {
			t.Errorf("shoal %v: %q does not begin with the command", args, msg)
		}
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("shoal %v: %v is not ErrNotFound", args, err)
		}
	}
}
