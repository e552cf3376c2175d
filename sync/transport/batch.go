package transport

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// batchSize bounds the TLS records a batchConn holds before writing them.
const batchSize = 256 << 10

// closeFlushTimeout bounds how long Close spends sending what is gathered
// (the close_notify alert, mostly) to a peer that may not be reading.
const closeFlushTimeout = time.Second

// batchConn sits under a tls.Conn once its handshake is done and gathers
// the records of one Conn.Write (16 KiB each) into one write to the
// socket, instead of a system call per record. Conn flushes it at the end
// of every Write and, in the background, after a Read that queued a
// record of its own; Close flushes before closing. During the handshake it
// writes through, since each flight must reach the peer before a reply
// can come.
//
// Two locks keep reads independent of writes: mu guards the buffers and
// is never held across a system call; wmu is held while writing to the
// socket, so that gathered bytes go out in order. A write blocked on a
// peer that does not read therefore never stops this end from reading,
// nor Close from closing.
type batchConn struct {
	net.Conn
	// on: gather writes and read ahead (from the end of the handshake).
	// It is turned off only before any read went through the buffer
	// (the bench's plain connections): bytes read ahead would be lost.
	on atomic.Bool

	wmu sync.Mutex // held while writing to the socket

	mu    sync.Mutex
	buf   []byte // gathered, not yet written
	spare []byte // the other buffer, while buf's bytes are written
	err   error  // the first write error; later writes fail with it

	rbuf []byte // read ahead of the tls.Conn; its unread bytes from rpos
	rpos int
}

// Write gathers p. Calls are serialized by the tls.Conn above.
func (b *batchConn) Write(p []byte) (int, error) {
	if !b.on.Load() {
		return b.Conn.Write(p)
	}
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	if len(b.buf)+len(p) <= batchSize {
		b.buf = append(b.buf, p...)
		b.mu.Unlock()
		return len(p), nil
	}
	b.mu.Unlock()
	if err := b.Flush(); err != nil {
		return 0, err
	}
	if len(p) > batchSize {
		b.wmu.Lock()
		defer b.wmu.Unlock()
		n, err := b.Conn.Write(p)
		if err != nil {
			b.fail(err)
		}
		return n, err
	}
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	b.mu.Unlock()
	return len(p), nil
}

// Flush writes what is gathered, and what is gathered meanwhile.
func (b *batchConn) Flush() error {
	for {
		b.wmu.Lock()
		err := b.drainLocked()
		b.wmu.Unlock()
		if err != nil || !b.pending() {
			return err
		}
	}
}

// drainLocked writes the gathered bytes; b.wmu is held.
func (b *batchConn) drainLocked() error {
	b.mu.Lock()
	if b.err != nil || len(b.buf) == 0 {
		err := b.err
		b.mu.Unlock()
		return err
	}
	out := b.buf
	b.buf, b.spare = b.spare[:0], nil
	b.mu.Unlock()

	_, err := b.Conn.Write(out)

	b.mu.Lock()
	b.spare = out[:0]
	if err != nil && b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	return err
}

func (b *batchConn) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *batchConn) pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) > 0
}

// Close sends what is gathered, briefly, unless a write is under way (a
// Close then means to break it off), and closes the socket, which ends any
// write still blocked on it.
func (b *batchConn) Close() error {
	if b.wmu.TryLock() {
		b.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		b.drainLocked()
		b.wmu.Unlock()
	}
	return b.Conn.Close()
}

// readAhead is how much a batchConn reads from the socket at once.
const readAhead = 256 << 10

// Read reads through a buffer of readAhead bytes: crypto/tls asks for
// one record (16 KiB) at a time, each a system call of its own otherwise.
// On loopback this took 0.2-0.3 s of CPU off each GiB received (1.3 s
// against 1.6). The buffer is made at the first read and kept while the
// connection lives. Reads are serialized by the tls.Conn above.
func (b *batchConn) Read(p []byte) (int, error) {
	if !b.on.Load() {
		return b.Conn.Read(p)
	}
	if b.rpos == len(b.rbuf) {
		if len(p) >= readAhead {
			return b.Conn.Read(p)
		}
		if b.rbuf == nil {
			b.rbuf = make([]byte, readAhead)
		}
		n, err := b.Conn.Read(b.rbuf[:readAhead])
		b.rbuf, b.rpos = b.rbuf[:n], 0
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, b.rbuf[b.rpos:])
	b.rpos += n
	return n, nil
}
