package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/shoal-sync/shoal/sync/wire"
)

// BenchmarkTLSLoopback measures one shoal TLS connection over 127.0.0.1 with
// both ends in this process, in 1 MiB writes.
func BenchmarkTLSLoopback(b *testing.B) {
	ctx := context.Background()
	client, server, err := LoopbackPair(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	const chunk = 1 << 20
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		for {
			if _, err := server.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	data := make([]byte, chunk)
	b.SetBytes(chunk)
	for b.Loop() {
		if _, err := client.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	client.Close()
	<-done
}

// BenchmarkWireBlocksOverTLS sends 1 MiB Block frames with wire.WriteBlock
// through a bufio.Writer over a shoal TLS connection and decodes them with a
// wire.Reader: the protocol's cost over BenchmarkTLSLoopback.
func BenchmarkWireBlocksOverTLS(b *testing.B) {
	ctx := context.Background()
	client, server, err := LoopbackPair(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	cid := bytes.Repeat([]byte{0x12}, 36)
	done := make(chan error, 1)
	go func() {
		r := wire.NewReader(server, 0)
		for {
			m, _, err := r.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if blk, ok := m.(wire.Block); !ok || !bytes.Equal(blk.CID, cid) {
				done <- fmt.Errorf("got %T, want a Block", m)
				return
			}
		}
	}()
	data := make([]byte, 1<<20)
	w := bufio.NewWriterSize(client, 64<<10)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		if err := wire.WriteBlock(w, uint64(i), cid, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	client.Close()
	if err := <-done; !errors.Is(err, io.EOF) {
		b.Fatalf("reader ended with %v, want EOF", err)
	}
}
