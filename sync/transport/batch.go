package transport

import (
	"net"
	"sync"
	"sync/atomic"
)

// batchSize bounds the TLS records a batchConn holds before writing them.
const batchSize = 256 << 10

// batchConn sits under a tls.Conn once its handshake is done and gathers
// the records of one Conn.Write (16 KiB each) into one write to the
// socket, instead of a system call per record. Conn flushes it at the end
// of every Write and after every Read (which may have queued an alert),
// and Close flushes before closing. During the handshake it writes
// through, since each flight must reach the peer before a reply can come.
type batchConn struct {
	net.Conn
	on atomic.Bool

	mu  sync.Mutex
	buf []byte
	err error // the first write error; later writes fail with it
}

func (b *batchConn) Write(p []byte) (int, error) {
	if !b.on.Load() {
		return b.Conn.Write(p)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if len(b.buf)+len(p) > batchSize {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > batchSize {
			return b.Conn.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what is gathered.
func (b *batchConn) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		b.err = err
	}
	return err
}

func (b *batchConn) pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) > 0
}

func (b *batchConn) Close() error {
	b.Flush()
	return b.Conn.Close()
}
