// Command shoalbench runs the benchmark scenarios the issues name and
// prints each as a table: the measured figure, the limit it is compared
// with (measured on this machine in the same run), and the ratio.
//
//	go run ./cmd/shoalbench add     # chunking, hashing, shoal add/cat/get
//	go run ./cmd/shoalbench swarm   # block transfer between daemons
//	go run ./cmd/shoalbench dht     # DHT lookups: simulation and loopback UDP
//	go run ./cmd/shoalbench discovery # the dialer under dead candidates, rendezvous among 50 daemons, mDNS in network namespaces
//	go run ./cmd/shoalbench dht-internet  # 100,000 simulated nodes, mainline-like conditions
//	go run ./cmd/shoalbench gateway # trustless CARs, entity-bytes, ls of a big HAMT
//	go run ./cmd/shoalbench sync    # folder sync between daemons (SHOAL_BENCH_QUICK=1: small sizes)
//	go run ./cmd/shoalbench history # versions, restore, snapshot, history (SHOAL_BENCH_QUICK=1: small sizes)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
)

type scenario struct {
	about string
	run   func(ctx context.Context, opt options, t *table) error
}

type options struct {
	sizeMiB int
	sizeSet bool // --size was given
	workDir string
}

func scenarios() map[string]scenario {
	return map[string]scenario{
		"add":          {"FastCDC, SHA-256, shoal add (--nocopy and copy), cat and get of one file", benchAdd},
		"swarm":        {"get -o from one peer vs TLS loopback, daemon memory, 1 seed + 8 leechers", benchSwarm},
		"dht":          {"DHT memory, ping rate, loopback UDP lookups, simulated lookups and churn (real time)", benchDHT},
		"gateway":      {"GET ?format=car of 1 GiB vs shoal export and a page-cache read, entity-bytes block count, ls of a 100,000-entry HAMT", benchGateway},
		"discovery":    {"dialer under 1,000 dead candidates, DHT rendezvous among 50 daemons on loopback (join to all folder peers), mDNS on a LAN of two network namespaces", benchDiscovery},
		"dht-sim":      {"DHT simulation at the issue's sizes in fake time: 10,000 nodes, 6 h of churn (several minutes)", benchDHTSim},
		"sync":         {"folder sync between two daemons: 10,000 and 100,000 small files, edit latency, 1-byte insert, 1 GiB file, scan, store size, RSS (issue 11)", benchSync},
		"dht-internet": {"DHT lookups among 100,000 simulated nodes under mainline-like conditions (issue 15; about half an hour)", benchDHTInternet},
		"history":      {"versions kept by rename (disk writes), restore DIR --at vs initial sync, snapshot, history of a path with 1,000 versions (issue 13)", benchHistory},
	}
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == rssWrapFlag {
		rssWrap(os.Args[2:])
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fs := flag.NewFlagSet("shoalbench", flag.ExitOnError)
	size := fs.Int("size", 512, "MiB of data per scenario")
	dir := fs.String("dir", "", "work directory (default: a temporary one)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: shoalbench [--size MiB] [--dir DIR] SCENARIO...")
		names := make([]string, 0)
		for n := range scenarios() {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, scenarios()[n].about)
		}
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	for _, name := range fs.Args() {
		sc, ok := scenarios()[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "shoalbench: unknown scenario %q\n", name)
			os.Exit(2)
		}
		t := &table{title: name}
		sizeSet := false
		fs.Visit(func(f *flag.Flag) { sizeSet = sizeSet || f.Name == "size" })
		err := sc.run(ctx, options{sizeMiB: *size, sizeSet: sizeSet, workDir: *dir}, t)
		t.print(os.Stdout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "shoalbench %s: %v\n", name, err)
			os.Exit(1)
		}
	}
}

// table collects rows of figure / limit / ratio.
type table struct {
	title string
	rows  []row
	notes []string
}

type row struct {
	name, value, limit, ratio, goal string
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s ==\n", t.title)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tlimit (same run)\tratio\tgoal")
	fmt.Fprintln(tw, strings.Repeat("-", 7)+"\t"+strings.Repeat("-", 5)+"\t"+strings.Repeat("-", 16)+"\t"+strings.Repeat("-", 5)+"\t"+strings.Repeat("-", 4))
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.value, r.limit, r.ratio, r.goal)
	}
	tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

func mbps(bytes int64, secs float64) string {
	return fmt.Sprintf("%.0f MB/s", float64(bytes)/secs/1e6)
}
