package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/store"
)

// storeCache reads a store's statistics at most once an interval, as the
// read may walk the whole store.
type storeCache struct {
	src      Store
	interval time.Duration
	timeout  time.Duration
	clock    func() time.Time
	log      *slog.Logger

	mu   sync.Mutex // held across a read, so concurrent scrapes wait for one
	next time.Time  // when the next scrape reads again
	last storeRead
}

// storeRead is what a scrape reports of the store.
type storeRead struct {
	stats       store.Stats
	ok          bool // the last read succeeded
	errors      int64
	lastSuccess time.Time
	duration    time.Duration
}

func newStoreCache(opt Options) *storeCache {
	return &storeCache{src: opt.Store, interval: opt.StoreInterval, timeout: opt.StoreTimeout,
		clock: opt.Clock, log: opt.Logger}
}

// get returns the cached read, reading the store first if it is due.
func (c *storeCache) get() storeRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if now.Before(c.next) {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	st, err := c.src.Stats(ctx)
	c.last.duration = time.Since(start)
	if err != nil {
		c.last.ok = false
		c.last.stats = store.Stats{}
		c.last.errors++
		c.log.Warn("metrics: read store statistics", "err", err, "took", c.last.duration)
	} else {
		c.last.ok = true
		c.last.stats = st
		c.last.lastSuccess = now
	}
	c.next = now.Add(c.interval) // a negative interval: due again at once
	return c.last
}
