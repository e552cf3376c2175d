package badgerstore

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// BenchmarkWriteBatch64K writes 512 MiB of distinct 64 KiB blocks in one
// batch, as `shoal add` does, into a fresh store, and reports the peak
// resident memory during the write (anonymous, and file-backed: badger
// writes its value log through mmap, so written pages count as resident
// until the kernel reclaims them). Close, which flushes to disk, is timed
// apart as close-ms. CIDs are made from a counter, not the data: Put does
// not hash, and hashing here would measure SHA-256, not the store.
func BenchmarkWriteBatch64K(b *testing.B) {
	const blockSize, total = 64 << 10, 512 << 20
	base := make([]byte, blockSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range base {
		base[i] = byte(rng.Uint32())
	}
	block := make([]byte, blockSize)
	b.SetBytes(total)
	b.ReportAllocs()
	var peak rssPeak
	var closeTime time.Duration
	for i := range b.N {
		b.StopTimer()
		debug.FreeOSMemory() // start each round from what is live, not the last round's garbage
		s := open(b, b.TempDir(), Options{})
		stop := peak.watch()
		b.StartTimer()
		batch := s.NewBatch(ctx)
		for n := range total / blockSize {
			copy(block, base)
			binary.LittleEndian.PutUint64(block, uint64(i)<<32|uint64(n))
			c := unixfs.RawCID(sha256.Sum256(block[:8]))
			if err := batch.Put(c, block); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		stop()
		start := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		closeTime += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(closeTime.Milliseconds())/float64(b.N), "close-ms")
	if peak.anon > 0 {
		b.ReportMetric(float64(peak.anon)/(1<<20), "MiB-rss-anon")
		b.ReportMetric(float64(peak.file)/(1<<20), "MiB-rss-file")
	}
}

// rssPeak samples the process's resident memory (Linux) while watching.
type rssPeak struct {
	mu         sync.Mutex
	anon, file int64
}

func (p *rssPeak) watch() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *rssPeak) sample() {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "RssAnon" && name != "RssFile") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			continue
		}
		p.mu.Lock()
		if name == "RssAnon" {
			p.anon = max(p.anon, kb<<10)
		} else {
			p.file = max(p.file, kb<<10)
		}
		p.mu.Unlock()
	}
}
