package unixfs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/text/unicode/norm"
)

const vectorsDir = "../../testdata/vectors"

const chunk = 262144

// memStore is an in-memory Getter that verifies every block's sha2-256
// against its CID, as a real store does.
type memStore struct {
	mu     sync.Mutex
	blocks map[string][]byte
	gets   int
}

func newMemStore() *memStore { return &memStore{blocks: map[string][]byte{}} }

func (m *memStore) put(c cid.Cid, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[c.KeyString()] = data
}

func (m *memStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	m.mu.Lock()
	data, ok := m.blocks[c.KeyString()]
	m.gets++
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("block %s not found", c)
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if dec.Code != mh.SHA2_256 || string(dec.Digest) != string(sum[:]) {
		return nil, fmt.Errorf("block %s: hash mismatch", c)
	}
	return data, nil
}

// addFile cuts data into fixed 262144-byte chunks, stores leaves and nodes
// in m and returns the root CID and cumulative size.
func addFile(t testing.TB, m *memStore, data []byte) (cid.Cid, uint64) {
	t.Helper()
	b := NewFileBuilder(func(blk Block) error {
		if got := NodeCID(blk.Data); !got.Equals(blk.Cid) {
			t.Fatalf("emitted block CID %s, hash says %s", blk.Cid, got)
		}
		m.put(blk.Cid, blk.Data)
		return nil
	})
	for off := 0; off < len(data); off += chunk {
		leaf := data[off:min(off+chunk, len(data))]
		c := RawCID(sha256.Sum256(leaf))
		m.put(c, leaf)
		if err := b.Add(c, uint64(len(leaf))); err != nil {
			t.Fatal(err)
		}
	}
	root, tsize, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		m.put(root, []byte{})
	}
	return root, tsize
}

// addTree adds the directory at dir bottom-up like `ipfs add -r` and
// returns its CID and cumulative size.
func addTree(t testing.TB, m *memStore, dir string) (cid.Cid, uint64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var des []DirEntry
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var c cid.Cid
		var ts uint64
		if e.IsDir() {
			c, ts = addTree(t, m, p)
		} else {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			c, ts = addFile(t, m, data)
		}
		des = append(des, DirEntry{Name: norm.NFC.String(e.Name()), Cid: c, Tsize: ts})
	}
	blk, err := NewDirectory(des)
	if err != nil {
		t.Fatal(err)
	}
	m.put(blk.Cid, blk.Data)
	ts, err := DirTsize(blk)
	if err != nil {
		t.Fatal(err)
	}
	return blk.Cid, ts
}

func patterned(n, mod int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % mod)
	}
	return b
}
