package transport

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// TestBatchConnReadAhead reads a stream through a batchConn's read-ahead
// buffer in pieces of every kind of size (a TLS header's 5 bytes, a
// record, more than the buffer) and checks every byte arrives, in order,
// and that the writer's close comes through as EOF.
func TestBatchConnReadAhead(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int // read sizes, cycled
	}{
		{"tls-like: header then record", []int{5, 16 << 10}},
		{"one byte at a time at first", []int{1, 1, 1, 7, 3 << 10}},
		{"larger than the buffer", []int{readAhead + 1, 100}},
		{"exactly the buffer", []int{readAhead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			want := make([]byte, 3*readAhead+12345)
			rng := rand.NewChaCha8([32]byte{9})
			_, _ = rng.Read(want)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				for p := want; len(p) > 0; { // writes of odd sizes
					n := min(len(p), 7777)
					if _, err := c.Write(p[:n]); err != nil {
						return
					}
					p = p[n:]
				}
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			bc := &batchConn{Conn: raw}
			bc.on.Store(true)
			defer bc.Close()
			var got []byte
			for i := 0; ; i++ {
				p := make([]byte, tt.sizes[i%len(tt.sizes)])
				n, err := bc.Read(p)
				got = append(got, p[:n]...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read after %d bytes: %v", len(got), err)
				}
				if n == 0 {
					t.Fatalf("read of %d bytes returned nothing and no error", len(p))
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d; equal prefix: %v", len(got), len(want), bytes.HasPrefix(want, got))
			}
		})
	}
}
