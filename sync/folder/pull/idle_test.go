package pull

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// latePeer sends a file's one block after a delay (its index records go
// first on the connection), or never; sent is set once it did.
type latePeer struct {
	data  []byte
	after time.Duration // 0: never
	sent  *atomic.Bool
}

func (p latePeer) Fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error {
	if p.after == 0 {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	select {
	case <-time.After(p.after):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	p.sent.Store(true)
	return sink.Put(ctx, root, p.data)
}

// TestIdleWhileIndexArrives: a file waiting for its blocks is not given
// up as stalled while the peers are still sending the index (its blocks
// come behind it); with nothing arriving at all it is, and nothing is
// left on disk.
func TestIdleWhileIndexArrives(t *testing.T) {
	const idle = 200 * time.Millisecond
	tests := []struct {
		name      string
		after     time.Duration // when the block comes; 0: never
		receiving bool          // index records arrive until the block does
		wantErr   error
	}{
		{name: "block behind the index", after: 5 * idle, receiving: true},
		{name: "nothing arrives", wantErr: ErrStalled},
		{name: "block late, nothing else arriving", after: 20 * idle, wantErr: ErrStalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			root := t.TempDir()
			content := []byte("the bytes behind a long index")
			c := unixfs.RawCIDOf(content)
			rec := &index.Record{Path: "late.txt", Type: index.TypeFile, Size: int64(len(content)), Mode: 0o644,
				ModTime: time.Now().UnixNano(), Root: c.Bytes(), Version: index.Vector{{ID: 1, Value: 1}}}
			peer := latePeer{data: content, after: tt.after, sent: new(atomic.Bool)}
			received := func() time.Time {
				if tt.receiving && !peer.sent.Load() {
					return time.Now()
				}
				return time.Time{}
			}
			opt := Options{Root: root, Store: st, Fetch: peer, Device: "TEST", Idle: idle, Received: received}
			_, err = Apply(context.Background(), opt, rec, nil)
			abs := filepath.Join(root, "late.txt")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply: %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Lstat(abs); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a stalled pull left the target: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if b, err := os.ReadFile(abs); err != nil || string(b) != string(content) {
				t.Fatalf("late.txt: %q, %v", b, err)
			}
		})
	}
}
