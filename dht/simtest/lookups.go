package simtest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// LookupOptions configures RunLookups. The zero value runs 1,000 nodes and
// 100 lookups on a network with no latency and no loss.
type LookupOptions struct {
	Nodes       int         // nodes in the network; default 1000
	Lookups     int         // random FindNode lookups; default 100
	Concurrency int         // lookups in flight at once; default 16
	Link        simnet.Link // every link's latency, jitter and loss
	Seed        uint64      // seeds node IDs, targets and the network
	K, Alpha    int         // dht.Config's; zero takes the dht defaults
	// QueryTimeout is dht.Config's; zero takes the dht default.
	QueryTimeout time.Duration
	Logger       *slog.Logger // for the servers; default: discard
}

// LookupReport is what RunLookups measured. Times are the network's clock:
// fake time inside a synctest bubble, real time outside.
type LookupReport struct {
	Nodes, Lookups    int
	K                 int
	Link              simnet.Link
	BootstrapFailures int           // nodes whose Bootstrap returned an error
	BootstrapTime     time.Duration // to grow the network to Nodes
	Exact             int           // lookups that returned exactly the true k closest
	Recall            float64       // mean fraction of the true k closest returned
	Errors            int           // lookups that returned an error
	Rounds            Dist[int]
	Messages          Dist[int]
	Latency           Dist[time.Duration]
	TableGood         float64 // fraction of table entries rated good, after the lookups
	TableLive         float64 // fraction of table entries that are live nodes
	TableEntries      int     // table entries over all nodes
	Net               simnet.Stats
	CPU               time.Duration // process user+system CPU over the whole run
}

// ExactFraction is Exact / Lookups.
func (r LookupReport) ExactFraction() float64 {
	if r.Lookups == 0 {
		return 0
	}
	return float64(r.Exact) / float64(r.Lookups)
}

func (o LookupOptions) withDefaults() LookupOptions {
	if o.Nodes <= 0 {
		o.Nodes = 1000
	}
	if o.Lookups <= 0 {
		o.Lookups = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.K <= 0 {
		o.K = 8
	}
	return o
}

// RunLookups builds a network of opt.Nodes dht.Servers on simnet, lets
// them join, runs opt.Lookups FindNode lookups of random targets from
// random nodes, and checks each answer against the true k closest IDs.
// Call it inside a synctest bubble to run in fake time.
func RunLookups(ctx context.Context, opt LookupOptions) (LookupReport, error) {
	opt = opt.withDefaults()
	cpu0 := cpuTime()
	rep := LookupReport{Nodes: opt.Nodes, Lookups: opt.Lookups, K: opt.K, Link: opt.Link}
	c := newCluster(simnet.Options{Link: opt.Link, Seed: opt.Seed, QueueLen: 512}, dht.Config{
		K: opt.K, Alpha: opt.Alpha, QueryTimeout: opt.QueryTimeout, Logger: opt.Logger,
	}, opt.Seed)
	defer c.close()

	start := time.Now()
	failed, err := c.grow(ctx, opt.Nodes)
	if err != nil {
		return rep, fmt.Errorf("simtest: grow network to %d nodes: %w", opt.Nodes, err)
	}
	rep.BootstrapFailures = failed
	rep.BootstrapTime = time.Since(start)

	lr, err := c.lookups(ctx, opt.Lookups, opt.Concurrency, opt.K)
	if err != nil {
		return rep, err
	}
	rep.Exact, rep.Recall, rep.Errors = lr.exact, lr.recall, lr.errors
	rep.Rounds, rep.Messages, rep.Latency = lr.rounds, lr.messages, lr.latency
	rep.TableGood, rep.TableLive, rep.TableEntries = c.tableHealth()
	rep.Net = c.net.Stats()
	rep.CPU = cpuTime() - cpu0
	return rep, nil
}

// lookupResults sums up a batch of lookups.
type lookupResults struct {
	exact, errors    int
	recall           float64
	rounds, messages Dist[int]
	latency          Dist[time.Duration]
}

// lookups runs count FindNode lookups of random targets from random live
// nodes, concurrency at a time, and checks each against the true k closest.
func (c *cluster) lookups(ctx context.Context, count, concurrency, k int) (lookupResults, error) {
	var out lookupResults
	ids := c.ids()
	type job struct {
		from   *node
		target nodeid.ID
	}
	jobs := make([]job, count)
	for i := range jobs {
		jobs[i] = job{c.live[c.rng.IntN(len(c.live))], c.randomID()}
	}
	type result struct {
		found, exact int
		err          error
		st           dht.LookupStats
		took         time.Duration
	}
	results := make([]result, len(jobs))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			got, st, err := j.from.srv.FindNode(ctx, j.target)
			r := result{err: err, st: st, took: time.Since(t0)}
			truth := closest(ids, j.target, k, j.from.id)
			gotIDs := make([]nodeid.ID, len(got))
			in := make(map[nodeid.ID]bool, len(got))
			for i, n := range got {
				gotIDs[i] = n.ID
				in[n.ID] = true
			}
			for _, id := range truth {
				if in[id] {
					r.found++
				}
			}
			if sameSet(gotIDs, truth) {
				r.exact = 1
			}
			results[i] = r
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("simtest: lookups: %w", err)
	}
	var rounds, msgs []int
	var lat []time.Duration
	for _, r := range results {
		if r.err != nil {
			out.errors++
		}
		out.exact += r.exact
		out.recall += float64(r.found) / float64(k) / float64(len(results))
		rounds = append(rounds, r.st.Rounds)
		msgs = append(msgs, r.st.Messages)
		lat = append(lat, r.took)
	}
	out.rounds, out.messages, out.latency = distOf(rounds), distOf(msgs), distOf(lat)
	return out, nil
}
