package simtest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/shoal-sync/shoal/dht/simnet"
)

// BenchOptions sizes RunBench. The zero value takes about two minutes of
// real time on a small machine.
type BenchOptions struct {
	Nodes   int         // simnet nodes for the lookup run; default 1000
	Lookups int         // default 200
	Link    simnet.Link // simnet links for the lookup run; default none (real time is slow at 50 ms)
	// ChurnWall is the real time the compressed six hours of churn take
	// (see CompressedChurn); default 60 s; negative skips the churn run.
	ChurnWall  time.Duration
	ChurnNodes int // default 200
	ChurnKeys  int // default 100
	UDPNodes   int // default 200
	MemNodes   int // default 2000
	Seed       uint64
}

// RunBench runs every measurement in real time, outside a synctest bubble,
// and writes one table each to w: memory per node, ping rate, loopback UDP
// lookups, simnet lookups and compressed churn. It is what `shoalbench dht`
// prints; the fake-time figures at issue 5's sizes come from this package's
// tests (SHOAL_SIM_NODES=10000 go test -run TestLookups ./dht/simtest).
func RunBench(ctx context.Context, w io.Writer, opt BenchOptions) error {
	if opt.ChurnWall == 0 {
		opt.ChurnWall = time.Minute
	}
	mem, err := RunMemory(ctx, MemoryOptions{Nodes: opt.MemNodes, Seed: opt.Seed})
	if err != nil {
		return err
	}
	if _, err := mem.WriteTo(w); err != nil {
		return fmt.Errorf("simtest: write report: %w", err)
	}
	ping, err := RunPingRate(ctx, PingRateOptions{})
	if err != nil {
		return err
	}
	ping.WriteTo(w)
	udp, err := RunUDP(ctx, UDPOptions{Nodes: opt.UDPNodes, Seed: opt.Seed})
	if err != nil {
		return err
	}
	udp.WriteTo(w)
	look, err := RunLookups(ctx, LookupOptions{Nodes: opt.Nodes, Lookups: opt.Lookups, Link: opt.Link, Seed: opt.Seed})
	if err != nil {
		return err
	}
	look.WriteTo(w)
	if opt.ChurnWall < 0 {
		return nil
	}
	copt := CompressedChurn(opt.ChurnWall)
	copt.Nodes, copt.Keys, copt.Seed = opt.ChurnNodes, opt.ChurnKeys, opt.Seed
	churn, err := RunChurn(ctx, copt)
	if err != nil {
		return err
	}
	churn.WriteTo(w)
	return nil
}
