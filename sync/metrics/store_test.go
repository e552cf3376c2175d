package metrics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// countingStore wraps a real store, counting Stats calls; it fails them
// while fail is set, and with hang waits for its context to end.
type countingStore struct {
	store.Store
	calls   atomic.Int64
	fail    atomic.Bool
	hang    bool
	lastErr atomic.Value // error
}

var errBroken = errors.New("disk on fire")

func (s *countingStore) Stats(ctx context.Context) (store.Stats, error) {
	s.calls.Add(1)
	var err error
	switch {
	case s.hang:
		<-ctx.Done()
		err = ctx.Err()
	case s.fail.Load():
		err = errBroken
	default:
		return s.Store.Stats(ctx)
	}
	s.lastErr.Store(err)
	return store.Stats{}, err
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestStoreCache scrapes a real badger store through a counting wrapper,
// moving a fake clock between scrapes, and checks when the store is read
// and what the scrape says of it.
func TestStoreCache(t *testing.T) {
	type step struct {
		advance   time.Duration
		fail      bool    // the store fails its reads during this step
		wantCalls int64   // Stats calls so far
		wantOK    bool    // store figures present
		wantErrs  float64 // shoal_store_stats_errors_total
		lastOK    int     // step whose read last succeeded; -1: none yet
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		steps    []step
	}{
		{"default 30s", 0, []step{
			{0, false, 1, true, 0, 0},
			{5 * time.Second, false, 1, true, 0, 0},
			{24 * time.Second, false, 1, true, 0, 0},
			{time.Second, false, 2, true, 0, 3}, // 30 s after the first read
			{time.Second, false, 2, true, 0, 3},
		}},
		{"short interval", time.Second, []step{
			{0, false, 1, true, 0, 0},
			{999 * time.Millisecond, false, 1, true, 0, 0},
			{time.Millisecond, false, 2, true, 0, 2},
		}},
		{"negative: every scrape", -1, []step{
			{0, false, 1, true, 0, 0},
			{time.Millisecond, false, 2, true, 0, 1},
			{time.Millisecond, false, 3, true, 0, 2},
		}},
		{"failure is cached too, then recovers", 10 * time.Second, []step{
			{0, true, 1, false, 1, -1},
			{time.Second, true, 1, false, 1, -1},
			{10 * time.Second, true, 2, false, 2, -1},
			{10 * time.Second, false, 3, true, 2, 3},
			{5 * time.Second, true, 3, true, 2, 3},  // cached success
			{5 * time.Second, true, 4, false, 3, 3}, // a failed read hides the old figures
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			real := openStore(t)
			root, n := putFile(t, ctx, real, randBytes(3, 100<<10), 16<<10)
			if err := real.Pin(ctx, root, store.PinDirect); err != nil {
				t.Fatal(err)
			}
			cs := &countingStore{Store: real}
			clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			m, err := New(Options{Version: "v1", Store: cs, StoreInterval: tc.interval, Clock: clk.Now, Logger: discard})
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, m)
			var at []time.Time // clock at each step
			for i, s := range tc.steps {
				clk.advance(s.advance)
				at = append(at, clk.Now())
				cs.fail.Store(s.fail)
				f := scrape(t, url)
				if got := cs.calls.Load(); got != s.wantCalls {
					t.Errorf("step %d: store read %d times, want %d", i, got, s.wantCalls)
				}
				if got := f.must(t, "shoal_store_stats_errors_total"); got != s.wantErrs {
					t.Errorf("step %d: errors_total = %v, want %v", i, got, s.wantErrs)
				}
				blocks, ok := f.value("shoal_store_blocks", "kind", "copy")
				if ok != s.wantOK {
					t.Fatalf("step %d: store figures present = %v, want %v", i, ok, s.wantOK)
				}
				if ok {
					if blocks != float64(n) {
						t.Errorf("step %d: shoal_store_blocks{kind=copy} = %v, want %d", i, blocks, n)
					}
					if got := f.must(t, "shoal_store_pins"); got != 1 {
						t.Errorf("step %d: shoal_store_pins = %v, want 1", i, got)
					}
				}
				want := 0.0
				if s.lastOK >= 0 {
					want = float64(at[s.lastOK].UnixNano()) / 1e9
				}
				if got := f.must(t, "shoal_store_stats_last_success_timestamp_seconds"); got != want {
					t.Errorf("step %d: last success %v, want %v", i, got, want)
				}
				// The other figures are there whatever the store did.
				if _, ok := f["go_goroutines"]; !ok {
					t.Errorf("step %d: no go_goroutines", i)
				}
				if _, ok := f.value("shoal_build_info", "version", "v1", "goversion", runtime.Version()); !ok {
					t.Errorf("step %d: no shoal_build_info", i)
				}
			}
		})
	}
}

// TestStoreTimeout: a store read that hangs is cut off by StoreTimeout,
// and the scrape still answers with everything else.
func TestStoreTimeout(t *testing.T) {
	cs := &countingStore{Store: openStore(t), hang: true}
	m, err := New(Options{Store: cs, StoreTimeout: 50 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	f := scrape(t, serve(t, m))
	if err, _ := cs.lastErr.Load().(error); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("store read ended with %v, want the deadline", err)
	}
	if got := f.must(t, "shoal_store_stats_errors_total"); got != 1 {
		t.Errorf("errors_total = %v, want 1", got)
	}
	if got := f.must(t, "shoal_store_stats_duration_seconds"); got < 0.05 {
		t.Errorf("duration = %v, want at least the 50 ms timeout", got)
	}
	for _, name := range []string{"shoal_store_blocks", "shoal_store_pins", "shoal_store_disk_bytes"} {
		if _, ok := f[name]; ok {
			t.Errorf("%s present after a failed read", name)
		}
	}
	if _, ok := f["shoal_build_info"]; !ok {
		t.Error("no shoal_build_info")
	}
}

// TestStoreRefs: blocks kept as references into a file are counted apart
// from copies, with their bytes.
func TestStoreRefs(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	data := randBytes(4, 3*1000)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch(ctx)
	defer b.Discard()
	for off := 0; off < len(data); off += 1000 {
		ref := store.Ref{Path: path, Offset: int64(off), Length: 1000, FileSize: fi.Size(), ModTime: fi.ModTime()}
		if err := b.PutRef(unixfs.RawCIDOf(data[off:off+1000]), ref); err != nil {
			t.Fatal(err)
		}
	}
	copyData := randBytes(5, 777)
	if err := b.Put(unixfs.RawCIDOf(copyData), copyData); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Store: st, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	f := scrape(t, serve(t, m))
	for _, c := range []struct {
		name, kind string
		want       float64
	}{
		{"shoal_store_blocks", "ref", 3},
		{"shoal_store_blocks", "copy", 1},
		{"shoal_store_block_bytes", "ref", 3000},
		{"shoal_store_block_bytes", "copy", 777},
	} {
		if got := f.must(t, c.name, "kind", c.kind); got != c.want {
			t.Errorf("%s{kind=%s} = %v, want %v", c.name, c.kind, got, c.want)
		}
	}
}

// TestConcurrentScrapes: scrapes that arrive together share one store read.
func TestConcurrentScrapes(t *testing.T) {
	cs := &countingStore{Store: openStore(t)}
	m, err := New(Options{Store: cs, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, m)
	var wg sync.WaitGroup
	for range 4 { // the handler's MaxRequestsInFlight
		wg.Go(func() {
			f, err := fetchMetrics(t.Context(), url)
			if err != nil {
				t.Error(err)
				return
			}
			if _, ok := f.value("shoal_store_pins"); !ok {
				t.Error("no shoal_store_pins")
			}
		})
	}
	wg.Wait()
	if got := cs.calls.Load(); got != 1 {
		t.Errorf("4 concurrent scrapes read the store %d times, want 1", got)
	}
}
