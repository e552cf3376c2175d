package gateway

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
)

// fixture is a badger store holding two trees added with dag.Add: one
// pinned, one not.
type fixture struct {
	st       store.Store
	pinned   cid.Cid // root of the pinned tree
	unpinned cid.Cid // root of the unpinned tree
	files    map[string][]byte
	// privFile is the CID of a file only in the unpinned tree.
	privFile cid.Cid
}

// Names that need escaping in HTML and in URLs.
const (
	nameHTML  = `<b>&"x'.txt`
	nameSpace = "a b#?%.json"
	nameJS    = "javascript:alert(1)"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// publicFiles is the pinned tree: big.bin is cut into 1000-byte leaves, so
// it is a two-level DAG of 400 leaves.
func publicFiles() map[string][]byte {
	return map[string][]byte{
		"docs/big.bin":       randBytes(400_000, 1),
		"docs/hello.txt":     []byte("hello world\n"),
		"docs/" + nameHTML:   []byte("escaped name"),
		"docs/" + nameSpace:  []byte(`{"ok":true}`),
		"docs/" + nameJS:     []byte("not a script"),
		"docs/empty":         {},
		"docs/sub/deep.bin":  randBytes(3000, 2),
		"site/index.html":    []byte("<!DOCTYPE html><title>site</title><p>hello</p>\n"),
		"site/style.css":     []byte("p { color: red }\n"),
		"site/page/data.css": []byte("x"),
	}
}

func openFixture(t testing.TB) *fixture {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := chunker.Parse("size-1000")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(files map[string][]byte, pin bool) cid.Cid {
		dir := filepath.Join(t.TempDir(), "root")
		writeTree(t, dir, files)
		roots, err := dag.Add(ctx, st, []string{dir}, dag.AddOptions{Chunker: cfg, Pin: pin}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return roots[0]
	}
	fx := &fixture{st: st, files: publicFiles()}
	fx.pinned = add(fx.files, true)
	fx.unpinned = add(map[string][]byte{"secret.txt": []byte("private folder content\n")}, false)
	fx.privFile, err = unixfs.Resolve(ctx, st, fx.unpinned, "secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// reachable returns the set of blocks (by multihash) of the DAG under root.
func reachable(t testing.TB, g unixfs.Getter, root cid.Cid) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	err := unixfs.Walk(context.Background(), g, root, func(c cid.Cid, _ []byte) error {
		set[string(c.Hash())] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// reply is what a test request got back.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// get sends method to srv for the unescaped path p with query q and the
// given headers, without following redirects.
func get(t testing.TB, srv *httptest.Server, method, p, q string, hdr map[string]string) reply {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path, u.RawQuery = p, q
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, p, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}
