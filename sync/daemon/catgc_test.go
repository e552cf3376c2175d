package daemon

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/dag"
)

// gatedWriter collects what is written; its first Write tells started and
// then waits for release.
type gatedWriter struct {
	buf     bytes.Buffer
	started chan struct{}
	release chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if w.started != nil {
		close(w.started)
		w.started = nil
		<-w.release
	}
	return w.buf.Write(p)
}

// TestCatSurvivesGC: a cat of content fetched from a peer, held up by its
// reader after the fetch brought every block, survives a garbage
// collection that runs meanwhile: the blocks it has not written out yet
// are not pinned, but the cat keeps them.
func TestCatSurvivesGC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	data, root := addRandom(t, ctx, a, 4<<20, 3)
	be := newBackend(b.Node(), b.Swarm())
	w := &gatedWriter{started: make(chan struct{}), release: make(chan struct{})}
	started := w.started
	done := make(chan error, 1)
	go func() { done <- be.Cat(ctx, root.String(), w) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("cat ended before writing: %v", err)
	}
	// Wait (bounded) until the fetch has brought the whole DAG and ended:
	// its hold on the root is gone, and only the cat's and the stream's
	// remain. (Counting down from an observed peak missed a fetch that
	// ended before the first look.)
	st := b.Node().Store()
	for {
		missing, err := dag.Missing(ctx, st, root)
		if err != nil {
			t.Fatal(err)
		}
		be.mu.Lock()
		holds := be.fetching[root]
		be.mu.Unlock()
		if !missing && holds <= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the fetch never ended (missing %v, holds %d)", missing, holds)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := st.GC(ctx); err != nil {
		t.Fatal(err)
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatalf("cat while gc ran: %v", err)
	}
	if !bytes.Equal(w.buf.Bytes(), data) {
		t.Fatalf("cat wrote %d bytes that differ from the %d added", w.buf.Len(), len(data))
	}
}
