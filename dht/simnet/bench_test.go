package simnet

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSendReceive measures one packet's trip through the network:
// inline delivery at zero latency, and through the timer heap otherwise.
// Packets go in batches of 256 so that the receive queue never overflows.
func BenchmarkSendReceive(b *testing.B) {
	for _, lat := range []time.Duration{0, time.Microsecond} {
		b.Run(fmt.Sprint("latency=", lat), func(b *testing.B) {
			n := New(Options{Link: Link{Latency: lat}, QueueLen: 256})
			defer n.Close()
			src, _ := n.Listen(ap("10.0.0.1:1"))
			dst, _ := n.Listen(ap("10.0.0.2:1"))
			msg := make([]byte, 100)
			buf := make([]byte, 200)
			for left := b.N; left > 0; {
				batch := min(left, 256)
				left -= batch
				for range batch {
					src.WriteTo(msg, dst.LocalAddr())
				}
				for range batch {
					if _, _, err := dst.ReadFrom(buf); err != nil {
						b.Fatal(err)
					}
				}
			}
			if st := n.Stats(); st.Delivered != uint64(b.N) {
				b.Fatalf("delivered %d of %d", st.Delivered, b.N)
			}
		})
	}
}
