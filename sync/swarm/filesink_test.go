package swarm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// TestFileSink fetches files into a file at their offsets: random data,
// data whose chunks repeat (the same leaf at many offsets), and a file of
// one raw block.
func TestFileSink(t *testing.T) {
	repeat := make([]byte, 0, 3<<20)
	for i := 0; len(repeat) < 3<<20; i++ {
		repeat = append(repeat, bytes.Repeat([]byte{byte(i % 3)}, 64<<10)...)
	}
	tests := []struct {
		name  string
		data  []byte
		chunk int
	}{
		{"random", randBytes(7, 5<<20+99), 256 << 10},
		{"repeated leaves", repeat, 64 << 10},
		{"one block", randBytes(8, 1000), 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stores := memStores(2)
			root, _, err := putFile(ctx, stores[0], tt.data, tt.chunk)
			if err != nil {
				t.Fatal(err)
			}
			c := newTestCluster(t, stores, serveAll)
			if err := c.connectAll(ctx); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var leafBytes int64
			sink := &FileSink{F: f, OnLeaf: func(_ context.Context, c cid.Cid, off int64, data []byte) error {
				leafBytes += int64(len(data))
				return store.VerifyBlock(c, data)
			}}
			if err := c.nodes[1].swarm.Fetch(ctx, root, sink); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Fatalf("file has %d bytes, differing from the %d fetched", len(got), len(tt.data))
			}
			if sink.Size() != int64(len(tt.data)) || leafBytes != int64(len(tt.data)) {
				t.Errorf("size %d, leaves reported %d bytes; want %d", sink.Size(), leafBytes, len(tt.data))
			}
		})
	}
}
