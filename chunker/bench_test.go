package chunker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchSize is the stream size of one benchmark op.
const benchSize = 64 << 20

// cutOnly chunks data with k and returns the number of chunks.
func cutOnly(k *cutter, data []byte) int {
	chunks := 0
	for len(data) > 0 {
		data = data[k.cut(data):]
		chunks++
	}
	return chunks
}

// sha1core hashes data in 64 KiB pieces on the calling goroutine.
func sha1core(data []byte) {
	for off := 0; off < len(data); off += 64 << 10 {
		_ = sha256.Sum256(data[off:min(off+64<<10, len(data))])
	}
}

// BenchmarkFastCDC measures chunk-only speed with the default config on one
// goroutine (goal: >= 1.5 GB/s).
func BenchmarkFastCDC(b *testing.B) {
	data := randBytes(1, benchSize)
	k := newCutter(DefaultConfig())
	b.SetBytes(int64(len(data)))
	chunks := 0
	for b.Loop() {
		chunks += cutOnly(k, data)
	}
	b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
}

// BenchmarkSplitter measures chunk-only speed through NewSplitter on an
// io.Reader (so including the copy into its buffer).
func BenchmarkSplitter(b *testing.B) {
	data := randBytes(1, benchSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := NewSplitter(bytes.NewReader(data), DefaultConfig())
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkFastCDCRef measures the one-byte-a-step reference loop, to show
// what the two-bytes-a-step loop gains.
func BenchmarkFastCDCRef(b *testing.B) {
	data := randBytes(1, benchSize)
	k := newCutter(DefaultConfig())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rest := data
		for len(rest) > 0 {
			rest = rest[refCut(k, rest):]
		}
	}
}

// BenchmarkSHA256 measures SHA-256 of 64 KiB pieces on one core.
func BenchmarkSHA256(b *testing.B) {
	data := randBytes(2, benchSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha1core(data)
	}
}

// BenchmarkSplit measures chunking plus hashing on all cores of data in
// memory (SplitBytes, no copy). It also reports the ceiling measured in the
// same run, GOMAXPROCS / (1/chunk-only + 1/one-core SHA-256) (on two cores
// about 2 / (1/chunk + 1/sha)), and its ratio to it (goal >= 0.9).
func BenchmarkSplit(b *testing.B) {
	data := randBytes(3, benchSize)
	benchSplit(b, data, func() error {
		return SplitBytes(context.Background(), data, Options{}, func(Chunk) error { return nil })
	})
}

// BenchmarkSplitReader is BenchmarkSplit through an io.Reader (copying
// into Split's buffers).
func BenchmarkSplitReader(b *testing.B) {
	data := randBytes(3, benchSize)
	benchSplit(b, data, func() error {
		return Split(context.Background(), bytes.NewReader(data), Options{}, func(Chunk) error { return nil })
	})
}

// BenchmarkSplitFile is BenchmarkSplit reading a file (from the page cache).
func BenchmarkSplitFile(b *testing.B) {
	data := randBytes(4, benchSize)
	path := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	benchSplit(b, data, func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return Split(context.Background(), f, Options{}, func(Chunk) error { return nil })
	})
}

func benchSplit(b *testing.B, data []byte, split func() error) {
	ceiling := splitCeiling(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := split(); err != nil {
			b.Fatal(err)
		}
	}
	speed := float64(len(data)) * float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(ceiling/1e6, "ceiling-MB/s")
	b.ReportMetric(speed/ceiling, "x-ceiling")
}

// splitCeiling measures chunk-only and one-core SHA-256 speed on data and
// returns the Split ceiling in bytes/s for GOMAXPROCS cores.
func splitCeiling(data []byte) float64 {
	k := newCutter(DefaultConfig())
	best := func(f func()) float64 {
		var d time.Duration
		for i := range 3 {
			t := time.Now()
			f()
			if e := time.Since(t); i == 0 || e < d {
				d = e
			}
		}
		return float64(len(data)) / d.Seconds()
	}
	chunk := best(func() { cutOnly(k, data) })
	sha := best(func() { sha1core(data) })
	p := float64(runtimeProcs())
	// Every byte costs 1/chunk on one core (the chunker is one goroutine)
	// and 1/sha on any core.
	return min(p/(1/chunk+1/sha), chunk)
}
