package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/store/memstore"
)

const seedCid = "bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm"

// FuzzParsePath checks parsePath never panics and that every path it
// accepts names only valid entry names below a CID and prints back to a
// path that parses the same.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/ipfs/" + seedCid, "/ipfs/" + seedCid + "/", "/ipfs/" + seedCid + "/a/b.txt", "/ipfs/" + seedCid + "/a/",
		"/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/readme",
		"/ipfs/", "/ipfs", "/ipns/x", "", "/ipfs/" + seedCid + "//", "/ipfs/" + seedCid + "/../x",
		"/ipfs/" + seedCid + "/a/./b", "/ipfs/" + seedCid + "/a\x00b", "/ipfs/notacid/x", "/ipfs//" + seedCid,
		"/ipfs/" + seedCid + strings.Repeat("/a", MaxPathElems+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		if !p.root.Defined() || len(p.elems) > MaxPathElems {
			t.Fatalf("%q: accepted root %v with %d names", s, p.root, len(p.elems))
		}
		for _, e := range p.elems {
			if unixfs.ValidName(e) != nil || e == ".." || strings.ContainsAny(e, "/\x00") {
				t.Fatalf("%q: accepted name %q", s, e)
			}
		}
		if p.String() != s {
			t.Fatalf("%q prints back as %q", s, p.String())
		}
		again, err := parsePath(p.String())
		if err != nil || !again.root.Equals(p.root) || !slices.Equal(again.elems, p.elems) || again.slash != p.slash {
			t.Fatalf("%q does not round-trip: %+v, %v", s, again, err)
		}
	})
}

// FuzzServe sends fuzzed paths, queries and headers to a handler over a
// store that holds one tree, and checks it never panics, never fails with
// a server error on healthy content, and only ever serves blocks of that
// tree's DAG.
func FuzzServe(f *testing.F) {
	st := memstore.New(memstore.Options{})
	dir := filepath.Join(f.TempDir(), "root")
	files := publicFiles()
	files["docs/big.bin"] = randBytes(200_000, 3) // still two levels, faster
	writeTree(f, dir, files)
	cfg, err := chunker.Parse("size-1000")
	if err != nil {
		f.Fatal(err)
	}
	roots, err := dag.Add(context.Background(), st, []string{dir}, dag.AddOptions{Chunker: cfg}, nil)
	if err != nil {
		f.Fatal(err)
	}
	root := roots[0]
	inDAG := reachable(f, st, root)
	h := New(Local{Store: st}, Options{})

	for _, s := range []struct{ rel, method, query, accept, rng string }{
		{"/docs/big.bin", "GET", "", "", "bytes=0-10,150000-"},
		{"/docs/big.bin", "HEAD", "", "", ""},
		{"/docs/", "GET", "", "", ""},
		{"/docs", "GET", "x=1", "", ""},
		{"/site/", "GET", "", "", "bytes=-5"},
		{"/", "GET", "format=car", "", ""},
		{"/docs/hello.txt", "GET", "format=raw", "", "bytes=3-4"},
		{"", "GET", "", "application/vnd.ipld.car", ""},
		{"/docs/sub/deep.bin", "GET", "filename=x.html&download=true", "", ""},
		{"/docs/../site/", "GET", "", "", ""},
		{"/docs//big.bin", "GET", "", "", ""},
		{"/docs/hello.txt/x", "GET", "", "", ""},
		{"/docs/%00", "GET", "format=xml", "", ""},
		{"/docs/big.bin", "POST", "", "", ""},
		{"/docs/big.bin", "GET", "", "", "bytes=399999-1"},
		{"\x00", "GET", "", "text/html", "bytes=a-b"},
	} {
		f.Add(s.rel, s.method, s.query, s.accept, s.rng)
	}
	allowed := []int{200, 206, 301, 304, 400, 404, 405, 406, 412, 416, 501}
	f.Fuzz(func(t *testing.T, rel, method, query, accept, rng string) {
		var p string
		if strings.HasPrefix(rel, Prefix) {
			p = rel // a whole path, any CID
		} else {
			p = Prefix + root.String() + rel
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Method, req.URL.Path, req.URL.RawQuery = method, p, query
		req.Header.Set("Accept", accept)
		req.Header.Set("Range", rng)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("%s %q?%s: status %d: %s", method, p, query, rec.Code, rec.Body.Bytes())
		}
		if rec.Code != http.StatusOK && rec.Code != http.StatusPartialContent {
			return
		}
		tag := strings.Trim(rec.Header().Get("Etag"), `"`)
		if _, after, ok := strings.Cut(tag, "_CID-"); ok {
			tag = after // a directory listing
		}
		if i := strings.Index(tag, ".car."); i >= 0 {
			tag = tag[:i]
		}
		tag = strings.TrimSuffix(tag, ".raw")
		c, err := cid.Decode(tag)
		if err != nil {
			t.Fatalf("%s %q: served with ETag %q: %v", method, p, rec.Header().Get("Etag"), err)
		}
		if !inDAG[string(c.Hash())] {
			t.Fatalf("%s %q: served %s, which is not in the DAG", method, p, c)
		}
	})
}

// FuzzCARParams feeds arbitrary dag-scope, entity-bytes and Accept values
// to the CAR parameter parsers: they must not panic, and a range they
// accept must resolve, for any entity size, to offsets inside it.
func FuzzCARParams(f *testing.F) {
	for _, s := range [][3]string{
		{"entity", "0:*", "application/vnd.ipld.car; version=1; order=dfs; dups=y"},
		{"", "-1024:*", ""},
		{"block", "", "application/vnd.ipld.car;order=unk"},
		{"all", "499:-1000", "application/vnd.ipld.raw, */*;q=0.1"},
		{"", "9223372036854775807:-9223372036854775808", "application/vnd.ipld.car; version=2"},
		{"entity", "-0:0", "text/html,application/xhtml+xml;q=0.9"},
	} {
		f.Add(s[0], s[1], s[2], int64(1<<20))
	}
	f.Fuzz(func(t *testing.T, scope, rng, accept string, size int64) {
		q := url.Values{}
		if scope != "" {
			q.Set("dag-scope", scope)
		}
		if rng != "" {
			q.Set("entity-bytes", rng)
		}
		req := httptest.NewRequest("GET", "/ipfs/x", nil)
		req.Header.Set("Accept", accept)
		_, params, _, _ := negotiate(req)
		cp, err := parseCARParams(q, params)
		if err != nil || cp.rng == nil {
			return
		}
		if size < 0 {
			size = -(size + 1)
		}
		from, to, ok := cp.rng.resolve(size)
		if ok && (from < 0 || to < from || to >= size) {
			t.Fatalf("entity-bytes=%s on %d bytes resolves to [%d, %d]", rng, size, from, to)
		}
	})
}
