package dag_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bsrv "github.com/ipfs/boxo/blockservice"
	blockstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	merkledag "github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
)

// hamtCase is a directory of small files: count names of nameLen bytes,
// plus one name of lastLen bytes when lastLen > 0. Each entry adds its
// name's length plus 36 (a raw CIDv1) to kubo's size estimate.
type hamtCase struct {
	name             string
	count, nameLen   int
	lastLen          int
	want             string // the CID kubo (boxo v0.35.2) gives it
	sharded          bool
	subdirWithHAMTIn bool
}

// The CIDs were computed by boxo v0.35.2's unixfs/io Directory (what
// `ipfs add --cid-version=1 --raw-leaves -r --chunker=size-262144` uses),
// by TestHAMTMatchesBoxo below, which checks them again on every run.
var hamtCases = []hamtCase{
	// 4095 × (28+36) + (27+36) = 262143: one byte below the threshold.
	{name: "below", count: 4095, nameLen: 28, lastLen: 27, want: "bafybeidat4c6xnj7bmm2w333fhmhljgmfuax3esqyfzlicen2s4jiffcce"},
	// 4096 × 64 = 262144: exactly at the threshold, so sharded.
	{name: "at", count: 4096, nameLen: 28, want: "bafybeiennuc7iafcuxd4qsds7ghwyynod7bh3qi7tpyfsoen6l6t6vqfgi", sharded: true},
	{name: "several-thousand", count: 6000, nameLen: 12, want: "bafybeihlhz6mthwwgpkpmw7ialt7qkokoz5pwius4klbafaxla2qbth4ui", sharded: true},
	{name: "nested", count: 3000, nameLen: 80, want: "bafybeiheqyyqoiodxxxo5zu3alkv5j2jbx4m5cl27bvatptvvmnrticeqe", sharded: false, subdirWithHAMTIn: true},
}

// fileName returns the i-th name of a case, n bytes long.
func fileName(i, n int) string {
	s := fmt.Sprintf("f%06d-", i)
	return s + strings.Repeat("x", n-len(s))
}

// makeFiles returns the names and contents of a case's files.
func makeFiles(hc hamtCase) map[string][]byte {
	files := map[string][]byte{}
	for i := range hc.count {
		files[fileName(i, hc.nameLen)] = []byte(fmt.Sprintf("content %d\n", i))
	}
	if hc.lastLen > 0 {
		files[fileName(hc.count, hc.lastLen)] = []byte("last\n")
	}
	return files
}

// writeFiles writes files into dir.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// boxoDir builds the same directory with boxo, as kubo's add does: raw
// leaves, CIDv1, one AddChild per entry in name order.
func boxoDir(t *testing.T, dserv ipld.DAGService, files map[string][]byte) ipld.Node {
	t.Helper()
	ctx := context.Background()
	dir, err := uio.NewDirectory(dserv)
	if err != nil {
		t.Fatal(err)
	}
	dir.SetCidBuilder(merkledag.V1CidPrefix())
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		leaf := merkledag.NewRawNode(files[n])
		if err := dserv.Add(ctx, leaf); err != nil {
			t.Fatal(err)
		}
		if err := dir.AddChild(ctx, n, leaf); err != nil {
			t.Fatal(err)
		}
	}
	nd, err := dir.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := dserv.Add(ctx, nd); err != nil {
		t.Fatal(err)
	}
	return nd
}

// TestHAMTMatchesBoxo adds directories just below and at kubo's sharding
// threshold, one of several thousand files, and one holding a sharded
// subdirectory, with shoal's add, and checks each CID against boxo's and
// the pinned constant; then it exports shoal's DAG as a CAR, loads every
// block into a boxo blockstore and lists the directory with boxo.
func TestHAMTMatchesBoxo(t *testing.T) {
	ctx := context.Background()
	for _, hc := range hamtCases {
		t.Run(hc.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), hc.name)
			dirPath := top
			if hc.subdirWithHAMTIn {
				dirPath = filepath.Join(top, "big")
			}
			files := makeFiles(hc)
			if hc.subdirWithHAMTIn {
				writeFiles(t, dirPath, files)
			}
			dserv := newBoxoDAG()
			want := boxoDir(t, dserv, files)
			if hc.subdirWithHAMTIn {
				if err := os.WriteFile(filepath.Join(top, "readme.txt"), []byte("hello\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				outer, err := uio.NewDirectory(dserv)
				if err != nil {
					t.Fatal(err)
				}
				outer.SetCidBuilder(merkledag.V1CidPrefix())
				if err := outer.AddChild(ctx, "big", want); err != nil {
					t.Fatal(err)
				}
				readme := merkledag.NewRawNode([]byte("hello\n"))
				if err := outer.AddChild(ctx, "readme.txt", readme); err != nil {
					t.Fatal(err)
				}
				if want, err = outer.GetNode(); err != nil {
					t.Fatal(err)
				}
			}
			if want.Cid().String() != hc.want {
				t.Errorf("boxo gives %s, the pinned CID is %s", want.Cid(), hc.want)
			}
			// The nested case goes through a real add of files on disk;
			// the others build the directory from its leaves in memory.
			var s unixfs.Getter
			var got cid.Cid
			if hc.subdirWithHAMTIn {
				bs := openStore(t)
				got, s = addOne(t, bs, top, dag.AddOptions{Chunker: kubo(t)}), bs
			} else {
				got, s = shoalDir(t, files)
			}
			if !got.Equals(want.Cid()) {
				t.Fatalf("shoal gives %s, boxo %s", got, want.Cid())
			}
			info, err := unixfs.Stat(ctx, s, mustResolve(t, s, got, hc))
			if err != nil {
				t.Fatal(err)
			}
			if (info.Type == unixfs.TypeHAMT) != (hc.sharded || hc.subdirWithHAMTIn) {
				t.Fatalf("directory is a %s, want sharded=%v", info.Type, hc.sharded)
			}

			// shoal's CAR, into a fresh boxo blockstore, read by boxo.
			var buf bytes.Buffer
			if err := dag.Export(ctx, s, got, &buf); err != nil {
				t.Fatal(err)
			}
			fresh := newBoxoDAG()
			importIntoBoxo(t, fresh, &buf)
			checkBoxoListing(t, fresh, got, hc, files)
		})
	}
}

// memBlocks is an in-memory unixfs.Getter.
type memBlocks map[cid.Cid][]byte

func (m memBlocks) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	if d, ok := m[c]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("block %s: not found", c)
}

// shoalDir builds the directory of files with unixfs.BuildDirectory, the
// function add uses, over raw leaves held in memory.
func shoalDir(t *testing.T, files map[string][]byte) (cid.Cid, memBlocks) {
	t.Helper()
	m := memBlocks{}
	var ents []unixfs.DirEntry
	for name, data := range files {
		c := unixfs.RawCIDOf(data)
		m[c] = data
		ents = append(ents, unixfs.DirEntry{Name: name, Cid: c, Tsize: uint64(len(data))})
	}
	root, _, err := unixfs.BuildDirectory(ents, func(b unixfs.Block) error {
		m[b.Cid] = b.Data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return root, m
}

func mustResolve(t *testing.T, s unixfs.Getter, root cid.Cid, hc hamtCase) cid.Cid {
	t.Helper()
	if !hc.subdirWithHAMTIn {
		return root
	}
	c, err := unixfs.Resolve(context.Background(), s, root, "big")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newBoxoDAG() ipld.DAGService {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	return merkledag.NewDAGService(bsrv.New(bs, offline.Exchange(bs)))
}

// importIntoBoxo reads a CAR section by section, checks each block's hash
// with go-cid's own prefix sum, and adds it to dserv through boxo's
// decoders.
func importIntoBoxo(t *testing.T, dserv ipld.DAGService, r io.Reader) {
	t.Helper()
	cr, err := car.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		c, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sum, err := c.Prefix().Sum(data)
		if err != nil || !sum.Equals(c) {
			t.Fatalf("block %s does not hash to its CID (%v)", c, err)
		}
		blk, err := blocks.NewBlockWithCid(data, c)
		if err != nil {
			t.Fatal(err)
		}
		decode := merkledag.DecodeProtobufBlock
		if c.Type() == cid.Raw {
			decode = merkledag.DecodeRawBlock
		}
		nd, err := decode(blk)
		if err != nil {
			t.Fatalf("boxo cannot decode %s: %v", c, err)
		}
		if err := dserv.Add(context.Background(), nd); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("empty CAR")
	}
}

// checkBoxoListing lists the directory with boxo, from the blocks of the
// CAR alone, and compares it with the files written.
func checkBoxoListing(t *testing.T, dserv ipld.DAGService, root cid.Cid, hc hamtCase, files map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	nd, err := dserv.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if hc.subdirWithHAMTIn {
		d, err := uio.NewDirectoryFromNode(dserv, nd)
		if err != nil {
			t.Fatal(err)
		}
		if nd, err = d.Find(ctx, "big"); err != nil {
			t.Fatalf("boxo finds no big/: %v", err)
		}
	}
	d, err := uio.NewDirectoryFromNode(dserv, nd)
	if err != nil {
		t.Fatal(err)
	}
	links, err := d.Links(ctx)
	if err != nil {
		t.Fatalf("boxo lists the directory: %v", err)
	}
	if len(links) != len(files) {
		t.Fatalf("boxo lists %d entries, want %d", len(links), len(files))
	}
	for _, l := range links {
		data, ok := files[l.Name]
		if !ok {
			t.Fatalf("boxo lists %q, which was not added", l.Name)
		}
		if want := merkledag.NewRawNode(data).Cid(); !l.Cid.Equals(want) {
			t.Fatalf("%s: CID %s, want %s", l.Name, l.Cid, want)
		}
	}
}
