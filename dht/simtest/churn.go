package simtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// ChurnOptions configures RunChurn. The zero value runs issue 5's schedule
// (30% of nodes replaced per hour for 6 hours) on 200 nodes with 100 keys
// over a network with no latency and no loss.
type ChurnOptions struct {
	Nodes      int // nodes in the network, announcers included; default 200
	Announcers int // nodes that never leave and keep the keys announced; default 10
	Keys       int // keys announced, spread over the announcers; default 100
	// Duration is how long the churn runs; default 6 hours.
	Duration time.Duration
	// ChurnPerHour is the fraction of the other nodes replaced each hour;
	// default 0.3. Negative means none.
	ChurnPerHour float64
	// Step is how often nodes are replaced (in even batches); default 1 minute.
	Step time.Duration
	// CheckEvery is how often every key is looked up with GetPeers during
	// the run, besides at the end; default every hour. Negative: only at the end.
	CheckEvery  time.Duration
	Concurrency int         // GetPeers lookups in flight during checks; default 16
	Link        simnet.Link // every link's latency, jitter and loss
	Seed        uint64
	K, Alpha    int          // dht.Config's; zero takes the dht defaults
	Timeouts    dht.Config   // QueryTimeout, PeerTTL, AnnounceInterval, MaintainInterval, TokenRotation are taken from here
	Logger      *slog.Logger // for the servers; default: discard
}

// ChurnCheck is one pass of GetPeers over every key.
type ChurnCheck struct {
	At       time.Duration // since the churn began
	Found    int           // keys whose announcer was found
	Keys     int
	Rounds   Dist[int]
	Messages Dist[int]
}

// Fraction is Found / Keys.
func (c ChurnCheck) Fraction() float64 {
	if c.Keys == 0 {
		return 0
	}
	return float64(c.Found) / float64(c.Keys)
}

// ChurnReport is what RunChurn measured.
type ChurnReport struct {
	Nodes, Announcers, Keys int
	Link                    simnet.Link
	Duration                time.Duration
	Replaced                int // nodes stopped and replaced by new ones
	BootstrapFailures       int
	Checks                  []ChurnCheck // the last one is at the end of the run
	TableGood               float64      // fraction of table entries rated good, at the end
	TableLive               float64      // fraction of table entries that are live nodes
	TableEntries            int
	Net                     simnet.Stats
	CPU                     time.Duration
}

// Final returns the check made at the end of the run.
func (r ChurnReport) Final() ChurnCheck {
	if len(r.Checks) == 0 {
		return ChurnCheck{}
	}
	return r.Checks[len(r.Checks)-1]
}

func (o ChurnOptions) withDefaults() ChurnOptions {
	if o.Nodes <= 0 {
		o.Nodes = 200
	}
	if o.Announcers <= 0 {
		o.Announcers = 10
	}
	o.Announcers = min(o.Announcers, o.Nodes)
	if o.Keys <= 0 {
		o.Keys = 100
	}
	if o.Duration <= 0 {
		o.Duration = 6 * time.Hour
	}
	if o.ChurnPerHour == 0 {
		o.ChurnPerHour = 0.3
	}
	if o.Step <= 0 {
		o.Step = time.Minute
	}
	if o.CheckEvery == 0 {
		o.CheckEvery = time.Hour
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	return o
}

// RunChurn builds a network of opt.Nodes servers, has opt.Announcers of
// them keep opt.Keys keys announced (dht.Server.KeepAnnounced), replaces
// the other nodes at opt.ChurnPerHour for opt.Duration, and checks with
// GetPeers from random non-announcing nodes that every key still leads to
// its announcer. Call it inside a synctest bubble to run in fake time.
func RunChurn(ctx context.Context, opt ChurnOptions) (ChurnReport, error) {
	opt = opt.withDefaults()
	cpu0 := cpuTime()
	rep := ChurnReport{Nodes: opt.Nodes, Announcers: opt.Announcers, Keys: opt.Keys, Link: opt.Link, Duration: opt.Duration}
	base := dht.Config{
		K: opt.K, Alpha: opt.Alpha, Logger: opt.Logger,
		QueryTimeout:     opt.Timeouts.QueryTimeout,
		PeerTTL:          opt.Timeouts.PeerTTL,
		AnnounceInterval: opt.Timeouts.AnnounceInterval,
		MaintainInterval: opt.Timeouts.MaintainInterval,
		TokenRotation:    opt.Timeouts.TokenRotation,
	}
	c := newCluster(simnet.Options{Link: opt.Link, Seed: opt.Seed, QueueLen: 512}, base, opt.Seed)
	defer c.close()
	failed, err := c.grow(ctx, opt.Nodes)
	if err != nil {
		return rep, fmt.Errorf("simtest: grow network to %d nodes: %w", opt.Nodes, err)
	}
	rep.BootstrapFailures = failed

	// The first nodes announce; they are never replaced.
	announcers := slices.Clone(c.live[:opt.Announcers])
	stays := make(map[*node]bool, len(announcers))
	for _, a := range announcers {
		stays[a] = true
	}
	keys := make([]nodeid.ID, opt.Keys)
	owner := make([]*node, opt.Keys)
	for i := range keys {
		keys[i] = c.randomID()
		owner[i] = announcers[i%len(announcers)]
	}
	annCtx, stopAnnouncing := context.WithCancel(ctx)
	var announcing sync.WaitGroup
	defer func() {
		stopAnnouncing()
		announcing.Wait()
	}()
	for i, k := range keys {
		announcing.Go(func() { owner[i].srv.KeepAnnounced(annCtx, k, simPort, true) })
	}

	start := time.Now()
	step := time.NewTicker(opt.Step)
	defer step.Stop()
	nextCheck := opt.CheckEvery
	for elapsed := time.Duration(0); elapsed < opt.Duration; {
		select {
		case <-ctx.Done():
			return rep, fmt.Errorf("simtest: churn: %w", ctx.Err())
		case <-step.C:
		}
		elapsed = time.Since(start)
		if opt.ChurnPerHour > 0 {
			due := int(opt.ChurnPerHour*float64(opt.Nodes-opt.Announcers)*min(elapsed, opt.Duration).Hours() + 1e-9)
			var fresh []*node
			for ; rep.Replaced < due; rep.Replaced++ {
				victim := c.live[c.rng.IntN(len(c.live))]
				for stays[victim] {
					victim = c.live[c.rng.IntN(len(c.live))]
				}
				c.stop(victim)
				n, err := c.start(c.randomPeers(3, len(c.live)))
				if err != nil {
					return rep, err
				}
				fresh = append(fresh, n)
			}
			rep.BootstrapFailures += c.bootstrap(ctx, fresh)
		}
		if opt.CheckEvery > 0 && elapsed >= nextCheck && elapsed < opt.Duration {
			nextCheck += opt.CheckEvery
			rep.Checks = append(rep.Checks, c.check(ctx, keys, owner, stays, opt.Concurrency, elapsed))
		}
	}
	rep.Checks = append(rep.Checks, c.check(ctx, keys, owner, stays, opt.Concurrency, time.Since(start)))
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("simtest: churn: %w", err)
	}
	rep.TableGood, rep.TableLive, rep.TableEntries = c.tableHealth()
	rep.Net = c.net.Stats()
	rep.CPU = cpuTime() - cpu0
	return rep, nil
}

// check looks every key up with GetPeers from a random node that does not
// announce, and counts the keys whose owner's address came back.
func (c *cluster) check(ctx context.Context, keys []nodeid.ID, owner []*node, stays map[*node]bool, concurrency int, at time.Duration) ChurnCheck {
	out := ChurnCheck{At: at, Keys: len(keys)}
	from := make([]*node, len(keys))
	for i := range keys {
		n := c.live[c.rng.IntN(len(c.live))]
		for stays[n] && len(stays) < len(c.live) {
			n = c.live[c.rng.IntN(len(c.live))]
		}
		from[i] = n
	}
	found := make([]bool, len(keys))
	stats := make([]dht.LookupStats, len(keys))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			peers, st, _ := from[i].srv.GetPeers(ctx, k)
			stats[i] = st
			found[i] = slices.Contains(peers, owner[i].addr)
		})
	}
	wg.Wait()
	var rounds, msgs []int
	for i := range keys {
		if found[i] {
			out.Found++
		}
		rounds = append(rounds, stats[i].Rounds)
		msgs = append(msgs, stats[i].Messages)
	}
	out.Rounds, out.Messages = distOf(rounds), distOf(msgs)
	return out
}

// WriteTo prints the report as a table.
func (r ChurnReport) WriteTo(w io.Writer) (int64, error) {
	rows := [][2]string{
		{"nodes", fmt.Sprintf("%d (%d announcers that stay)", r.Nodes, r.Announcers)},
		{"links", r.Link.String()},
		{"churn", fmt.Sprintf("%d nodes replaced over %v, %d bootstraps failed", r.Replaced, r.Duration, r.BootstrapFailures)},
	}
	for _, ch := range r.Checks {
		rows = append(rows, [2]string{
			fmt.Sprintf("found at %v", roundAt(ch.At)),
			fmt.Sprintf("%d/%d = %.2f%% (rounds %s; messages %s)", ch.Found, ch.Keys, 100*ch.Fraction(), distString(ch.Rounds), distString(ch.Messages)),
		})
	}
	rows = append(rows,
		[2]string{"table entries", fmt.Sprintf("%d, %.1f%% good, %.1f%% live", r.TableEntries, 100*r.TableGood, 100*r.TableLive)},
		[2]string{"packets", fmt.Sprintf("%d sent, %d delivered, %d lost, %d unreachable, %d overflow", r.Net.Sent, r.Net.Delivered, r.Net.Lost, r.Net.Unreachable, r.Net.Overflow)},
		[2]string{"cpu", fmt.Sprint(r.CPU)},
	)
	return writeRows(w, "dht churn (simnet)", rows)
}

// CompressedChurn returns options that squeeze issue 5's six hours of
// churn into wall of real time, for runs outside a synctest bubble (such
// as `shoalbench dht`): the churn rate, step and checks shrink by
// 6h/wall; the dht's announce interval and peer TTL shrink too but not
// below 2 s and 4 s, its maintenance period not below 100 ms, and the query
// timeout (500 ms) and token rotation (5 s) stay usable on a busy machine.
// Links have zero latency. The routing table's own 15-minute constants
// (good-node age, bucket refresh) do not shrink, so table health is not
// comparable with a fake-time run. Use a minute or more: below that the
// announce interval no longer shrinks with the churn.
func CompressedChurn(wall time.Duration) ChurnOptions {
	const sim = 6 * time.Hour
	f := float64(wall) / float64(sim)
	scale := func(d, floor time.Duration) time.Duration { return max(time.Duration(float64(d)*f), floor) }
	announce := scale(15*time.Minute, 2*time.Second)
	return ChurnOptions{
		Duration:     wall,
		ChurnPerHour: 0.3 / f,
		Step:         scale(time.Minute, 10*time.Millisecond),
		CheckEvery:   scale(time.Hour, 10*time.Millisecond),
		Timeouts: dht.Config{
			QueryTimeout:     500 * time.Millisecond,
			PeerTTL:          2 * announce,
			AnnounceInterval: announce,
			MaintainInterval: scale(time.Minute, 100*time.Millisecond),
			TokenRotation:    5 * time.Second,
		},
	}
}

// roundAt rounds a time into the run for printing.
func roundAt(d time.Duration) time.Duration {
	if d >= time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(100 * time.Millisecond)
}
