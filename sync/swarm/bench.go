package swarm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/swarm/strategy"
)

// BenchOptions sets up BenchSwarm. Zero fields take the defaults of the
// issue's swarm benchmark.
type BenchOptions struct {
	Leechers   int   // default 8
	Bytes      int64 // file size, default 64 MiB
	Chunk      int   // leaf size, default 256 KiB
	UploadRate int64 // per node, bytes/s, default 16 MiB/s
	Slots      int   // regular unchoke slots, default 4
}

// BenchReport is what BenchSwarm measured.
type BenchReport struct {
	Leechers   int
	Bytes      int64
	UploadRate int64
	// Ideal is Bytes at UploadRate: the seed sending one copy.
	Ideal time.Duration
	// NoTrade is the time if leechers did not trade (Leechers × Ideal).
	NoTrade time.Duration
	// Done is when each leecher finished, from the common start.
	Done []time.Duration
	// Last is when the last leecher finished.
	Last time.Duration
	// Served is the payload bytes each node uploaded; node 0 is the seed.
	Served []int64
	// SeedCopies is the seed's upload in copies of the file.
	SeedCopies float64
	// DupBytes is good block bytes received that were no longer wanted
	// (endgame duplicates and races), over all leechers; DupPercent is that
	// share of all block bytes received.
	DupBytes   int64
	DupPercent float64
	// BadBlocks must be 0.
	BadBlocks int64
}

// String prints the report in a few lines.
func (r BenchReport) String() string {
	s := fmt.Sprintf("swarm: 1 seed + %d leechers, %d MiB, upload %s per node\n",
		r.Leechers, r.Bytes>>20, FormatRate(r.UploadRate))
	s += fmt.Sprintf("  last leecher done %.2fs (ideal 1 copy %.2fs, ratio %.2f; without trading %.1fs)\n",
		r.Last.Seconds(), r.Ideal.Seconds(), r.Last.Seconds()/r.Ideal.Seconds(), r.NoTrade.Seconds())
	s += fmt.Sprintf("  seed uploaded %.2f copies; endgame duplicates %.2f%% (%d bytes); bad blocks %d\n",
		r.SeedCopies, r.DupPercent, r.DupBytes, r.BadBlocks)
	s += "  leechers done at:"
	for _, d := range r.Done {
		s += fmt.Sprintf(" %.1fs", d.Seconds())
	}
	s += "\n  served MiB:"
	for i, b := range r.Served {
		if i == 0 {
			s += fmt.Sprintf(" seed %.1f", float64(b)/(1<<20))
		} else {
			s += fmt.Sprintf(", L%d %.1f", i, float64(b)/(1<<20))
		}
	}
	return s + "\n"
}

// BenchSwarm runs one seed and opt.Leechers leechers, all connected to each
// other on loopback TLS with memory stores, every node's upload capped, and
// all leechers starting to fetch the same file together.
func BenchSwarm(ctx context.Context, opt BenchOptions) (BenchReport, error) {
	if opt.Leechers <= 0 {
		opt.Leechers = 8
	}
	if opt.Bytes <= 0 {
		opt.Bytes = 64 << 20
	}
	if opt.Chunk <= 0 {
		opt.Chunk = 256 << 10
	}
	if opt.UploadRate <= 0 {
		opt.UploadRate = 16 << 20
	}
	rep := BenchReport{Leechers: opt.Leechers, Bytes: opt.Bytes, UploadRate: opt.UploadRate,
		Ideal: time.Duration(float64(opt.Bytes) / float64(opt.UploadRate) * float64(time.Second))}
	rep.NoTrade = time.Duration(opt.Leechers) * rep.Ideal
	stores := make([]store.Store, opt.Leechers+1)
	for i := range stores {
		stores[i] = memstore.New(memstore.Options{})
	}
	data := make([]byte, opt.Bytes)
	fillRandom(data, 42)
	root, _, err := putFile(ctx, stores[0], data, opt.Chunk)
	if err != nil {
		return rep, err
	}
	data = nil
	c, err := newCluster(ctx, stores, func(int) Options {
		return Options{ServeAll: true, MaxUploadRate: opt.UploadRate,
			Choker: strategy.ChokerConfig{Slots: opt.Slots}}
	})
	if err != nil {
		return rep, err
	}
	defer c.close()
	if err := c.connectAll(ctx); err != nil {
		return rep, err
	}
	type result struct {
		i   int
		d   time.Duration
		err error
	}
	start := time.Now()
	res := make(chan result, opt.Leechers)
	for i := 1; i <= opt.Leechers; i++ {
		n := c.nodes[i]
		go func() {
			err := fetchDAG(ctx, n.swarm, root, StoreSink{Store: n.store})
			res <- result{i, time.Since(start), err}
		}()
	}
	rep.Done = make([]time.Duration, opt.Leechers)
	var firstErr error
	for range opt.Leechers {
		r := <-res
		rep.Done[r.i-1] = r.d
		rep.Last = max(rep.Last, r.d)
		if r.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("leecher %d: %w", r.i, r.err)
		}
	}
	var in int64
	for i, n := range c.nodes {
		st := n.swarm.Stats()
		rep.Served = append(rep.Served, st.BytesOut)
		if i > 0 {
			in += st.BytesIn
			rep.DupBytes += st.DupBytes
			rep.BadBlocks += st.BadBlocks
		}
	}
	rep.SeedCopies = float64(rep.Served[0]) / float64(opt.Bytes)
	if in > 0 {
		rep.DupPercent = 100 * float64(rep.DupBytes) / float64(in)
	}
	return rep, firstErr
}

// fillRandom fills b with fast pseudo-random bytes.
func fillRandom(b []byte, seed uint64) {
	var key [32]byte
	key[0] = byte(seed)
	r := rand.NewChaCha8(key)
	r.Read(b)
}

// BenchOnePeer fetches a file of n bytes (default 1 GiB) from one peer
// over loopback TLS and returns the throughput in bytes per second. The
// seed serves the file through store references (reading and re-hashing
// each block, as `shoal add --nocopy` content is served); the fetcher
// verifies every block and writes it into a file with dag.TreeWriter, as
// `shoal get -o` does.
// Compare with transport.MeasureTLSLoopback on the same machine.
func BenchOnePeer(ctx context.Context, n int64) (float64, error) {
	if n <= 0 {
		n = 1 << 30
	}
	dir, err := os.MkdirTemp("", "shoal-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	seed := memstore.New(memstore.Options{})
	root, err := putFileRefs(ctx, seed, filepath.Join(dir, "file"), n, 256<<10)
	if err != nil {
		return 0, err
	}
	stores := []store.Store{seed, memstore.New(memstore.Options{})}
	c, err := newCluster(ctx, stores, func(int) Options { return Options{ServeAll: true} })
	if err != nil {
		return 0, err
	}
	defer c.close()
	if err := c.connectAll(ctx); err != nil {
		return 0, err
	}
	out := filepath.Join(dir, "out")
	sink, err := dag.NewTreeWriter(stores[1], root, out, dag.GetOptions{})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := fetchDAG(ctx, c.nodes[1].swarm, root, sink); err != nil {
		sink.Abort()
		return 0, err
	}
	if err := sink.Finish(); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if fi, err := os.Stat(out); err != nil || fi.Size() != n {
		return 0, fmt.Errorf("bench: fetched file is not %d bytes: %v", n, err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// putFileRefs writes n random bytes to path and records the file in st as
// references (raw leaves of chunk bytes) plus copied internal nodes.
func putFileRefs(ctx context.Context, st store.Store, path string, n int64, chunk int) (cid.Cid, error) {
	f, err := os.Create(path)
	if err != nil {
		return cid.Undef, err
	}
	defer f.Close()
	b := st.NewBatch(ctx)
	defer b.Discard()
	fb := unixfs.NewFileBuilder(func(blk unixfs.Block) error { return b.Put(blk.Cid, blk.Data) })
	buf := make([]byte, chunk)
	var key [32]byte
	r := rand.NewChaCha8(key)
	type leaf struct {
		c   cid.Cid
		off int64
		n   int
	}
	var leaves []leaf
	for off := int64(0); off < n; off += int64(chunk) {
		k := int(min(int64(chunk), n-off))
		r.Read(buf[:k])
		if _, err := f.Write(buf[:k]); err != nil {
			return cid.Undef, err
		}
		c := unixfs.RawCID(sha256.Sum256(buf[:k]))
		leaves = append(leaves, leaf{c, off, k})
		if err := fb.Add(c, uint64(k)); err != nil {
			return cid.Undef, err
		}
	}
	if err := f.Sync(); err != nil {
		return cid.Undef, err
	}
	fi, err := f.Stat()
	if err != nil {
		return cid.Undef, err
	}
	for _, l := range leaves {
		ref := store.NewRef(path, fi, l.off, uint32(l.n))
		if err := b.PutRef(l.c, ref); err != nil {
			return cid.Undef, err
		}
	}
	root, _, err := fb.Finish()
	if err != nil {
		return cid.Undef, err
	}
	return root, b.Commit()
}
