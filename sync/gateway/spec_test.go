package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
)

// specFixture is a tree made by the project's importer for the cases of
// the Trustless and Path Gateway specs: a file of 170 leaves, a file of
// one leaf repeated, a HAMT-sharded directory, and a symlink.
type specFixture struct {
	st                        store.Store
	root, docs, big, rep      cid.Cid
	shard, shardFile, symlink cid.Cid
	linkDir                   cid.Cid // a directory holding the symlink "link"
	shardName                 string  // an entry of shard/
	bigData                   []byte
}

const symlinkTarget = "../docs/hello.txt"

func openSpecFixture(t *testing.T) *specFixture {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fx := &specFixture{st: st, bigData: randBytes(170_000, 1)}
	files := map[string][]byte{
		"docs/big.bin":   fx.bigData,
		"docs/rep.bin":   bytes.Repeat(randBytes(1000, 3), 5),
		"docs/hello.txt": []byte("hello world\n"),
	}
	// 950 names of 250 bytes pass kubo's 256 KiB estimate: a HAMT.
	for i := range 950 {
		files[fmt.Sprintf("shard/%04d-%s", i, strings.Repeat("s", 245))] = []byte(fmt.Sprint(i))
	}
	dir := filepath.Join(t.TempDir(), "root")
	writeTree(t, dir, files)
	cfg, _ := chunker.Parse("size-1000")
	ctx := context.Background()
	roots, err := dag.Add(ctx, st, []string{dir}, dag.AddOptions{Chunker: cfg, Pin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.root = roots[0]
	r := func(p string) cid.Cid {
		c, err := unixfs.Resolve(ctx, st, fx.root, p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fx.docs, fx.big, fx.rep, fx.shard = r("docs"), r("docs/big.bin"), r("docs/rep.bin"), r("shard")
	fx.shardName = fmt.Sprintf("%04d-%s", 777, strings.Repeat("s", 245))
	fx.shardFile = r("shard/" + fx.shardName)

	// shoal add skips symlinks; build one as kubo would store it.
	link := (&unixfs.Node{FS: &unixfs.FSData{Type: unixfs.TSymlink, Data: []byte(symlinkTarget)}}).Block()
	ld, err := unixfs.NewDirectory([]unixfs.DirEntry{{Name: "link", Cid: link.Cid, Tsize: uint64(len(link.Data))}})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch(ctx)
	for _, blk := range []unixfs.Block{link, ld} {
		if err := b.Put(blk.Cid, blk.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	fx.symlink, fx.linkDir = link.Cid, ld.Cid
	return fx
}

// carBlocks reads a CAR response, checking every block against its CID,
// and returns its roots and its blocks in order.
func carBlocks(t *testing.T, body []byte) ([]cid.Cid, []cid.Cid, map[cid.Cid][]byte) {
	t.Helper()
	cr, err := car.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var order []cid.Cid
	blocks := map[cid.Cid][]byte{}
	for {
		c, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, c)
		blocks[c] = data
	}
	return cr.Roots(), order, blocks
}

type mapGetter map[cid.Cid][]byte

func (m mapGetter) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	if d, ok := m[c]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
}

// leaves returns big.bin's leaves, in file order.
func (fx *specFixture) leaves(t *testing.T, c cid.Cid) []cid.Cid {
	t.Helper()
	data, err := fx.st.Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		t.Fatal(err)
	}
	var out []cid.Cid
	for _, l := range n.Links {
		out = append(out, l.Cid)
	}
	return out
}

// TestTrustlessCAR runs the Trustless Gateway spec's CAR cases: each
// dag-scope, entity-bytes ranges of every form, pathing (every path block
// comes first), and dups.
func TestTrustlessCAR(t *testing.T) {
	fx := openSpecFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	ctx := context.Background()
	leaves := fx.leaves(t, fx.big)
	if len(leaves) != 170 {
		t.Fatalf("big.bin has %d leaves, want 170", len(leaves))
	}
	bigPath := "/ipfs/" + fx.root.String() + "/docs/big.bin"
	onPath := []cid.Cid{fx.root, fx.docs}
	withPath := func(cs ...cid.Cid) []cid.Cid { return append(slices.Clone(onPath), cs...) }
	all := func(c cid.Cid) []cid.Cid {
		var out []cid.Cid
		if err := unixfs.Walk(ctx, fx.st, c, func(c cid.Cid, _ []byte) error { out = append(out, c); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var shards []cid.Cid
	if err := unixfs.EachEntry(ctx, fx.st, fx.shard, func(c cid.Cid, _ []byte) error { shards = append(shards, c); return nil }, func(unixfs.Link) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(shards) < 2 {
		t.Fatalf("shard/ has %d shard blocks, want a HAMT with sub-shards", len(shards))
	}
	for _, tt := range []struct {
		name, path, query string
		want              []cid.Cid // the CAR's blocks, in order
	}{
		{"block scope", bigPath, "dag-scope=block", withPath(fx.big)},
		{"entity scope of a file", bigPath, "dag-scope=entity", withPath(all(fx.big)...)},
		{"all scope by default", bigPath, "", withPath(all(fx.big)...)},
		{"entity scope of a directory", "/ipfs/" + fx.root.String() + "/docs", "dag-scope=entity", []cid.Cid{fx.root, fx.docs}},
		{"entity scope of a HAMT: its shards only", "/ipfs/" + fx.root.String() + "/shard", "dag-scope=entity", append([]cid.Cid{fx.root}, shards...)},
		{"range inside", bigPath, "entity-bytes=1500:2500", withPath(fx.big, leaves[1], leaves[2])},
		{"range to the end", bigPath, "entity-bytes=169000:*", withPath(fx.big, leaves[169])},
		{"negative from", bigPath, "entity-bytes=-1000:*", withPath(fx.big, leaves[169])},
		{"negative to", bigPath, "entity-bytes=0:-169001", withPath(fx.big, leaves[0])},
		{"range larger than the file", bigPath, "entity-bytes=168999:999999999", withPath(fx.big, leaves[168], leaves[169])},
		{"negative from past the start", bigPath, "entity-bytes=-999999999:10", withPath(fx.big, leaves[0])},
		{"zero-length range: the root alone", bigPath, "entity-bytes=10:-169995", withPath(fx.big)},
		{"entity-bytes on a directory is ignored", "/ipfs/" + fx.root.String() + "/docs", "entity-bytes=0:10", []cid.Cid{fx.root, fx.docs}},
		{"dups=n sends a repeated leaf once", "/ipfs/" + fx.rep.String(), "car-dups=n", all(fx.rep)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, srv, "GET", tt.path, "format=car&"+tt.query, nil)
			if got.status != 200 {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			roots, order, _ := carBlocks(t, got.body)
			if len(roots) != 1 || !roots[0].Equals(fx.root) && !strings.HasPrefix(tt.path, "/ipfs/"+roots[0].String()) {
				t.Fatalf("roots %v", roots)
			}
			if !slices.EqualFunc(order, tt.want, cid.Cid.Equals) {
				t.Fatalf("CAR holds %d blocks %v\nwant %d %v", len(order), order, len(tt.want), tt.want)
			}
		})
	}

	t.Run("dups=y sends a repeated leaf each time", func(t *testing.T) {
		got := get(t, srv, "GET", "/ipfs/"+fx.rep.String(), "", map[string]string{"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=y"})
		if ct := got.header.Get("Content-Type"); ct != "application/vnd.ipld.car; version=1; order=dfs; dups=y" {
			t.Fatalf("Content-Type %q", ct)
		}
		_, order, _ := carBlocks(t, got.body)
		if len(order) != 1+5 {
			t.Fatalf("dups=y CAR has %d blocks, want the root and the leaf 5 times", len(order))
		}
	})

	t.Run("a CAR through a HAMT verifies the path from its blocks alone", func(t *testing.T) {
		p := "/ipfs/" + fx.root.String() + "/shard/" + fx.shardName
		got := get(t, srv, "GET", p, "format=car&dag-scope=block", nil)
		_, order, blocks := carBlocks(t, got.body)
		c, err := unixfs.Resolve(ctx, mapGetter(blocks), fx.root, "shard/"+fx.shardName)
		if err != nil || !c.Equals(fx.shardFile) {
			t.Fatalf("resolve through the CAR's %d blocks: %s, %v", len(order), c, err)
		}
		if len(order) < 4 || !order[len(order)-1].Equals(fx.shardFile) {
			t.Fatalf("CAR blocks %v: want root, the shards on the way, then the file", order)
		}
		if roots := got.header.Get("X-Ipfs-Roots"); roots != fx.root.String()+","+fx.shard.String()+","+fx.shardFile.String() {
			t.Fatalf("X-Ipfs-Roots %q", roots)
		}
	})

	t.Run("a block missing outside the range is no error", func(t *testing.T) {
		hidden := hidingStore{Store: fx.st, hide: leaves[100]}
		srv := httptest.NewServer(New(Local{Store: hidden}, Options{}))
		defer srv.Close()
		got := get(t, srv, "GET", bigPath, "format=car&entity-bytes=0:999", nil)
		_, order, _ := carBlocks(t, got.body)
		if got.status != 200 || !slices.EqualFunc(order, withPath(fx.big, leaves[0]), cid.Cid.Equals) {
			t.Fatalf("status %d, blocks %v", got.status, order)
		}
		if got := get(t, srv, "GET", bigPath, "format=car", nil); got.status != 404 {
			t.Fatalf("whole CAR with a block this non-recursive gateway lacks: status %d, want 404", got.status)
		}
	})

	for _, tt := range []struct {
		name, query string
		hdr         map[string]string
		status      int
	}{
		{"bad dag-scope", "format=car&dag-scope=some", nil, 400},
		{"entity-bytes not a range", "format=car&entity-bytes=12", nil, 400},
		{"entity-bytes not numbers", "format=car&entity-bytes=a:b", nil, 400},
		{"entity-bytes ending before it starts", "format=car&entity-bytes=9:3", nil, 400},
		{"entity-bytes with dag-scope=all", "format=car&dag-scope=all&entity-bytes=0:1", nil, 400},
		{"entity-bytes wholly past the end", "format=car&entity-bytes=170000:*", nil, 400},
		{"CAR version 2", "", map[string]string{"Accept": "application/vnd.ipld.car; version=2"}, 406},
		{"unknown order", "", map[string]string{"Accept": "application/vnd.ipld.car; order=foo"}, 406},
		{"car-version=2 in the query", "format=car&car-version=2", nil, 406},
		{"dag-json response", "", map[string]string{"Accept": "application/vnd.ipld.dag-json"}, 406},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, srv, "GET", bigPath, tt.query, tt.hdr); got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
		})
	}
}

// hidingStore is a store that has lost one block.
type hidingStore struct {
	store.Store
	hide cid.Cid
}

func (h hidingStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c.Equals(h.hide) {
		return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	}
	return h.Store.Get(ctx, c)
}

func (h hidingStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if c.Equals(h.hide) {
		return false, nil
	}
	return h.Store.Has(ctx, c)
}

// TestTrustlessHeaders checks the headers the specs require on block and
// CAR responses, caching by ETag, and HEAD equal to GET without a body.
func TestTrustlessHeaders(t *testing.T) {
	fx := openSpecFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	bigPath := "/ipfs/" + fx.root.String() + "/docs/big.bin"
	roots := strings.Join([]string{fx.root.String(), fx.docs.String(), fx.big.String()}, ",")
	for _, tt := range []struct {
		name, path, query string
		hdr               map[string]string
		want              map[string]string
	}{
		{"raw by query", "/ipfs/" + fx.big.String(), "format=raw", nil, map[string]string{
			"Content-Type": "application/vnd.ipld.raw", "X-Content-Type-Options": "nosniff",
			"Content-Disposition": `attachment; filename="` + fx.big.String() + `.bin"`,
			"Etag":                `"` + fx.big.String() + `.raw"`, "Cache-Control": CacheControl,
			"Vary": "Accept", "X-Ipfs-Roots": fx.big.String(), "Access-Control-Allow-Origin": "*",
		}},
		{"raw by Accept", "/ipfs/" + fx.big.String(), "", map[string]string{"Accept": "application/vnd.ipld.raw"}, map[string]string{
			"Content-Type": "application/vnd.ipld.raw", "Content-Location": "/ipfs/" + fx.big.String() + "?format=raw",
		}},
		{"car of a path", bigPath, "format=car", nil, map[string]string{
			"Content-Type": "application/vnd.ipld.car; version=1; order=dfs; dups=n", "X-Content-Type-Options": "nosniff",
			"Content-Disposition": `attachment; filename="` + fx.big.String() + `.car"`,
			"X-Ipfs-Path":         bigPath, "X-Ipfs-Roots": roots, "Cache-Control": CacheControl, "Vary": "Accept",
			"Accept-Ranges": "none",
		}},
		{"car with ?filename=", bigPath, "format=car&filename=mine.car", nil, map[string]string{
			"Content-Disposition": `attachment; filename="mine.car"`,
		}},
		{"format wins over Accept", "/ipfs/" + fx.big.String(), "format=raw", map[string]string{"Accept": "application/vnd.ipld.car"}, map[string]string{
			"Content-Type": "application/vnd.ipld.raw",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, srv, "GET", tt.path, tt.query, tt.hdr)
			if got.status != 200 {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			for k, v := range tt.want {
				if g := got.header.Get(k); g != v {
					t.Errorf("%s: %q, want %q", k, g, v)
				}
			}
			head := get(t, srv, "HEAD", tt.path, tt.query, tt.hdr)
			if head.status != 200 || len(head.body) != 0 {
				t.Fatalf("HEAD: status %d, %d body bytes", head.status, len(head.body))
			}
			for _, k := range []string{"Content-Type", "Etag", "Content-Disposition", "X-Ipfs-Roots", "Cache-Control"} {
				if head.header.Get(k) != got.header.Get(k) {
					t.Errorf("HEAD %s: %q, GET %q", k, head.header.Get(k), got.header.Get(k))
				}
			}
			etag := got.header.Get("Etag")
			hdr := map[string]string{"If-None-Match": etag}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if again := get(t, srv, "GET", tt.path, tt.query, hdr); again.status != 304 || len(again.body) != 0 {
				t.Fatalf("If-None-Match %s: status %d, want 304", etag, again.status)
			}
		})
	}
	t.Run("each CAR shape has its own ETag", func(t *testing.T) {
		tags := map[string]string{}
		for _, q := range []string{"format=car", "format=car&dag-scope=block", "format=car&dag-scope=entity", "format=car&entity-bytes=0:10", "format=car&car-dups=y"} {
			tag := get(t, srv, "HEAD", bigPath, q, nil).header.Get("Etag")
			if prev, dup := tags[tag]; dup {
				t.Fatalf("%s and %s share ETag %s", prev, q, tag)
			}
			tags[tag] = q
		}
	})
	t.Run("probe bafkqaaa", func(t *testing.T) {
		raw := get(t, srv, "GET", "/ipfs/bafkqaaa", "format=raw", nil)
		if raw.status != 200 || len(raw.body) != 0 {
			t.Fatalf("raw probe: status %d, %d bytes", raw.status, len(raw.body))
		}
		c := get(t, srv, "GET", "/ipfs/bafkqaaa", "format=car", nil)
		rs, order, _ := carBlocks(t, c.body)
		if c.status != 200 || len(rs) != 1 || rs[0].String() != "bafkqaaa" || len(order) != 0 {
			t.Fatalf("CAR probe: status %d, roots %v, blocks %v", c.status, rs, order)
		}
	})
}

// TestPathGatewaySpec covers the Path Gateway cases beyond files: HAMT
// directories, symlinks, only-if-cached, CORS and unsupported CIDs.
func TestPathGatewaySpec(t *testing.T) {
	fx := openSpecFixture(t)
	srv := httptest.NewServer(New(Local{Store: fx.st}, Options{}))
	defer srv.Close()
	absent := unixfs.RawCIDOf([]byte("nobody has this"))
	for _, tt := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		header             map[string]string
		body               string // a substring of the body
	}{
		{name: "HAMT listing", method: "GET", path: "/ipfs/" + fx.root.String() + "/shard/", status: 200, body: fx.shardName},
		{name: "file through a HAMT", method: "GET", path: "/ipfs/" + fx.root.String() + "/shard/" + fx.shardName, status: 200, body: "777"},
		{name: "HAMT listing revalidated", method: "GET", path: "/ipfs/" + fx.root.String() + "/shard/", hdr: map[string]string{"If-None-Match": listingETag(fx.shard)}, status: 304},
		{name: "missing name in a HAMT", method: "GET", path: "/ipfs/" + fx.root.String() + "/shard/nope", status: 404},
		{name: "HAMT without slash redirects", method: "GET", path: "/ipfs/" + fx.root.String() + "/shard", status: 301},
		{name: "symlink", method: "GET", path: "/ipfs/" + fx.linkDir.String() + "/link", status: 200,
			header: map[string]string{"Content-Type": "inode/symlink", "Etag": `"` + fx.symlink.String() + `"`}, body: symlinkTarget},
		{name: "only-if-cached, held", method: "GET", path: "/ipfs/" + fx.big.String(), hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 200},
		{name: "only-if-cached, HEAD held", method: "HEAD", path: "/ipfs/" + fx.big.String(), hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 200},
		{name: "only-if-cached, absent", method: "GET", path: "/ipfs/" + absent.String(), hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 412},
		{name: "only-if-cached, HEAD absent", method: "HEAD", path: "/ipfs/" + absent.String(), hdr: map[string]string{"Cache-Control": "max-age=0, only-if-cached"}, status: 412},
		{name: "absent without only-if-cached", method: "GET", path: "/ipfs/" + absent.String(), status: 404,
			header: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "OPTIONS preflight", method: "OPTIONS", path: "/ipfs/" + fx.big.String(), hdr: map[string]string{"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}, status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"}},
		{name: "CORS exposes the IPFS headers", method: "GET", path: "/ipfs/" + fx.big.String(), status: 200},
		{name: "dag-cbor CID", method: "GET", path: "/ipfs/bafyreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe", status: 400, body: "dag-cbor (0x71)"},
		{name: "dag-json CID as CAR", method: "GET", path: "/ipfs/baguqeerafvyrmqvxe2yeialcpsu7xlbs6xefgd5rsa6mjwycewdrpeq2jcaq?format=car", status: 400, body: "dag-json (0x129)"},
		{name: "sha2-512 CID as raw", method: "GET", path: "/ipfs/bafkrgqfevpkejdcjkywyfaiv2e5b7thksj7vfngviwjjp6fuhzbnvcjdrpatmjxehxftrxnqqjeisj7msbh3iicxiq4yh2efqulz2ucvdl7ge", status: 400, body: "sha2-512"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, q, _ := strings.Cut(tt.path, "?")
			got := get(t, srv, tt.method, p, q, tt.hdr)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.body)
			}
			for k, v := range tt.header {
				if g := got.header.Get(k); g != v {
					t.Errorf("%s: %q, want %q", k, g, v)
				}
			}
			if tt.body != "" && !strings.Contains(string(got.body), tt.body) {
				t.Errorf("body %.300q lacks %q", got.body, tt.body)
			}
			if got.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on a %d", got.status)
			}
			if exp := got.header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "X-Ipfs-Roots") || !strings.Contains(exp, "Content-Range") {
				t.Errorf("Access-Control-Expose-Headers %q", exp)
			}
		})
	}
}

var _ http.Handler = (*Handler)(nil)
