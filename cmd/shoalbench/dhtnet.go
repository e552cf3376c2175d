package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-sync/shoal/dht/simnet"
	"github.com/shoal-sync/shoal/dht/simtest"
)

// netRun is one network of benchDHTInternet.
type netRun struct {
	name    string
	nodes   int
	off     bool
	env     []string // extra SHOAL_NET_* settings
	reports []simtest.InternetReport
}

// benchDHTInternet runs issue 15's measurements: lookups among 100,000
// simulated nodes under mainline-like conditions and with every knob off,
// and the growth of memory and CPU from 10,000 to 100,000 nodes, plus two
// variants at 10,000 (BEP 5's 8 nodes per answer; short timeouts for
// unknown contacts). Fake time needs testing/synctest, so each network
// runs in its own process of the simtest test binary (its peak RSS is its
// own), under GOGC=50. SHOAL_NET_MAX caps the nodes of every run,
// SHOAL_NET_LOOKUPS sets the lookups of the 100,000-node mainline row
// (default 1000) and SHOAL_NET_SIDE_LOOKUPS those of the others (default
// 300, so that the whole bench fits in well under an hour), SHOAL_NET_KEYS
// the keys looked up with FindPeers in that row (default 100; at most 50
// in the others), and SHOAL_NET_RUNS
// picks runs by number (0,1,...), for a quick look.
func benchDHTInternet(ctx context.Context, opt options, t *table) error {
	dir := opt.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "shoalbench-dhtnet")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := filepath.Join(dir, "simtest.test")
	if out, err := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./dht/simtest").CombinedOutput(); err != nil {
		return fmt.Errorf("build the simtest test binary: %w: %s", err, out)
	}
	maxNodes := envOr("SHOAL_NET_MAX", 100000)
	lookups := envOr("SHOAL_NET_LOOKUPS", 1000)
	// Smallest first, so that the growth rows come even when a long run
	// is stopped; the 100,000-node pair is the main figure.
	runs := []*netRun{
		{name: "mainline", nodes: 10000},
		{name: "mainline", nodes: 30000},
		{name: "mainline", nodes: 100000},
		{name: "all knobs off", nodes: 100000, off: true},
		{name: "mainline, 8 nodes per answer (BEP 5)", nodes: 10000, env: []string{"SHOAL_NET_ANSWER=8"}},
		{name: "mainline, unknown contacts time out at 250ms", nodes: 10000, env: []string{"SHOAL_NET_UNKNOWN=250ms"}},
		{name: "loss 1.5% only", nodes: 10000, env: []string{"SHOAL_NET_LOSS=0.015"}},
		{name: "all knobs off", nodes: 10000, off: true},
		// Ending find_node on contacts that two answers returned, without
		// their own answer: faster, but the dead among them are returned.
		{name: "mainline, find_node trusts contacts 2 answers vouch for", nodes: 10000, env: []string{"SHOAL_NET_VOUCH=2"}},
	}
	only := map[int]bool{} // SHOAL_NET_RUNS=0,2: only these runs (the summary needs 2 and 3)
	for _, f := range strings.Split(os.Getenv("SHOAL_NET_RUNS"), ",") {
		if n, err := strconv.Atoi(f); err == nil {
			only[n] = true
		}
	}
	for i, r := range runs {
		r.nodes = min(r.nodes, maxNodes)
		if len(only) > 0 && !only[i] {
			continue
		}
		out := filepath.Join(dir, fmt.Sprintf("report-%d.json", i))
		os.Remove(out)
		off := "0"
		if r.off {
			off = "1"
		}
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^TestInternet$", "-test.count=1", "-test.timeout=120m")
		n, keys := lookups, envOr("SHOAL_NET_KEYS", 100)
		if i != 2 {
			// The 100,000-node mainline row is the headline.
			n, keys = min(lookups, envOr("SHOAL_NET_SIDE_LOOKUPS", 300)), min(keys, 50)
		}
		cmd.Env = append(os.Environ(), "GOGC=50", "SHOAL_NET_OFF="+off, "SHOAL_NET_JSON="+out,
			"SHOAL_NET_NODES="+strconv.Itoa(r.nodes), "SHOAL_NET_LOOKUPS="+strconv.Itoa(n), "SHOAL_NET_KEYS="+strconv.Itoa(keys))
		cmd.Env = append(cmd.Env, r.env...)
		start := time.Now()
		fmt.Fprintf(os.Stderr, "dht-internet: %d nodes, %s ...", r.nodes, r.name)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%d nodes, %s: %w\n%s", r.nodes, r.name, err, b)
		}
		fmt.Fprintf(os.Stderr, " %v\n", time.Since(start).Round(time.Second))
		reps, err := readReports(out)
		if err != nil {
			return err
		}
		r.reports = reps
		printNetTable(os.Stderr, runs[:i+1]) // so far, in case the rest does not finish
	}
	printNetTable(os.Stdout, runs)
	if len(runs[2].reports) == 0 || len(runs[3].reports) == 0 {
		return nil
	}
	lossy, base := runs[2].reports[0], runs[3].reports[0]
	t.add(row{"exact k closest, mainline", fmt.Sprintf("%.2f%%", 100*lossy.ExactFraction()), "", "", "≥ 99.9%"})
	t.add(row{"full lookup p50 / p99, mainline", fmt.Sprintf("%v / %v", ms(lossy.Latency.P50), ms(lossy.Latency.P99)),
		fmt.Sprintf("floor %v / %v", ms(lossy.Floor.P50), ms(lossy.Floor.P99)),
		fmt.Sprintf("%.1f× / %.1f×", ratio(lossy.Latency.P50, lossy.Floor.P50), ratio(lossy.Latency.P99, lossy.Floor.P99)), "≤ 300 ms / ≤ 1 s"})
	t.add(row{"first peers p50, mainline", ms(lossy.FirstPeers.P50).String(), "", "", "≤ 200 ms"})
	t.add(row{"lookup p90, mainline vs knobs off", ms(lossy.Latency.P90).String(), ms(base.Latency.P90).String(),
		fmt.Sprintf("%.2f×", ratio(lossy.Latency.P90, base.Latency.P90)), ""})
	if l, o := runs[6].reports, runs[7].reports; len(l) > 0 && len(o) > 0 {
		t.add(row{fmt.Sprintf("lookup p90, 1.5%% loss only vs knobs off (%d nodes)", l[0].Nodes), ms(l[0].Latency.P90).String(), ms(o[0].Latency.P90).String(),
			fmt.Sprintf("%.2f×", ratio(l[0].Latency.P90, o[0].Latency.P90)), "≤ 1.5×"})
	}
	if v := runs[8].reports; len(v) > 0 {
		t.add(row{fmt.Sprintf("find_node trusting vouched contacts (%d nodes): exact, p50 / p99", v[0].Nodes),
			fmt.Sprintf("%.2f%%, %v / %v", 100*v[0].ExactFraction(), ms(v[0].Latency.P50), ms(v[0].Latency.P99)), "", "", "≥ 99.9%, ≤ 300 ms / ≤ 1 s"})
	}
	mem := func(r simtest.InternetReport) float64 { return float64(r.HeapPerNode+r.StackPerNode) / 1024 }
	t.add(row{fmt.Sprintf("memory per node at %d", lossy.Nodes), fmt.Sprintf("%.1f KiB", mem(lossy)), "50 KiB",
		fmt.Sprintf("%.2f", mem(lossy)/50), "≤ 1"})
	// The same lookup code over real sockets: 200 servers on loopback UDP
	// against 200 on simnet (1 ms links, real time).
	udp, err := simtest.RunUDP(ctx, simtest.UDPOptions{Nodes: 200, Lookups: 200, Seed: 15})
	if err != nil {
		return err
	}
	sim, err := simtest.RunLookups(ctx, simtest.LookupOptions{Nodes: 200, Lookups: 200, Seed: 15, Link: simnet.Link{Latency: time.Millisecond}})
	if err != nil {
		return err
	}
	t.add(row{"200 nodes, loopback UDP vs simnet: exact", fmt.Sprintf("%d/%d", udp.Exact, udp.Lookups), fmt.Sprintf("%d/%d", sim.Exact, sim.Lookups), "", "equal"})
	t.add(row{"200 nodes, loopback UDP vs simnet: messages p50/p90", fmt.Sprintf("%d/%d", udp.Messages.Median, udp.Messages.P90),
		fmt.Sprintf("%d/%d", sim.Messages.Median, sim.Messages.P90), fmt.Sprintf("%.2f", float64(udp.Messages.Median)/float64(max(sim.Messages.Median, 1))), "≈ 1"})
	t.add(row{"200 nodes, loopback UDP vs simnet: rounds p50/p90", fmt.Sprintf("%d/%d", udp.Rounds.Median, udp.Rounds.P90),
		fmt.Sprintf("%d/%d", sim.Rounds.Median, sim.Rounds.P90), "", "equal"})
	t.note("each row of the table above is one network in its own process; the floor is, per lookup, the slowest round trip from the querier to its true k closest: no lookup that hears from all of them can end sooner")
	return nil
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func envOr(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func readReports(path string) ([]simtest.InternetReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	defer f.Close()
	var out []simtest.InternetReport
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r simtest.InternetReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("read reports: %w", err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read reports: none in %s", path)
	}
	return out, sc.Err()
}

// printNetTable prints one line per network with its knobs beside it.
func printNetTable(w *os.File, runs []*netRun) {
	fmt.Fprintf(w, "\n== dht-internet: lookups in fake time (simnet), network clock ==\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "nodes\trun\texact\trounds p50/p90\tmsgs p50/p90\tlookup p50/p90/p99\tno query resent: p50/p90/p99 (lookups)\tfloor p50/p90/p99\tfirst 8 peers p50/p90/p99\tmem/node (heap+stack)\tRSS/node\tcpu/lookup")
	for _, r := range runs {
		for _, rep := range r.reports {
			fmt.Fprintf(tw, "%d\t%s\t%.2f%%\t%d/%d\t%d/%d\t%v\t%v (%d)\t%v\t%v (%d/%d)\t%.1f KiB\t%.1f KiB\t%v\n",
				rep.Nodes, r.name, 100*rep.ExactFraction(), rep.Rounds.Median, rep.Rounds.P90, rep.Messages.Median, rep.Messages.P90,
				rep.Latency, rep.LatencyNoTimeouts, rep.NoTimeouts, rep.Floor, rep.FirstPeers, rep.PeersFound, rep.PeerKeys,
				float64(rep.HeapPerNode+rep.StackPerNode)/1024, float64(rep.PeakRSS)/1024/float64(rep.Nodes), rep.CPUPerLookup.Round(10*time.Microsecond))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "knobs per run:")
	seen := map[string]bool{}
	for _, r := range runs {
		for _, rep := range r.reports {
			unknown := "700ms (default)"
			if rep.Unknown > 0 {
				unknown = rep.Unknown.String()
			}
			vouch := ""
			if rep.Vouch > 0 {
				vouch = fmt.Sprintf("; find_node ends without the answers of contacts %d answers returned", rep.Vouch)
			}
			k := fmt.Sprintf("  %s: %s; %d nodes per answer; unknown-contact timeout %s%s; warm-up %v; %.1f%% of table entries unreachable by a stranger; %d lookups, %d keys",
				r.name, rep.Conditions, rep.AnswerNodes, unknown, vouch, rep.Warmup, 100*rep.DeadEntries, rep.Lookups, rep.PeerKeys)
			if !seen[k] {
				seen[k] = true
				fmt.Fprintln(w, strings.TrimRight(k, " "))
			}
		}
	}
}
