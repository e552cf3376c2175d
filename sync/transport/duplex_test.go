package transport

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestFullDuplex: both ends write a lot at once while reading. Neither
// end's reads may wait for its own blocked writes (which wait for the
// other end to read): that would deadlock the two.
func TestFullDuplex(t *testing.T) {
	ctx := testCtx(t)
	a, b, err := LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	const n = 64 << 20
	deadline := time.Now().Add(20 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	type result struct {
		sum [32]byte
		err error
	}
	send := func(c *Conn, seed byte) <-chan result {
		out := make(chan result, 1)
		go func() {
			h := sha256.New()
			buf := make([]byte, 1<<20)
			for i := range buf {
				buf[i] = byte(i*7) ^ seed
			}
			for sent := 0; sent < n; sent += len(buf) {
				buf[0] = byte(sent >> 20)
				h.Write(buf)
				if _, err := c.Write(buf); err != nil {
					out <- result{err: err}
					return
				}
			}
			var r result
			copy(r.sum[:], h.Sum(nil))
			out <- r
		}()
		return out
	}
	recv := func(c *Conn) <-chan result {
		out := make(chan result, 1)
		go func() {
			h := sha256.New()
			_, err := io.CopyN(h, c, n)
			var r result
			copy(r.sum[:], h.Sum(nil))
			r.err = err
			out <- r
		}()
		return out
	}
	sentA, sentB := send(a, 1), send(b, 2)
	gotB, gotA := recv(b), recv(a)
	for _, pair := range []struct {
		name       string
		sent, recv <-chan result
	}{{"a to b", sentA, gotB}, {"b to a", sentB, gotA}} {
		s, r := <-pair.sent, <-pair.recv
		var ne net.Error
		if errors.As(s.err, &ne) && ne.Timeout() || errors.As(r.err, &ne) && ne.Timeout() {
			t.Fatalf("%s: stuck until the deadline (write: %v, read: %v)", pair.name, s.err, r.err)
		}
		if s.err != nil || r.err != nil {
			t.Fatalf("%s: write %v, read %v", pair.name, s.err, r.err)
		}
		if !bytes.Equal(s.sum[:], r.sum[:]) {
			t.Fatalf("%s: bytes received differ from bytes sent", pair.name)
		}
	}
}

// TestCloseDuringBlockedWrite: closing a connection whose write is stuck
// (the peer reads nothing) returns at once and ends the write.
func TestCloseDuringBlockedWrite(t *testing.T) {
	ctx := testCtx(t)
	a, b, err := LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := a.Write(buf); err != nil {
				werr <- err
				return
			}
		}
	}()
	// b reads nothing: a's writes fill the socket buffers and block.
	select {
	case err := <-werr:
		t.Fatalf("write failed before the close: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	for _, w := range []struct {
		what string
		ch   <-chan error
	}{{"Close", closed}, {"the blocked Write", werr}} {
		select {
		case <-w.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not return", w.what)
		}
	}
}
