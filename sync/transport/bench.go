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
// bytes per second: the physical ceiling that block transfer speeds are
// measured against.
func MeasureTLSLoopback(ctx context.Context, n int64) (float64, error) {
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

	start := time.Now()
	werr := make(chan error, 1)
	go func() { werr <- writeN(client, n) }()
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		k, err := server.Read(buf[:min(int64(len(buf)), n-got)])
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
