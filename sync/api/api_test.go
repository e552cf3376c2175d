package api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/node"
)

// serve starts the API on loopback for a node in a fresh home and returns
// a client of it.
func serve(t *testing.T) (*api.Client, *httptest.Server) {
	t.Helper()
	n, err := node.Open(t.TempDir(), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := httptest.NewServer(api.NewServer(n, "secret", api.Extra{}, nil))
	t.Cleanup(srv.Close)
	return api.NewClient(strings.TrimPrefix(srv.URL, "http://"), "secret"), srv
}

func TestClientServerRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, _ := serve(t)
	dir := t.TempDir()
	data := bytes.Repeat([]byte("shoal api "), 50000)
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var added []dag.Added
	var progress int64
	roots, err := c.Add(ctx, []string{dir}, dag.AddOptions{Pin: true, Progress: func(n int64) { progress += n }},
		func(a dag.Added) error { added = append(added, a); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || len(added) != 2 || !added[1].Cid.Equals(roots[0]) || !added[1].IsDir {
		t.Fatalf("add: roots %v, added %+v", roots, added)
	}
	if progress != int64(len(data)) {
		t.Fatalf("progress reported %d bytes, want %d", progress, len(data))
	}
	var buf bytes.Buffer
	if err := c.Cat(ctx, roots[0].String()+"/f.txt", &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("cat: %v (%d bytes)", err, buf.Len())
	}
	ls, err := c.Ls(ctx, roots[0].String())
	if err != nil || len(ls) != 1 || ls[0].Name != "f.txt" {
		t.Fatalf("ls: %+v %v", ls, err)
	}
	pins, err := c.PinLs(ctx)
	if err != nil || len(pins) != 1 || !pins[0].Cid.Equals(roots[0]) || pins[0].Mode != store.PinRecursive {
		t.Fatalf("pin ls: %+v %v", pins, err)
	}
	var car bytes.Buffer
	if err := c.Export(ctx, roots[0], &car); err != nil {
		t.Fatal(err)
	}
	other, _ := serve(t)
	got, err := other.Import(ctx, bytes.NewReader(car.Bytes()))
	if err != nil || len(got) != 1 || !got[0].Equals(roots[0]) {
		t.Fatalf("import: %v %v", got, err)
	}
	out := filepath.Join(t.TempDir(), "out")
	var total, done int64
	opt := dag.GetOptions{Total: func(n int64) { total = n }, Progress: func(n int64) { done += n }}
	if err := other.Get(ctx, roots[0].String()+"/f.txt", out, opt); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("get wrote different bytes: %v", err)
	}
	if total != int64(len(data)) || done != total {
		t.Fatalf("get reported a total of %d and progress of %d bytes, want %d", total, done, len(data))
	}
	if err := c.PinRm(ctx, roots[0]); err != nil {
		t.Fatal(err)
	}
	st, err := c.GC(ctx)
	if err != nil || st.Blocks == 0 {
		t.Fatalf("gc: %+v %v", st, err)
	}
	if s, err := c.Stat(ctx); err != nil || s.Pins != 0 {
		t.Fatalf("stat: %+v %v", s, err)
	}
}

func TestErrorsCrossTheAPI(t *testing.T) {
	ctx := context.Background()
	c, srv := serve(t)
	missing, _ := cid.Decode("bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm")
	var buf bytes.Buffer
	if err := c.Cat(ctx, missing.String(), &buf); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cat of a missing CID: %v, want one matching store.ErrNotFound", err)
	}
	if err := c.Get(ctx, missing.String(), filepath.Join(t.TempDir(), "out"), dag.GetOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing CID: %v, want one matching store.ErrNotFound", err)
	}
	if err := c.PinAdd(ctx, missing, dag.PinOptions{Recursive: true}); err == nil {
		t.Fatal("pin add of a missing CID succeeded")
	}
	if _, err := c.Import(ctx, bytes.NewReader([]byte("not a car"))); err == nil {
		t.Fatal("import of garbage succeeded")
	}
	if _, err := c.Add(ctx, []string{"/nonexistent/path"}, dag.AddOptions{}, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("add of a missing path: %v", err)
	}
	wrong := api.NewClient(strings.TrimPrefix(srv.URL, "http://"), "wrong")
	var re *api.RemoteError
	if _, err := wrong.Stat(ctx); !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v, want 401", err)
	}
}

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:4778", true},
		{"127.0.0.1", true},
		{"127.3.4.5:80", true},
		{"localhost:4778", true},
		{"LOCALHOST", true},
		{"[::1]:4778", true},
		{"::1", true},
		{"evil.example:4778", false},
		{"192.168.1.2:4778", false},
		{"localhost.evil.example", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := api.LoopbackHost(tc.host); got != tc.want {
			t.Errorf("loopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
