package session

import (
	"context"
	"errors"
	"testing"
	"time"
)

// conn is a connection as an inbox's taker sees it.
type conn struct {
	closed chan struct{}
	failed chan error
}

func newConn() *conn { return &conn{closed: make(chan struct{}), failed: make(chan error, 1)} }

func (c *conn) Closed() <-chan struct{} { return c.closed }
func (c *conn) Fail(err error)          { c.failed <- err }

// TestInboxBounded: past maxInbox bytes a put waits until the taker has
// taken enough; jobs are taken in order; an error from the taker fails
// the connection, stops it, and lets a waiting put go.
func TestInboxBounded(t *testing.T) {
	b := newInbox()
	c := newConn()
	half := recordsJob{size: maxInbox / 2}
	for range 2 {
		if !b.put(half, c.closed) {
			t.Fatal("put refused with room")
		}
	}
	put := make(chan bool, 1)
	go func() { put <- b.put(recordsJob{size: 1, complete: nil}, c.closed) }()
	select {
	case <-put:
		t.Fatal("a put past the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	gate := make(chan struct{})
	var sizes []int
	bad := errors.New("records that do not verify")
	go b.take(t.Context(), c, func(j recordsJob) error {
		<-gate
		sizes = append(sizes, j.size)
		if len(sizes) == 2 {
			return bad
		}
		return nil
	})
	gate <- struct{}{} // the first job is taken: room for the waiting put
	if ok := <-put; !ok {
		t.Fatal("the waiting put was refused")
	}
	gate <- struct{}{} // the second fails the connection
	if err := <-c.failed; !errors.Is(err, bad) {
		t.Fatalf("failed with %v", err)
	}
	<-b.done
	if len(sizes) != 2 || sizes[0] != maxInbox/2 || sizes[1] != maxInbox/2 {
		t.Fatalf("taken in this order: %v", sizes)
	}
	// The taker is gone: a put that does not fit is refused, not left waiting.
	if b.put(recordsJob{size: maxInbox}, c.closed) {
		t.Fatal("a put past the bound was queued with no taker")
	}
}

// TestInboxStops: the taker stops when its context ends (no Fail: the node
// is stopping) or the connection closes.
func TestInboxStops(t *testing.T) {
	for _, viaCtx := range []bool{true, false} {
		b, c := newInbox(), newConn()
		ctx, cancel := context.WithCancel(t.Context())
		go b.take(ctx, c, func(recordsJob) error { return nil })
		if viaCtx {
			cancel()
		} else {
			close(c.closed)
		}
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("taker still running (via context: %v)", viaCtx)
		}
		cancel()
		select {
		case err := <-c.failed:
			t.Fatalf("stopping failed the connection: %v", err)
		default:
		}
	}
}
