package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
)

// TestNoCopyFileChanged serves a file added with --nocopy after it
// changed on disk. Where the change shows before the headers go (its
// mtime, or bytes of its first block), the answer is an error that names
// the change; where it shows only later, the response is aborted, so the
// client's read fails instead of ending as if the body were whole.
func TestNoCopyFileChanged(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, path string, mtime time.Time)
		query  string
		// status is the answer wanted; 200 means the change can only show
		// after the headers, and the body must then fail to read.
		status int
	}{
		{"mtime changed", func(t *testing.T, p string, _ time.Time) {
			if err := os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, "", 500},
		{"first block changed, mtime restored", func(t *testing.T, p string, m time.Time) { overwrite(t, p, 10, m) }, "", 500},
		{"later block changed, mtime restored", func(t *testing.T, p string, m time.Time) { overwrite(t, p, 30_000, m) }, "", 200},
		{"later block changed, CAR", func(t *testing.T, p string, m time.Time) { overwrite(t, p, 30_000, m) }, "format=car", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			p := filepath.Join(t.TempDir(), "f.bin")
			data := randBytes(40_000, 8)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := chunker.Parse("size-1000")
			roots, err := dag.Add(context.Background(), st, []string{p}, dag.AddOptions{Chunker: cfg, NoCopy: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, p, fi.ModTime())
			srv := httptest.NewServer(New(Local{Store: st}, Options{}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/ipfs/" + roots[0].String() + "?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, readErr := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if !strings.Contains(string(body), "changed") || !strings.Contains(string(body), p) {
					t.Fatalf("error %q does not say that %s changed", body, p)
				}
				return
			}
			if readErr == nil {
				t.Fatalf("the body read to its end without an error (%d of %d bytes): a cut response passed as whole", len(body), len(data))
			}
			if tt.query == "" && string(body) != string(data[:len(body)]) {
				t.Fatal("bytes before the abort differ from the file's")
			}
		})
	}
}

// overwrite flips a byte of the file at off and puts its mtime back.
func overwrite(t *testing.T, p string, off int64, mtime time.Time) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
