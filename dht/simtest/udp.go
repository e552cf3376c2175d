package simtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// UDPOptions configures RunUDP. The zero value runs 200 nodes and 200
// lookups, one at a time.
type UDPOptions struct {
	Nodes       int // servers on 127.0.0.1; default 200
	Lookups     int // default 200
	Concurrency int // lookups in flight; default 1, so latency is one lookup's alone
	K, Alpha    int
	Seed        uint64
	Logger      *slog.Logger
}

// UDPReport is what RunUDP measured, in real time.
type UDPReport struct {
	Nodes, Lookups    int
	BootstrapTime     time.Duration
	BootstrapFailures int
	Exact             int
	Errors            int
	Recall            float64
	Rounds, Messages  Dist[int]
	Latency           Dist[time.Duration]
	CPUPerLookup      time.Duration // process user+system CPU during the lookups / Lookups
}

// RunUDP starts opt.Nodes dht.Servers on loopback UDP in this process, lets
// them join, and times opt.Lookups FindNode lookups of random targets. The
// CPU per lookup counts every server's work, since they share the process.
// It must run outside a synctest bubble (real sockets).
func RunUDP(ctx context.Context, opt UDPOptions) (UDPReport, error) {
	if opt.Nodes <= 0 {
		opt.Nodes = 200
	}
	if opt.Lookups <= 0 {
		opt.Lookups = 200
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 1
	}
	if opt.K <= 0 {
		opt.K = 8
	}
	rep := UDPReport{Nodes: opt.Nodes, Lookups: opt.Lookups}
	c := newUDPCluster(dht.Config{K: opt.K, Alpha: opt.Alpha, Logger: opt.Logger}, opt.Seed)
	defer c.close()
	start := time.Now()
	failed, err := c.grow(ctx, opt.Nodes)
	if err != nil {
		return rep, fmt.Errorf("simtest: start %d nodes on loopback: %w", opt.Nodes, err)
	}
	rep.BootstrapTime, rep.BootstrapFailures = time.Since(start), failed
	cpu0 := cpuTime()
	lr, err := c.lookups(ctx, opt.Lookups, opt.Concurrency, opt.K)
	if err != nil {
		return rep, err
	}
	rep.CPUPerLookup = (cpuTime() - cpu0) / time.Duration(opt.Lookups)
	rep.Exact, rep.Recall, rep.Errors = lr.exact, lr.recall, lr.errors
	rep.Rounds, rep.Messages, rep.Latency = lr.rounds, lr.messages, lr.latency
	return rep, nil
}

// WriteTo prints the report as a table.
func (r UDPReport) WriteTo(w io.Writer) (int64, error) {
	return writeRows(w, "dht lookups (loopback UDP)", [][2]string{
		{"nodes", fmt.Sprint(r.Nodes)},
		{"bootstrap", fmt.Sprintf("%v, %d failed", r.BootstrapTime.Round(time.Millisecond), r.BootstrapFailures)},
		{"lookups", fmt.Sprintf("%d (%d errors), %d exact, recall %.2f%%", r.Lookups, r.Errors, r.Exact, 100*r.Recall)},
		{"rounds", distString(r.Rounds)},
		{"messages", distString(r.Messages)},
		{"lookup latency", distString(r.Latency)},
		{"cpu per lookup", fmt.Sprint(r.CPUPerLookup)},
	})
}

// MemoryOptions configures RunMemory. The zero value measures 2,000 nodes.
type MemoryOptions struct {
	Nodes int // default 2000
	K     int
	Seed  uint64
}

// MemoryReport is the heap cost of a node.
type MemoryReport struct {
	Nodes        int
	TableEntries float64 // mean routing-table entries per node
	HeapPerNode  uint64  // live heap after GC, over Nodes
	Goroutines   float64 // goroutines per node
}

// RunMemory builds opt.Nodes servers on a zero-latency simnet, lets them
// join so that their tables hold what such a network gives, and divides the
// live heap growth by the node count. The network's conns (small, bounded
// queues) are included. It measures the whole process's heap, so nothing
// else should run at the same time.
func RunMemory(ctx context.Context, opt MemoryOptions) (MemoryReport, error) {
	if opt.Nodes <= 0 {
		opt.Nodes = 2000
	}
	rep := MemoryReport{Nodes: opt.Nodes}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	g0 := runtime.NumGoroutine()
	c := newCluster(simnet.Options{Seed: opt.Seed, QueueLen: 512}, dht.Config{K: opt.K}, opt.Seed)
	defer c.close()
	if _, err := c.grow(ctx, opt.Nodes); err != nil {
		return rep, fmt.Errorf("simtest: grow network to %d nodes: %w", opt.Nodes, err)
	}
	after := heap()
	rep.Goroutines = float64(runtime.NumGoroutine()-g0) / float64(opt.Nodes)
	if after > before {
		rep.HeapPerNode = (after - before) / uint64(opt.Nodes)
	}
	_, _, entries := c.tableHealth()
	rep.TableEntries = float64(entries) / float64(opt.Nodes)
	runtime.KeepAlive(c)
	return rep, nil
}

// WriteTo prints the report as a table.
func (r MemoryReport) WriteTo(w io.Writer) (int64, error) {
	return writeRows(w, "dht memory", [][2]string{
		{"nodes", fmt.Sprint(r.Nodes)},
		{"table entries per node", fmt.Sprintf("%.1f", r.TableEntries)},
		{"heap per node", fmt.Sprintf("%.1f KiB", float64(r.HeapPerNode)/1024)},
		{"goroutines per node", fmt.Sprintf("%.1f", r.Goroutines)},
	})
}

// PingRateOptions configures RunPingRate. The zero value floods for 2
// seconds from 2 sockets with 64 pings in flight each.
type PingRateOptions struct {
	Duration time.Duration // default 2s
	Senders  int           // flooding sockets, each with its own goroutine; default 2
	Window   int           // pings in flight per socket; default 64
}

// PingRateReport is how fast one server answered.
type PingRateReport struct {
	Duration  time.Duration
	Sent      int64
	Replies   int64
	PerSecond float64
	CPU       time.Duration // process user+system CPU, flooders included
}

// RunPingRate starts one dht.Server on loopback UDP with no rate limit and
// floods it with pings from opt.Senders other sockets, counting replies.
// The server reads and answers on a single goroutine, so the rate is what
// one core gives (the flooders use the others).
func RunPingRate(ctx context.Context, opt PingRateOptions) (PingRateReport, error) {
	if opt.Duration <= 0 {
		opt.Duration = 2 * time.Second
	}
	if opt.Senders <= 0 {
		opt.Senders = 2
	}
	if opt.Window <= 0 {
		opt.Window = 64
	}
	var rep PingRateReport
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(lo))
	if err != nil {
		return rep, fmt.Errorf("simtest: listen on loopback: %w", err)
	}
	srv, err := dht.New(dht.Config{Conn: conn, RateLimit: -1})
	if err != nil {
		conn.Close()
		return rep, fmt.Errorf("simtest: new server: %w", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(context.Background())
	}()
	defer func() {
		srv.Close()
		<-served
	}()
	target := conn.LocalAddr().(*net.UDPAddr)

	ctx, cancel := context.WithTimeout(ctx, opt.Duration)
	defer cancel()
	var sent, replies atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, opt.Senders)
	cpu0, start := cpuTime(), time.Now()
	for i := range opt.Senders {
		fc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(lo))
		if err != nil {
			return rep, fmt.Errorf("simtest: listen on loopback: %w", err)
		}
		id := [20]byte{0xf1, byte(i)}
		ping, err := (&krpc.Msg{T: "pg", Y: "q", Q: krpc.Ping, A: &krpc.Args{ID: id}}).Encode()
		if err != nil {
			fc.Close()
			return rep, fmt.Errorf("simtest: encode ping: %w", err)
		}
		wg.Go(func() {
			defer fc.Close()
			errc <- flood(ctx, fc, target, ping, opt.Window, &sent, &replies)
		})
	}
	wg.Wait()
	rep.Duration, rep.CPU = time.Since(start), cpuTime()-cpu0
	close(errc)
	for err := range errc {
		if err != nil {
			return rep, err
		}
	}
	rep.Sent, rep.Replies = sent.Load(), replies.Load()
	rep.PerSecond = float64(rep.Replies) / rep.Duration.Seconds()
	return rep, nil
}

// flood keeps window pings in flight to target on fc until ctx ends: each
// reply releases one more; a read timeout (a lost packet) refills the window.
func flood(ctx context.Context, fc *net.UDPConn, target *net.UDPAddr, ping []byte, window int, sent, replies *atomic.Int64) error {
	marker := []byte("1:y1:r")
	buf := make([]byte, 1500)
	send := func(n int) error {
		for range n {
			if _, err := fc.WriteToUDP(ping, target); err != nil {
				return fmt.Errorf("simtest: flood %v: %w", target, err)
			}
			sent.Add(1)
		}
		return nil
	}
	if err := send(window); err != nil {
		return err
	}
	for ctx.Err() == nil {
		fc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, _, err := fc.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := send(window); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("simtest: flood %v: read: %w", target, err)
		}
		if bytes.Contains(buf[:n], marker) {
			replies.Add(1)
		}
		if err := send(1); err != nil {
			return err
		}
	}
	return nil
}

// WriteTo prints the report as a table.
func (r PingRateReport) WriteTo(w io.Writer) (int64, error) {
	return writeRows(w, "dht ping rate (loopback UDP, one server)", [][2]string{
		{"duration", r.Duration.Round(time.Millisecond).String()},
		{"pings sent", fmt.Sprint(r.Sent)},
		{"replies", fmt.Sprintf("%d = %.0f/s", r.Replies, r.PerSecond)},
		{"cpu", fmt.Sprintf("%v (%.2f cores, flooders included)", r.CPU.Round(time.Millisecond), r.CPU.Seconds()/r.Duration.Seconds())},
	})
}
