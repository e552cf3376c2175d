package pull

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// dagFetcher hands over a file's DAG parents first, as a fetch does; with
// failAfter > 0 it fails once that many leaves went.
type dagFetcher struct {
	blocks    map[cid.Cid][]byte
	failAfter int
}

var errPeerGone = errors.New("peer gone")

func (d dagFetcher) Fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error {
	queue, leaves := []cid.Cid{root}, 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c.Type() == unixfs.CodecRaw {
			if leaves++; d.failAfter > 0 && leaves > d.failAfter {
				return errPeerGone
			}
		}
		if err := sink.Put(ctx, c, d.blocks[c]); err != nil {
			return err
		}
		kids, err := unixfs.Links(c, d.blocks[c])
		if err != nil {
			return err
		}
		queue = append(queue, kids...)
	}
	return nil
}

// TestPullBigFileWriteback pulls a file large enough that its pages are
// sent to disk while it arrives: the bytes in place are the file's, and a
// pull that fails half-way stops the writeback and leaves no target.
func TestPullBigFileWriteback(t *testing.T) {
	const size = 2*writebackEvery + 12345
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	blocks := map[cid.Cid][]byte{}
	fb := unixfs.NewFileBuilder(func(b unixfs.Block) error { blocks[b.Cid] = b.Data; return nil })
	for off := 0; off < size; off += 256 << 10 {
		leaf := data[off:min(off+256<<10, size)]
		c := unixfs.RawCIDOf(leaf)
		blocks[c] = leaf
		if err := fb.Add(c, uint64(len(leaf))); err != nil {
			t.Fatal(err)
		}
	}
	froot, _, err := fb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	rec := &index.Record{Path: "big.bin", Type: index.TypeFile, Size: size, Mode: 0o644,
		ModTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano(), Root: froot.Bytes(), Version: index.Vector{{ID: 1, Value: 1}}}
	for _, tt := range []struct {
		name      string
		failAfter int
	}{{name: "whole"}, {name: "peer gone half-way", failAfter: 100}} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			root := t.TempDir()
			opt := Options{Root: root, Store: st, Fetch: dagFetcher{blocks: blocks, failAfter: tt.failAfter}, Device: "TEST"}
			res, err := Apply(t.Context(), opt, rec, nil)
			got, rerr := os.ReadFile(filepath.Join(root, "big.bin"))
			if tt.failAfter > 0 {
				if !errors.Is(err, errPeerGone) {
					t.Fatalf("Apply: %v, want %v", err, errPeerGone)
				}
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Fatalf("a failed pull left the target: %v", rerr)
				}
				return
			}
			if err != nil || res == nil || res.Local == nil {
				t.Fatalf("Apply: %+v, %v", res, err)
			}
			if rerr != nil || !bytes.Equal(got, data) {
				t.Fatalf("the file in place differs (%d bytes, %v)", len(got), rerr)
			}
		})
	}
}
