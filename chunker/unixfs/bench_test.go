package unixfs

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// BenchmarkFileReader reads a 128 MiB file through a getter that checks
// every block's sha2-256 (as the store does) and prints the speed beside
// one core's SHA-256 speed and the 1 GB/s goal.
func BenchmarkFileReader(b *testing.B) { benchRead(b, false) }

// BenchmarkWalk is the same as BenchmarkFileReader through Walk (export).
func BenchmarkWalk(b *testing.B) { benchRead(b, true) }

func benchRead(b *testing.B, walk bool) {
	for _, leaf := range []int{chunk, 64 << 10} {
		b.Run(byteSize(leaf), func(b *testing.B) {
			const size = 128 << 20
			data := make([]byte, size)
			rng := rand.NewChaCha8([32]byte{1})
			_, _ = rng.Read(data)
			m := newMemStore()
			bld := NewFileBuilder(func(blk Block) error { m.put(blk.Cid, blk.Data); return nil })
			for off := 0; off < size; off += leaf {
				l := data[off : off+leaf]
				c := RawCID(sha256.Sum256(l))
				m.put(c, l)
				if err := bld.Add(c, uint64(leaf)); err != nil {
					b.Fatal(err)
				}
			}
			root, _, err := bld.Finish()
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			sha256.Sum256(data)
			shaSpeed := float64(size) / time.Since(start).Seconds()
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				r, err := NewFileReader(context.Background(), m, root)
				if err != nil {
					b.Fatal(err)
				}
				if walk {
					var n int
					err := Walk(context.Background(), m, root, func(_ cid.Cid, d []byte) error { n += len(d); return nil })
					if err != nil || n < size {
						b.Fatalf("walked %d bytes: %v", n, err)
					}
					continue
				}
				if n, err := r.WriteTo(io.Discard); err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
			speed := float64(size) * float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(speed/1e9, "GB/s")
			b.ReportMetric(speed/shaSpeed, "x-sha256-1core")
			b.ReportMetric(speed/1e9, "x-1GB/s-goal")
		})
	}
}

func byteSize(n int) string {
	return strconv.Itoa(n>>10) + "KiB"
}

// BenchmarkFileBuilderSmall builds the DAG of a file of two leaves, as a
// scan does for each of many small files: what it allocates is per file.
func BenchmarkFileBuilderSmall(b *testing.B) {
	leaves := []cid.Cid{RawCID(sha256.Sum256([]byte("a"))), RawCID(sha256.Sum256([]byte("b")))}
	b.ReportAllocs()
	for b.Loop() {
		bld := NewFileBuilder(func(Block) error { return nil })
		for _, c := range leaves {
			if err := bld.Add(c, 64<<10); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := bld.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}
