package gateway

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/swarm"
)

func resolve(t testing.TB, g unixfs.Getter, root cid.Cid, p string) cid.Cid {
	t.Helper()
	c, err := unixfs.Resolve(context.Background(), g, root, p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestServe covers files, ranges, conditional requests, directories,
// formats and errors through a real HTTP server over a badger store.
func TestServe(t *testing.T) {
	fx := openFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	root := fx.pinned.String()
	big := fx.files["docs/big.bin"]
	bigCid := resolve(t, fx.st, fx.pinned, "docs/big.bin")
	bigTag := `"` + bigCid.String() + `"`
	helloCid := resolve(t, fx.st, fx.pinned, "docs/hello.txt")
	absent := unixfs.RawCIDOf([]byte("held by nobody")).String()

	tests := []struct {
		name     string
		method   string
		path     string
		query    string
		hdr      map[string]string
		status   int
		body     []byte            // nil: not checked
		header   map[string]string // exact values
		contains []string          // substrings of the body
		lacks    []string          // not in the body
	}{
		{name: "whole file", path: "/ipfs/" + root + "/docs/big.bin", status: 200, body: big,
			header: map[string]string{"Etag": bigTag, "Cache-Control": CacheControl,
				"Content-Length": strconv.Itoa(len(big)), "Accept-Ranges": "bytes"}},
		{name: "file by its own CID", path: "/ipfs/" + bigCid.String(), status: 200, body: big},
		{name: "range inside a leaf", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=1001-1998"},
			status: 206, body: big[1001:1999], header: map[string]string{"Content-Range": "bytes 1001-1998/400000"}},
		{name: "range across leaves and nodes", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=173500-175500"},
			status: 206, body: big[173500:175501]},
		{name: "suffix range", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=-100"},
			status: 206, body: big[len(big)-100:]},
		{name: "open range to the end", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=399990-"},
			status: 206, body: big[399990:]},
		{name: "unsatisfiable range", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=400000-"},
			status: 416},
		{name: "If-None-Match", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"If-None-Match": bigTag},
			status: 304, body: []byte{}, header: map[string]string{"Etag": bigTag}},
		{name: "If-None-Match weak in a list", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"If-None-Match": `"x", W/` + bigTag},
			status: 304, body: []byte{}},
		{name: "If-None-Match other", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"If-None-Match": `"bafyother"`},
			status: 200, body: big},
		{name: "If-Range matching", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=10-19", "If-Range": bigTag},
			status: 206, body: big[10:20]},
		{name: "If-Range stale", path: "/ipfs/" + root + "/docs/big.bin", hdr: map[string]string{"Range": "bytes=10-19", "If-Range": `"old"`},
			status: 200, body: big},
		{name: "HEAD", method: "HEAD", path: "/ipfs/" + root + "/docs/big.bin", status: 200, body: []byte{},
			header: map[string]string{"Content-Length": "400000", "Etag": bigTag}},
		{name: "empty file", path: "/ipfs/" + root + "/docs/empty", status: 200, body: []byte{}},
		{name: "sniffed type", path: "/ipfs/" + helloCid.String(), status: 200, body: []byte("hello world\n"),
			header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "type from extension", path: "/ipfs/" + root + "/docs/" + nameSpace, status: 200, body: []byte(`{"ok":true}`),
			header: map[string]string{"Content-Type": "application/json"}},
		{name: "filename inline", path: "/ipfs/" + helloCid.String(), query: "filename=report.json", status: 200,
			header: map[string]string{"Content-Disposition": `inline; filename="report.json"`, "Content-Type": "application/json"}},
		{name: "filename download", path: "/ipfs/" + helloCid.String(), query: "filename=a%20b.txt&download=true", status: 200,
			header: map[string]string{"Content-Disposition": `attachment; filename="a b.txt"`}},
		{name: "filename not ASCII", path: "/ipfs/" + helloCid.String(), query: "filename=na%C3%AFve.txt", status: 200,
			header: map[string]string{"Content-Disposition": `inline; filename="na_ve.txt"; filename*=UTF-8''na%C3%AFve.txt`}},
		{name: "directory redirect", path: "/ipfs/" + root + "/docs", query: "x=1", status: 301,
			header: map[string]string{"Location": "/ipfs/" + root + "/docs/?x=1"}},
		{name: "root directory redirect", path: "/ipfs/" + root, status: 301,
			header: map[string]string{"Location": "/ipfs/" + root + "/"}},
		{name: "index.html", path: "/ipfs/" + root + "/site/", status: 200, body: fx.files["site/index.html"],
			header: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "listing", path: "/ipfs/" + root + "/docs/", status: 200,
			header:   map[string]string{"Content-Type": "text/html; charset=utf-8"},
			contains: []string{"&lt;b&gt;&amp;&#34;x&#39;.txt", "big.bin", `href="./big.bin"`, `href="../"`, "409.6 KiB", "sub"}},
		{name: "listing of the root has no parent link", path: "/ipfs/" + root + "/", status: 200,
			contains: []string{`href="./docs"`, `href="./site"`}, lacks: []string{`href="../"`}},
		{name: "raw block", path: "/ipfs/" + root + "/docs/hello.txt", query: "format=raw", status: 200, body: []byte("hello world\n"),
			header: map[string]string{"Content-Type": "application/vnd.ipld.raw", "Etag": `"` + helloCid.String() + `.raw"`}},
		{name: "not a directory", path: "/ipfs/" + root + "/docs/hello.txt/x", status: 404},
		{name: "no such entry", path: "/ipfs/" + root + "/docs/nothing", status: 404},
		{name: "unknown CID", path: "/ipfs/" + absent, status: 404},
		{name: "unknown CID raw", path: "/ipfs/" + absent, query: "format=raw", status: 404},
		{name: "unknown CID car", path: "/ipfs/" + absent, query: "format=car", status: 404},
		{name: "bad CID", path: "/ipfs/notacid", status: 400, contains: []string{"invalid CID"}},
		{name: "no CID", path: "/ipfs/", status: 400},
		{name: "not under /ipfs/", path: "/ipns/" + root, status: 400},
		{name: "dot dot", path: "/ipfs/" + root + "/docs/../site", status: 400},
		{name: "dot", path: "/ipfs/" + root + "/./docs/", status: 400},
		{name: "empty element", path: "/ipfs/" + root + "/docs//hello.txt", status: 400},
		{name: "double trailing slash", path: "/ipfs/" + root + "/docs//", status: 400},
		{name: "NUL", path: "/ipfs/" + root + "/docs/hel\x00lo.txt", status: 400},
		{name: "bad format", path: "/ipfs/" + root + "/", query: "format=xml", status: 400},
		{name: "POST", method: "POST", path: "/ipfs/" + root + "/", status: 405, header: map[string]string{"Allow": "GET, HEAD, OPTIONS"}},
		{name: "PUT", method: "PUT", path: "/ipfs/" + root + "/docs/hello.txt", status: 405},
		{name: "DELETE", method: "DELETE", path: "/ipfs/" + root, status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			got := get(t, srv, method, tt.path, tt.query, tt.hdr)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d; body %.200q", got.status, tt.status, got.body)
			}
			if tt.body != nil && !bytes.Equal(got.body, tt.body) {
				t.Fatalf("body of %d bytes differs from the %d expected", len(got.body), len(tt.body))
			}
			for k, v := range tt.header {
				if g := got.header.Get(k); g != v {
					t.Errorf("%s: %q, want %q", k, g, v)
				}
			}
			for _, s := range tt.contains {
				if !bytes.Contains(got.body, []byte(s)) {
					t.Errorf("body lacks %q:\n%s", s, got.body)
				}
			}
			for _, s := range tt.lacks {
				if bytes.Contains(got.body, []byte(s)) {
					t.Errorf("body holds %q", s)
				}
			}
			if got.status >= 400 && got.header.Get("Cache-Control") != "" {
				t.Errorf("error %d is cacheable: %q", got.status, got.header.Get("Cache-Control"))
			}
		})
	}
}

// TestMultiRange checks a multi-range request answers every range with
// the file's bytes.
func TestMultiRange(t *testing.T) {
	fx := openFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	big := fx.files["docs/big.bin"]
	ranges := [][2]int{{0, 9}, {999, 1000}, {200_000, 210_000}, {399_999, 399_999}}
	var spec []string
	for _, r := range ranges {
		spec = append(spec, strconv.Itoa(r[0])+"-"+strconv.Itoa(r[1]))
	}
	got := get(t, srv, "GET", "/ipfs/"+fx.pinned.String()+"/docs/big.bin", "", map[string]string{"Range": "bytes=" + strings.Join(spec, ",")})
	if got.status != 206 {
		t.Fatalf("status %d", got.status)
	}
	mt, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", got.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	for i, r := range ranges {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, big[r[0]:r[1]+1]) {
			t.Fatalf("part %d (%v): %d bytes differ", i, r, len(data))
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("more parts than ranges: %v", err)
	}
}

// TestListingLinks follows every link of a listing and checks it leads to
// the entry's bytes, names that need escaping included.
func TestListingLinks(t *testing.T) {
	fx := openFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	dir := "/ipfs/" + fx.pinned.String() + "/docs/"
	page := get(t, srv, "GET", dir, "", nil)
	if page.status != 200 {
		t.Fatalf("listing: %d", page.status)
	}
	for _, raw := range []string{nameHTML, `<b>`, nameJS + `"`} {
		if bytes.Contains(page.body, []byte(raw)) {
			t.Errorf("listing holds %q unescaped", raw)
		}
	}
	hrefs := regexp.MustCompile(`<a href="(\./[^"]*)">([^<]*)</a>`).FindAllSubmatch(page.body, -1)
	found := map[string]bool{}
	for _, m := range hrefs {
		href, name := html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2]))
		want, isFile := fx.files["docs/"+name]
		if !isFile {
			continue
		}
		found[name] = true
		// Resolve the link as a browser does, against the page's URL.
		base, err := url.Parse(srv.URL + dir)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.Parse(href)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("GET", base.ResolveReference(ref).String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("link %q of %q: status %d, %d bytes, %v", href, name, resp.StatusCode, len(body), err)
		}
	}
	for _, name := range []string{nameHTML, nameSpace, nameJS, "big.bin", "hello.txt", "empty"} {
		if !found[name] {
			t.Errorf("listing has no working link for %q", name)
		}
	}
}

// TestRawAndCAR checks ?format=raw and Accept: application/vnd.ipld.raw
// give a block that hashes to its CID, and that a CAR, by ?format=car or
// Accept, parses back to exactly the blocks of the DAG.
func TestRawAndCAR(t *testing.T) {
	fx := openFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	ctx := context.Background()
	docs := resolve(t, fx.st, fx.pinned, "docs")
	big := resolve(t, fx.st, fx.pinned, "docs/big.bin")
	for _, tt := range []struct {
		name, path, query string
		hdr               map[string]string
		want              cid.Cid
	}{
		{"raw directory by query", "/ipfs/" + fx.pinned.String() + "/docs", "format=raw", nil, docs},
		{"raw file node by Accept", "/ipfs/" + big.String(), "", map[string]string{"Accept": "application/vnd.ipld.raw"}, big},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, srv, "GET", tt.path, tt.query, tt.hdr)
			if got.status != 200 {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			sum, err := tt.want.Prefix().Sum(got.body)
			if err != nil || !sum.Equals(tt.want) {
				t.Fatalf("raw block hashes to %s, want %s (%v)", sum, tt.want, err)
			}
			want, err := fx.st.Get(ctx, tt.want)
			if err != nil || !bytes.Equal(got.body, want) {
				t.Fatalf("raw block differs from the store's: %v", err)
			}
		})
	}
	for _, tt := range []struct {
		name, path, query string
		hdr               map[string]string
		target            cid.Cid
		onPath            []cid.Cid // blocks on the path, before the target's DAG
	}{
		{"car of the tree by query", "/ipfs/" + fx.pinned.String(), "format=car", nil, fx.pinned, nil},
		{"car of a path by Accept", "/ipfs/" + fx.pinned.String() + "/docs/big.bin", "", map[string]string{"Accept": "application/vnd.ipld.car; version=1"}, big, []cid.Cid{fx.pinned, docs}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, srv, "GET", tt.path, tt.query, tt.hdr)
			if got.status != 200 || got.header.Get("X-Stream-Error") != "" {
				t.Fatalf("status %d, stream error %q", got.status, got.header.Get("X-Stream-Error"))
			}
			if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.ipld.car") {
				t.Fatalf("Content-Type %q", ct)
			}
			cr, err := car.NewReader(bytes.NewReader(got.body))
			if err != nil {
				t.Fatal(err)
			}
			if roots := cr.Roots(); len(roots) != 1 || !roots[0].Equals(fx.pinned) {
				t.Fatalf("CAR roots %v, want the request's CID %s", roots, fx.pinned)
			}
			want := reachable(t, fx.st, tt.target)
			for _, c := range tt.onPath {
				want[string(c.Hash())] = true
			}
			seen := map[string]bool{}
			for {
				c, data, err := cr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				stored, err := fx.st.Get(ctx, c)
				if err != nil || !bytes.Equal(stored, data) {
					t.Fatalf("block %s of the CAR differs from the store's: %v", c, err)
				}
				if !want[string(c.Hash())] || seen[string(c.Hash())] {
					t.Fatalf("CAR block %s is not in the DAG or comes twice", c)
				}
				seen[string(c.Hash())] = true
			}
			if len(seen) != len(want) {
				t.Fatalf("CAR holds %d blocks, the DAG %d", len(seen), len(want))
			}
		})
	}
}

// TestPublic checks the handler for callers without the token serves
// pinned content and refuses, as absent, content no pin reaches.
func TestPublic(t *testing.T) {
	fx := openFixture(t)
	pub := New(Public{Local: Local{Store: fx.st}, Policy: &swarm.PinPolicy{Store: fx.st}}, Options{})
	srv := httptest.NewServer(pub)
	defer srv.Close()
	tests := []struct {
		name, path, query string
		status            int
		body              []byte
	}{
		{"pinned file", "/ipfs/" + fx.pinned.String() + "/docs/hello.txt", "", 200, []byte("hello world\n")},
		{"pinned file by CID", "/ipfs/" + resolve(t, fx.st, fx.pinned, "docs/big.bin").String(), "", 200, fx.files["docs/big.bin"]},
		{"pinned listing", "/ipfs/" + fx.pinned.String() + "/docs/", "", 200, nil},
		{"pinned CAR", "/ipfs/" + fx.pinned.String(), "format=car", 200, nil},
		{"unpinned root", "/ipfs/" + fx.unpinned.String() + "/", "", 404, nil},
		{"unpinned path", "/ipfs/" + fx.unpinned.String() + "/secret.txt", "", 404, nil},
		{"unpinned file by CID", "/ipfs/" + fx.privFile.String(), "", 404, nil},
		{"unpinned raw", "/ipfs/" + fx.privFile.String(), "format=raw", 404, nil},
		{"unpinned CAR", "/ipfs/" + fx.unpinned.String(), "format=car", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, srv, "GET", tt.path, tt.query, nil)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			if tt.body != nil && !bytes.Equal(got.body, tt.body) {
				t.Fatalf("body differs")
			}
			if tt.status == 404 && bytes.Contains(got.body, []byte("private folder content")) {
				t.Fatal("refusal leaks the content")
			}
		})
	}
	// The same store through the token handler serves the unpinned tree.
	priv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer priv.Close()
	if got := get(t, priv, "GET", "/ipfs/"+fx.unpinned.String()+"/secret.txt", "", nil); got.status != 200 {
		t.Fatalf("token handler: status %d", got.status)
	}
}

// fetchSource is a Source whose fetches never succeed: Need fails with
// err, or, when err is nil, waits until the request's deadline, as a
// fetch from peers that do not have the content does.
type fetchSource struct {
	Local
	err error
}

func (f fetchSource) Need(ctx context.Context, c cid.Cid, whole bool) error {
	if err := f.Local.Need(ctx, c, whole); err == nil {
		return nil
	}
	if f.err != nil {
		return f.err
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestFetchFailures checks a fetch that fails answers 502 and one that
// runs out of time answers 504, for every response format.
func TestFetchFailures(t *testing.T) {
	fx := openFixture(t)
	absent := "/ipfs/" + unixfs.RawCIDOf([]byte("on no peer")).String()
	sources := []struct {
		name   string
		src    Source
		status int
	}{
		{"failed", fetchSource{Local: Local{Store: fx.st}, err: errors.New("every peer said don't-have")}, 502},
		{"timed out", fetchSource{Local: Local{Store: fx.st}}, 504},
		{"not found", Local{Store: fx.st}, 404},
	}
	for _, s := range sources {
		srv := httptest.NewServer(New(s.src, Options{Timeout: 50 * time.Millisecond, WholeTimeout: 60 * time.Millisecond}))
		for _, q := range []string{"", "format=raw", "format=car"} {
			for _, p := range []string{absent, "/ipfs/" + fx.pinned.String() + "/docs/hello.txt"} {
				want := s.status
				if p != absent {
					want = 200
				}
				t.Run(s.name+"/"+q+p, func(t *testing.T) {
					if got := get(t, srv, "GET", p, q, nil); got.status != want {
						t.Fatalf("status %d, want %d: %s", got.status, want, got.body)
					}
				})
			}
		}
		srv.Close()
	}
}

// TestStatusOf pins the mapping of errors that the HTTP tests cannot
// produce from a healthy store.
func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{unixfs.ErrHAMT, 501},
		{unixfs.ErrCodec, 501},
		{store.ErrUnsupportedCid, 501},
		{unixfs.ErrDecode, 502},
		{unixfs.ErrInconsistent, 502},
		{errUnsupportedCID, 400},
		{errNotAcceptable, 406},
		{errNotCached, 412},
		{store.ErrRefChanged, 500},
		{errors.New("disk on fire"), 500},
	}
	for _, tt := range tests {
		if got := statusOf(errors.Join(errors.New("ctx"), tt.err)); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.err, got, tt.want)
		}
	}
}

// countingSource counts the blocks read through it.
type countingSource struct {
	Local
	mu   sync.Mutex
	gets int
}

func (s *countingSource) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Local.Get(ctx, c)
}

// TestRangeReadsFewBlocks checks a small range of a 400-leaf file reads a
// handful of blocks (the path down the tree, the leaf, and the first leaf
// for sniffing the type), not the file.
func TestRangeReadsFewBlocks(t *testing.T) {
	fx := openFixture(t)
	src := &countingSource{Local: Local{Store: fx.st}}
	srv := httptest.NewServer(New(src, Options{}))
	defer srv.Close()
	big := fx.files["docs/big.bin"]
	got := get(t, srv, "GET", "/ipfs/"+fx.pinned.String()+"/docs/big.bin", "", map[string]string{"Range": "bytes=300500-300600"})
	if got.status != 206 || !bytes.Equal(got.body, big[300500:300601]) {
		t.Fatalf("status %d, %d bytes", got.status, len(got.body))
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.gets > 12 {
		t.Fatalf("a 101-byte range read %d blocks", src.gets)
	}
	t.Logf("a 101-byte range of a 400-leaf file read %d blocks", src.gets)
}

// streamSource is a Local that is a Streamer, counting its streams; its
// stream's getter counts the blocks read through it.
type streamSource struct {
	Local
	mu              sync.Mutex
	streams, viaGet int
}

func (s *streamSource) Stream(ctx context.Context, c cid.Cid) (unixfs.Getter, error) {
	s.mu.Lock()
	s.streams++
	s.mu.Unlock()
	return getterFunc(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		s.mu.Lock()
		s.viaGet++
		s.mu.Unlock()
		return s.Local.Get(ctx, c)
	}), nil
}

type getterFunc func(ctx context.Context, c cid.Cid) ([]byte, error)

func (f getterFunc) Get(ctx context.Context, c cid.Cid) ([]byte, error) { return f(ctx, c) }

// TestStreamer: a whole GET of a file or a CAR reads through a Streamer's
// stream; a range or a HEAD does not start one (a range fetches only its
// own blocks).
func TestStreamer(t *testing.T) {
	fx := openFixture(t)
	big := fx.files["docs/big.bin"]
	p := "/ipfs/" + fx.pinned.String() + "/docs/big.bin"
	tests := []struct {
		name    string
		method  string
		q       string
		hdr     map[string]string
		status  int
		streams int
	}{
		{"whole GET", "GET", "", nil, 200, 1},
		{"CAR", "GET", "format=car", nil, 200, 1},
		{"range", "GET", "", map[string]string{"Range": "bytes=10-20"}, 206, 0},
		{"HEAD", "HEAD", "", nil, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &streamSource{Local: Local{Store: fx.st}}
			srv := httptest.NewServer(New(src, Options{}))
			defer srv.Close()
			got := get(t, srv, tc.method, p, tc.q, tc.hdr)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d", got.status, tc.status)
			}
			if tc.name == "whole GET" && !bytes.Equal(got.body, big) {
				t.Fatalf("%d bytes differ from the file's %d", len(got.body), len(big))
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			if src.streams != tc.streams || (tc.streams > 0 && src.viaGet == 0) {
				t.Fatalf("%d streams, %d blocks read through them; want %d streams", src.streams, src.viaGet, tc.streams)
			}
		})
	}
}
