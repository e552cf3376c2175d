package simtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/lookup"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// InternetOptions configures RunInternet. The zero value runs 2,000 nodes
// and 200 lookups under simnet.Mainline conditions.
type InternetOptions struct {
	Nodes       int // default 2000
	Lookups     int // FindNode lookups of random targets; default 200
	Concurrency int // lookups in flight; default 32
	// Conditions of the network; Off runs every knob off (a lossless
	// network whose links all take Link).
	Conditions simnet.Conditions
	Off        bool
	Link       simnet.Link // used where Conditions leave a knob off; default 50 ms one way
	// Warmup is how long the network runs idle before the lookups, so
	// that sessions end and tables point at hosts that left; default 10
	// minutes when sessions are on.
	Warmup time.Duration
	// PeerKeys are keys announced by Announcers nodes each before the
	// lookups, then looked up once each with FindPeers; default 20 and 8.
	PeerKeys, Announcers int
	Timeouts             lookup.Policy // dht.Config.LookupTimeouts
	AnswerNodes          int           // dht.Config.AnswerNodes; default 16 (2·k)
	Vouch                int           // dht.Config.FindNodeVouch; default 0
	Alpha                int           // dht.Config.Alpha; default 3
	Seed                 uint64
}

// InternetReport is what RunInternet measured, in the network's clock.
type InternetReport struct {
	Nodes, Lookups int
	Conditions     simnet.Conditions
	Link           simnet.Link
	Warmup         time.Duration
	AnswerNodes    int
	Vouch          int           // FindNode's dht.Config.FindNodeVouch (0: every one of the k closest answers)
	Unknown        time.Duration // query timeout of unmeasured contacts (lookup.Policy.Unknown, 0: its default)
	Up             int           // nodes up when the lookups began
	DeadEntries    float64       // share of the seeded table entries a stranger cannot reach (down or behind a NAT) at that time
	TooSlow        int           // closer nodes whose round trip exceeds the query timeout: a lookup may return them or not
	NATLeftOut     int           // closer hosts behind NATs open to the querier, left out of the truth (see truth)
	TruthMoved     int           // lookups whose true k closest changed while they ran (a host came or went)
	QuerierLeft    int           // lookups whose querier's session ended before it finished: not counted
	Exact          int           // lookups that returned exactly the k closest live nodes the querier can reach
	Recall         float64
	Errors         int
	Rounds         Dist[int]
	Messages       Dist[int]
	Latency        Percentiles // full lookups (the k closest answered)
	// NoTimeouts lookups resent no query (no loss, nobody dead or
	// slower than its stall time on the way); LatencyNoTimeouts is theirs.
	NoTimeouts        int
	LatencyNoTimeouts Percentiles
	Floor             Percentiles // per lookup, the slowest round trip to its true k closest
	PeerKeys          int
	PeersFound        int           // FindPeers that saw Announcers peers
	FirstPeers        Percentiles   // time to the first Announcers peers
	PeersFull         Percentiles   // FindPeers to its end (the k closest, for an announce)
	HeapPerNode       uint64        // live heap after building the network, over Nodes
	StackPerNode      uint64        // goroutine stacks, over Nodes
	Goroutines        float64       // per node
	CPUPerLookup      time.Duration // the whole process's during the lookups (every node's work), over Lookups
	PeakRSS           uint64        // the process's, at the end (run one network per process)
	Net               simnet.Stats
}

// Percentiles are a latency sample's p50, p90 and p99.
type Percentiles struct{ P50, P90, P99 time.Duration }

func percentiles(xs []time.Duration) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, max(0, int(p*float64(len(s))+0.999999999)-1))] }
	return Percentiles{at(0.5), at(0.9), at(0.99)}
}

func (o InternetOptions) withDefaults() InternetOptions {
	if o.Nodes <= 0 {
		o.Nodes = 2000
	}
	if o.Lookups <= 0 {
		o.Lookups = 200
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Off {
		o.Conditions = simnet.Conditions{}
	} else if o.Conditions.Off() {
		o.Conditions = simnet.Mainline(o.Seed)
	}
	if o.Link == (simnet.Link{}) {
		o.Link = simnet.Link{Latency: 50 * time.Millisecond}
	}
	if o.Warmup == 0 && o.Conditions.SessionMedian > 0 {
		o.Warmup = 10 * time.Minute
	}
	if o.AnswerNodes <= 0 {
		o.AnswerNodes = 16
	}
	if o.PeerKeys <= 0 {
		o.PeerKeys = 20
	}
	if o.Announcers <= 0 {
		o.Announcers = 8
	}
	return o
}

// seededStore hands a new server the routing table a long-running network
// gives it (dht.Config.Store), as if saved on its last run: up to k nodes
// for each shared-prefix length with its ID, drawn from every node, so
// that they include hosts behind NATs and hosts that will leave. It lets
// go of them once loaded (the server keeps its Store), so that they do not
// count as the node's memory.
type seededStore struct{ nodes []dht.NodeInfo }

func (s *seededStore) LoadNodes() ([]dht.NodeInfo, error) {
	n := s.nodes
	s.nodes = nil
	return n, nil
}

func (*seededStore) SaveNodes([]dht.NodeInfo) error { return nil }

// world is every node's ID and address, by index and sorted by ID.
type world struct {
	ids    []nodeid.ID
	addrs  []netip.AddrPort
	sorted []int // indexes ordered by ID
	natted []bool
}

// tableFor draws node i's seeded table: for each prefix length d, up to k
// random nodes sharing exactly d leading bits with it, among the hosts not
// behind a NAT. A node's table holds the nodes that answered its queries
// (dht.Config.VerifyDelay: a host that only queried it is pinged after
// its NAT forgot the mapping, and fails), so a long-running network's
// tables hold hosts that have left since (churn) but not NAT'ed ones.
func (w *world) tableFor(i, k int, rng *rand.Rand) []dht.NodeInfo {
	self := w.ids[i]
	var out []dht.NodeInfo
	for d := 0; d < 160; d++ {
		if lo, hi := w.prefixRange(self, d, false); hi-lo <= 1 {
			break // nobody else shares d bits: the deeper buckets are empty
		}
		lo, hi := w.prefixRange(self, d, true)
		var cands []int
		for _, idx := range w.sorted[lo:hi] {
			if !w.natted[idx] {
				cands = append(cands, idx)
			}
		}
		for _, j := range pick(rng, len(cands), k) {
			idx := cands[j]
			out = append(out, dht.NodeInfo{ID: w.ids[idx], Addr: w.addrs[idx]})
		}
	}
	return out
}

// prefixRange returns the range of w.sorted whose IDs have self's first d
// bits followed by bit d of self flipped (flip) or by anything (not flip).
func (w *world) prefixRange(self nodeid.ID, d int, flip bool) (int, int) {
	var lo, hi nodeid.ID
	for b := range 160 {
		mask := byte(1) << (7 - b%8)
		bit := self[b/8] & mask
		switch {
		case b < d:
		case b == d && flip:
			bit ^= mask
		default:
			hi[b/8] |= mask
			continue
		}
		lo[b/8] |= bit
		hi[b/8] |= bit
	}
	cmp := func(i int, id nodeid.ID) int { return slices.Compare(w.ids[i][:], id[:]) }
	a, _ := slices.BinarySearchFunc(w.sorted, lo, cmp)
	z, found := slices.BinarySearchFunc(w.sorted, hi, cmp)
	if found {
		z++
	}
	return a, z
}

// pick returns min(k, n) distinct indexes below n.
func pick(rng *rand.Rand, n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		if j := rng.IntN(n); !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// RunInternet builds a network of opt.Nodes servers whose tables are
// seeded as a long-running network's would be (seededStore), under
// opt.Conditions; lets it run idle for opt.Warmup; has opt.PeerKeys keys
// announced; then runs opt.Lookups FindNode lookups from random nodes that
// are up and checks each against the true k closest among the nodes the
// querier can reach (up, not behind a NAT, round trip under the query
// timeout; see truth), and one FindPeers per key. Call it inside a
// synctest bubble.
func RunInternet(ctx context.Context, opt InternetOptions) (InternetReport, error) {
	opt = opt.withDefaults()
	const k = 8
	rep := InternetReport{Nodes: opt.Nodes, Lookups: opt.Lookups, Conditions: opt.Conditions, Link: opt.Link, Warmup: opt.Warmup, AnswerNodes: opt.AnswerNodes, Vouch: opt.Vouch, Unknown: opt.Timeouts.Unknown}
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()
	base := dht.Config{
		K: k, LookupTimeouts: opt.Timeouts, AnswerNodes: opt.AnswerNodes, FindNodeVouch: opt.Vouch, Alpha: opt.Alpha,
		// Newcomers are verified after their NAT forgot them, as on the
		// internet (dht.Config.Public's default), so hosts behind NATs
		// stay out of tables (and out of the seeded ones, see tableFor).
		VerifyDelay: 2 * time.Minute,
		// No bucket refresh during the run: the seeded tables would all
		// be refreshed at once at the first maintenance.
		MaintainInterval: time.Hour,
	}
	c := newCluster(simnet.Options{Link: opt.Link, Seed: opt.Seed, QueueLen: 256, Conditions: opt.Conditions}, base, opt.Seed)
	defer c.close()

	w := &world{}
	for i := range opt.Nodes {
		w.ids = append(w.ids, c.randomID())
		w.addrs = append(w.addrs, c.addrAt(uint32(i+1)))
		w.sorted = append(w.sorted, i)
		w.natted = append(w.natted, c.net.IsUnreachable(w.addrs[i].Addr()))
	}
	slices.SortFunc(w.sorted, func(a, b int) int { return slices.Compare(w.ids[a][:], w.ids[b][:]) })
	for i := range opt.Nodes {
		n, err := c.startWith(w.ids[i], nil, &seededStore{w.tableFor(i, k, c.rng)})
		if err != nil {
			return rep, err
		}
		if n.addr != w.addrs[i] {
			return rep, fmt.Errorf("simtest: node %d listens on %s, want %s", i, n.addr, w.addrs[i])
		}
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > ms0.HeapAlloc {
		rep.HeapPerNode = (ms.HeapAlloc - ms0.HeapAlloc) / uint64(opt.Nodes)
	}
	rep.StackPerNode = (ms.StackInuse - ms0.StackInuse) / uint64(opt.Nodes)
	rep.Goroutines = float64(runtime.NumGoroutine()-g0) / float64(opt.Nodes)

	if opt.Warmup > 0 {
		select {
		case <-time.After(opt.Warmup):
		case <-ctx.Done():
			return rep, ctx.Err()
		}
	}
	var up []*node
	for _, n := range c.live {
		if !c.net.IsDown(n.addr.Addr()) {
			up = append(up, n)
		}
	}
	rep.Up = len(up)
	rep.DeadEntries = c.deadEntries()

	if err := c.announceKeys(ctx, up, &rep, opt); err != nil {
		return rep, err
	}
	if err := c.internetLookups(ctx, w, up, &rep, opt, k); err != nil {
		return rep, err
	}
	rep.Net = c.net.Stats()
	rep.PeakRSS = peakRSS()
	return rep, nil
}

// deadEntries returns the share of table entries, over every node, that a
// stranger's query would not reach now.
func (c *cluster) deadEntries() float64 {
	var all, dead int
	stranger := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 1}), simPort)
	for _, n := range c.live {
		for _, b := range n.srv.Table() {
			for _, e := range b.Nodes {
				all++
				if c.net.IsDown(e.Addr.Addr()) || !c.net.Reaches(stranger, e.Addr) {
					dead++
				}
			}
		}
	}
	if all == 0 {
		return 0
	}
	return float64(dead) / float64(all)
}

// truthCands is how many XOR-closest IDs are drawn, before a lookup, as
// the candidates its truth is picked from when it ends; if too few of them
// can be reached, truth scans everything.
const truthCands = 96

// truth returns the k nodes closest to target that are up now, not
// behind a NAT, and answer from with a round trip under timeout, taken
// from cands (the closest IDs in order) or, when those do not hold k, from
// every ID; the closer ones dropped for being too slow, and how many for
// being behind a NAT. A host behind a NAT is live but answers only the nodes it
// has just sent to: it is in no routing table (dht.Config.VerifyDelay),
// no lookup can learn of it, and a value stored on it would serve nobody
// else, so no lookup is asked to find it, even when its NAT happens to be
// open to the querier.
func (c *cluster) truth(w *world, from *node, target nodeid.ID, cands []nodeid.ID, k int, timeout time.Duration) (best []nodeid.ID, floor time.Duration, slow []nodeid.ID, natted int) {
	for {
		best, floor, slow, natted = best[:0], 0, slow[:0], 0
		for _, id := range cands {
			n := c.byID[id]
			if n == nil || !c.net.Reaches(from.addr, n.addr) {
				continue
			}
			if w.natted[n.index] {
				natted++
				continue
			}
			rt := c.net.RoundTrip(from.addr.Addr(), n.addr.Addr())
			if rt >= timeout {
				slow = append(slow, id)
				continue
			}
			best = append(best, id)
			floor = max(floor, rt)
			if len(best) == k {
				return best, floor, slow, natted
			}
		}
		if len(cands) >= len(w.ids)-1 {
			return best, floor, slow, natted
		}
		cands = closest(w.ids, target, len(w.ids), from.id)
	}
}

// exactWith reports whether got is the k closest of best and of those
// nodes of slow that got holds: a node whose round trip exceeds the query
// timeout need not be found, but a lookup that waited long enough to hear
// from it is right to return it in place of a farther one.
func exactWith(got, best, slow []nodeid.ID, target nodeid.ID, k int) bool {
	want := slices.Clone(best)
	for _, id := range slow {
		if slices.Contains(got, id) {
			want = append(want, id)
		}
	}
	slices.SortFunc(want, func(a, b nodeid.ID) int { return nodeid.Cmp(target, a, b) })
	return sameSet(got, want[:min(k, len(want))])
}

// internetLookups runs the FindNode lookups and fills rep.
func (c *cluster) internetLookups(ctx context.Context, w *world, up []*node, rep *InternetReport, opt InternetOptions, k int) error {
	type result struct {
		left         bool
		exact, found int
		err          error
		st           dht.LookupStats
		took, floor  time.Duration
		tooSlow      int
		natted       int
		moved        bool
	}
	results := make([]result, opt.Lookups)
	from := make([]*node, opt.Lookups)
	targets := make([]nodeid.ID, opt.Lookups)
	cands := make([][]nodeid.ID, opt.Lookups)
	for i := range from {
		from[i], targets[i] = up[c.rng.IntN(len(up))], c.randomID()
		// Drawn before the CPU is measured: it scans every ID.
		cands[i] = closest(w.ids, targets[i], truthCands, from[i].id)
	}
	cpu0 := cpuTime()
	defer func() { rep.CPUPerLookup = (cpuTime() - cpu0) / time.Duration(opt.Lookups) }()
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex // truth reads the network
	for i := range opt.Lookups {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			mu.Lock()
			truth0, _, slow0, _ := c.truth(w, from[i], targets[i], cands[i], k, 2*time.Second)
			mu.Unlock()
			t0 := time.Now()
			got, st, err := from[i].srv.FindNode(ctx, targets[i])
			r := result{err: err, st: st, took: time.Since(t0)}
			if c.net.IsDown(from[i].addr.Addr()) {
				results[i] = result{left: true}
				return
			}
			mu.Lock()
			truth, floor, slow, natted := c.truth(w, from[i], targets[i], cands[i], k, 2*time.Second)
			mu.Unlock()
			r.floor, r.tooSlow, r.natted = floor, len(slow), natted
			gotIDs := make([]nodeid.ID, len(got))
			for j, n := range got {
				gotIDs[j] = n.ID
				if slices.Contains(truth, n.ID) {
					r.found++
				}
			}
			// A host that came or went while the lookup ran: either set of
			// the k closest live nodes is right.
			r.moved = !sameSet(truth0, truth)
			if exactWith(gotIDs, truth, slow, targets[i], k) || r.moved && exactWith(gotIDs, truth0, slow0, targets[i], k) {
				r.exact = 1
			}
			results[i] = r
		})
	}
	wg.Wait()
	var rounds, msgs []int
	var lat, floors []time.Duration
	counted := 0
	for _, r := range results {
		if !r.left {
			counted++
		}
	}
	for _, r := range results {
		if r.left {
			rep.QuerierLeft++
			continue
		}
		if r.err != nil {
			rep.Errors++
		}
		rep.Exact += r.exact
		rep.TooSlow += r.tooSlow
		rep.NATLeftOut += r.natted
		if r.moved {
			rep.TruthMoved++
		}
		rep.Recall += float64(r.found) / float64(k) / float64(counted)
		rounds, msgs = append(rounds, r.st.Rounds), append(msgs, r.st.Messages)
		lat, floors = append(lat, r.took), append(floors, r.floor)
	}
	rep.Rounds, rep.Messages = distOf(rounds), distOf(msgs)
	rep.Latency, rep.Floor = percentiles(lat), percentiles(floors)
	var clean []time.Duration
	for _, r := range results {
		if !r.left && r.st.Failures == 0 {
			clean = append(clean, r.took)
		}
	}
	rep.NoTimeouts, rep.LatencyNoTimeouts = len(clean), percentiles(clean)
	return ctx.Err()
}

// announceKeys has opt.Announcers random up nodes announce each of
// opt.PeerKeys keys, then looks each key up once with FindPeers from
// another up node, timing the first opt.Announcers peers and the end.
func (c *cluster) announceKeys(ctx context.Context, up []*node, rep *InternetReport, opt InternetOptions) error {
	rep.PeerKeys = opt.PeerKeys
	keys := make([]nodeid.ID, opt.PeerKeys)
	for i := range keys {
		keys[i] = c.randomID()
	}
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	for _, key := range keys {
		for _, j := range pick(c.rng, len(up), opt.Announcers) {
			n := up[j]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				n.srv.Announce(ctx, key, 0, true)
			})
		}
	}
	wg.Wait()
	first := make([]time.Duration, len(keys))
	full := make([]time.Duration, len(keys))
	found := make([]bool, len(keys))
	for i, key := range keys {
		n := up[c.rng.IntN(len(up))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			n.srv.FindPeers(ctx, key, dht.PeersOptions{Enough: opt.Announcers, Early: func([]netip.AddrPort) {
				found[i], first[i] = true, time.Since(t0)
			}})
			full[i] = time.Since(t0)
		})
	}
	wg.Wait()
	var firsts []time.Duration
	for i := range keys {
		if found[i] {
			rep.PeersFound++
			firsts = append(firsts, first[i])
		}
	}
	rep.FirstPeers, rep.PeersFull = percentiles(firsts), percentiles(full)
	return ctx.Err()
}

// ExactFraction is Exact over the lookups counted (those whose querier
// stayed up).
func (r InternetReport) ExactFraction() float64 {
	if n := r.Lookups - r.QuerierLeft; n > 0 {
		return float64(r.Exact) / float64(n)
	}
	return 0
}

// String formats p as "p50 / p90 / p99".
func (p Percentiles) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("%v / %v / %v", r(p.P50), r(p.P90), r(p.P99))
}

// WriteTo prints the report as a table.
func (r InternetReport) WriteTo(w io.Writer) (int64, error) {
	return writeRows(w, "dht lookups under internet conditions (simnet)", [][2]string{
		{"nodes", fmt.Sprintf("%d (%d up after %v of warm-up)", r.Nodes, r.Up, r.Warmup)},
		{"conditions", r.Conditions.String()},
		{"nodes per answer", fmt.Sprint(r.AnswerNodes)},
		{"find_node ends without the answer of contacts vouched for by", fmt.Sprint(r.Vouch, " answering nodes (0: off)")},
		{"table entries a stranger cannot reach", fmt.Sprintf("%.1f%%", 100*r.DeadEntries)},
		{"exact k closest", fmt.Sprintf("%d/%d = %.2f%% (recall %.3f%%; %d errors; %d closer nodes too slow for the query timeout and %d behind NATs open to the querier left out; %d lookups whose k closest changed as they ran; %d not counted: their querier left)",
			r.Exact, r.Lookups-r.QuerierLeft, 100*r.ExactFraction(), 100*r.Recall, r.Errors, r.TooSlow, r.NATLeftOut, r.TruthMoved, r.QuerierLeft)},
		{"rounds", distString(r.Rounds)},
		{"messages", distString(r.Messages)},
		{"lookup latency p50/p90/p99", r.Latency.String()},
		{"the same, lookups that resent no query", fmt.Sprintf("%v (%d lookups)", r.LatencyNoTimeouts, r.NoTimeouts)},
		{"floor: slowest RTT to the k closest", r.Floor.String()},
		{"first peers p50/p90/p99", fmt.Sprintf("%v (%d/%d keys; full get_peers %v)", r.FirstPeers, r.PeersFound, r.PeerKeys, r.PeersFull)},
		{"memory per node", fmt.Sprintf("%.1f KiB heap + %.1f KiB stacks, %.1f goroutines", float64(r.HeapPerNode)/1024, float64(r.StackPerNode)/1024, r.Goroutines)},
		{"cpu per lookup", r.CPUPerLookup.String()},
		{"peak RSS", fmt.Sprintf("%.0f MiB = %.1f KiB per node", float64(r.PeakRSS)/(1<<20), float64(r.PeakRSS)/1024/float64(max(r.Nodes, 1)))},
		{"packets", fmt.Sprintf("%d sent, %d delivered, %d lost, %d unreachable, %d filtered by NAT, %d overflow",
			r.Net.Sent, r.Net.Delivered, r.Net.Lost, r.Net.Unreachable, r.Net.Filtered, r.Net.Overflow)},
	})
}
