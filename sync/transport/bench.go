package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// MeasureTLSLoopback sends n bytes over a shoal TLS connection between two
// fresh identities in this process on 127.0.0.1 and returns the throughput in
// bytes per second. The connection gathers the records of each write into
// one socket write, as every shoal connection does.
func MeasureTLSLoopback(ctx context.Context, n int64) (float64, error) {
	return measureLoopback(ctx, n, false)
}

// MeasureStdTLSLoopback is MeasureTLSLoopback over crypto/tls as it comes:
// the same handshake, certificates and cipher suite, but each 16 KiB record
// goes to the socket in its own write. It is this machine's plain TLS 1.3
// throughput, the ceiling block transfer speeds are measured against.
func MeasureStdTLSLoopback(ctx context.Context, n int64) (float64, error) {
	return measureLoopback(ctx, n, true)
}

func measureLoopback(ctx context.Context, n int64, plain bool) (float64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("measure TLS loopback: byte count %d must be positive", n)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client, server, err := LoopbackPair(ctx)
	if err != nil {
		return 0, fmt.Errorf("measure TLS loopback: %w", err)
	}
	defer client.Close()
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); server.Close() })
	defer stop()
	var w io.Writer = client
	var r io.Reader = server
	if plain {
		client.bc.on.Store(false)
		server.bc.on.Store(false)
		w, r = client.tc, server.tc
	}

	start := time.Now()
	werr := make(chan error, 1)
	go func() { werr <- writeN(w, n) }()
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		k, err := r.Read(buf[:min(int64(len(buf)), n-got)])
		got += int64(k)
		if err != nil {
			if errors.Is(err, io.EOF) && got == n {
				break
			}
			return 0, fmt.Errorf("measure TLS loopback: read after %d of %d bytes: %w", got, n, errors.Join(err, ctx.Err()))
		}
	}
	elapsed := time.Since(start)
	if err := <-werr; err != nil {
		return 0, fmt.Errorf("measure TLS loopback: write: %w", err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// writeN writes n bytes of a fixed pattern to w in 256 KiB writes.
func writeN(w io.Writer, n int64) error {
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n > 0 {
		k, err := w.Write(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// LoopbackPair returns both ends of one authenticated connection between two
// fresh identities over 127.0.0.1, for tests and benchmarks.
func LoopbackPair(ctx context.Context) (client, server *Conn, err error) {
	a, err := identity.New()
	if err != nil {
		return nil, nil, err
	}
	b, err := identity.New()
	if err != nil {
		return nil, nil, err
	}
	ln, err := Listen(ctx, "127.0.0.1:0", b, Options{})
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type res struct {
		c   *Conn
		err error
	}
	acc := make(chan res, 1)
	go func() {
		c, err := ln.Accept(ctx)
		acc <- res{c, err}
	}()
	client, err = Dial(ctx, PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}, a)
	if err != nil {
		return nil, nil, err
	}
	r := <-acc
	if r.err != nil {
		client.Close()
		return nil, nil, r.err
	}
	return client, r.c, nil
}
