//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/discovery/netnstest"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/transport"
)

// benchDiscovery measures the dialer under 1,000 dead candidates, how
// soon 50 daemons on loopback that share one DHT bootstrap address meet
// through a folder's rendezvous key, and how soon two daemons on a LAN
// find each other by mDNS (real processes in two network namespaces).
func benchDiscovery(ctx context.Context, opt options, t *table) error {
	dir, err := os.MkdirTemp(opt.workDir, "shoalbench-discovery-")
	if err != nil {
		return err
	}
	if os.Getenv("SHOAL_BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "shoalbench: keeping %s\n", dir)
	}
	bin, err := buildShoal(ctx, dir)
	if err != nil {
		return err
	}
	// SHOAL_BENCH_DISCOVERY=dht runs only the rendezvous rows.
	onlyDHT := os.Getenv("SHOAL_BENCH_DISCOVERY") == "dht"
	if !onlyDHT {
		if err := benchDialer(ctx, t); err != nil {
			return err
		}
	}
	for _, pex := range []bool{false, true} {
		if only := os.Getenv("SHOAL_BENCH_PEX"); only != "" && only != map[bool]string{false: "off", true: "on"}[pex] {
			continue // SHOAL_BENCH_PEX=off or on: that row only
		}
		if err := benchRendezvous(ctx, bin, dir, t, pex); err != nil {
			return fmt.Errorf("rendezvous: %w", err)
		}
	}
	if onlyDHT {
		return nil
	}
	if err := netnstest.Available(); err != nil {
		t.note("mDNS on a LAN: skipped: %v", err)
		return nil
	}
	return benchMDNS(ctx, bin, dir, t)
}

// benchMDNS starts a daemon in one namespace, then 20 times a fresh one
// in the other, and times from its start to the first connection between
// them (either side's dialer logging it).
func benchMDNS(ctx context.Context, bin, dir string, t *table) error {
	p, err := netnstest.NewPair(ctx, netnstest.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	a, err := startLogged(ctx, p.A, bin, filepath.Join(dir, "a"))
	if err != nil {
		return err
	}
	err = mdnsRounds(ctx, p, a, bin, dir, t)
	a.stop()
	if err != nil {
		return err
	}
	return benchJoin(ctx, p, bin, dir, t)
}

// benchJoin shares a folder on a daemon in one namespace and joins it with
// only the key from a daemon in the other, five times, timing from the
// join command's start to the first byte of the file on disk.
func benchJoin(ctx context.Context, p *netnstest.Pair, bin, dir string, t *table) error {
	const rounds = 5
	var times []time.Duration
	for i := range rounds {
		a, err := startLogged(ctx, p.A, bin, filepath.Join(dir, fmt.Sprintf("ja%d", i)))
		if err != nil {
			return err
		}
		b, err := startLogged(ctx, p.B, bin, filepath.Join(dir, fmt.Sprintf("jb%d", i)))
		if err != nil {
			a.stop()
			return err
		}
		took, err := joinOnce(ctx, p, bin, dir, i)
		a.stop()
		b.stop()
		if err != nil {
			return fmt.Errorf("join round %d: %w", i, err)
		}
		times = append(times, took)
	}
	slices.Sort(times)
	med := times[len(times)/2]
	t.add(row{name: "netns LAN: shoal join (key only) to the file's first byte, median of 5", value: med.Round(time.Millisecond).String(),
		limit: "1s goal", ratio: fmt.Sprintf("%.2f", med.Seconds()), goal: "< 1 s"})
	for i := range times {
		times[i] = times[i].Round(time.Millisecond)
	}
	t.note("join rounds: %v (both daemons just started; they meet by mDNS meanwhile)", times)
	return nil
}

func joinOnce(ctx context.Context, p *netnstest.Pair, bin, dir string, i int) (time.Duration, error) {
	src, dst := filepath.Join(dir, fmt.Sprintf("share%d", i)), filepath.Join(dir, fmt.Sprintf("join%d", i))
	if err := os.MkdirAll(src, 0o755); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(src, "file.bin"), make([]byte, 1<<20), 0o644); err != nil {
		return 0, err
	}
	home := func(n string) string { return filepath.Join(dir, fmt.Sprintf("%s%d", n, i)) }
	// Wait until the daemons are up (their API files are written).
	for _, h := range []string{home("ja"), home("jb")} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(h, "addrs")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return 0, errors.New("daemon did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	out, err := p.A.Command(ctx, bin, "--home", home("ja"), "share", src).Output()
	if err != nil {
		return 0, fmt.Errorf("share: %w", err)
	}
	key := ""
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "shoal:rw:") {
			key = f
		}
	}
	if key == "" {
		return 0, errors.New("share printed no key")
	}
	start := time.Now()
	if err := p.B.Command(ctx, bin, "--home", home("jb"), "join", key, dst).Run(); err != nil {
		return 0, fmt.Errorf("join: %w", err)
	}
	target := filepath.Join(dst, "file.bin")
	deadline := start.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(target); err == nil && fi.Size() > 0 {
			return time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond) // a benchmark polling a file another process writes
	}
	return 0, errors.New("no byte arrived in 60 s")
}

// mdnsRounds starts a fresh daemon in p.B 20 times, a running in p.A.
func mdnsRounds(ctx context.Context, p *netnstest.Pair, a *loggedDaemon, bin, dir string, t *table) error {
	const rounds = 20
	var times []time.Duration
	for i := range rounds {
		a.drain()
		start := time.Now()
		b, err := startLogged(ctx, p.B, bin, filepath.Join(dir, fmt.Sprintf("b%d", i)))
		if err != nil {
			return err
		}
		var at time.Time
		select {
		case at = <-a.connected:
		case at = <-b.connected:
		case <-time.After(30 * time.Second):
			b.stop()
			return fmt.Errorf("round %d: no connection in 30 s", i)
		}
		times = append(times, at.Sub(start))
		b.stop()
	}
	slices.Sort(times)
	med := times[len(times)/2]
	t.add(row{name: "netns LAN: daemon start to first connection (mDNS), median of 20", value: med.Round(time.Millisecond).String(),
		limit: "1s goal", ratio: fmt.Sprintf("%.2f", med.Seconds()), goal: "< 1 s"})
	t.note("mDNS rounds: min %v, max %v (includes the daemon's start: store, keys, listeners)", times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	return nil
}

// loggedDaemon is a daemon in a namespace whose connections we hear of
// from its log.
type loggedDaemon struct {
	cmd       *exec.Cmd
	connected chan time.Time
}

func startLogged(ctx context.Context, n netnstest.Node, bin, home string) (*loggedDaemon, error) {
	cmd := n.Command(ctx, bin, "--home", home, "daemon", "--listen", "0.0.0.0:4777", "--api", "127.0.0.1:4778", "--no-dht", "-v")
	errp, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &loggedDaemon{cmd: cmd, connected: make(chan time.Time, 64)}
	go func() {
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "connected to peer") {
				select {
				case d.connected <- time.Now():
				default:
				}
			}
		}
	}()
	return d, nil
}

func (d *loggedDaemon) drain() {
	for {
		select {
		case <-d.connected:
		default:
			return
		}
	}
}

func (d *loggedDaemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

// benchDialer runs the dialer with real TLS dials on loopback: 1,000 dead
// candidates (half refuse, half accept and never answer), then five live
// peers found on the LAN; it measures the attempts a second against the
// dialer's rate and the time until the live ones are connected.
func benchDialer(ctx context.Context, t *table) error {
	self, err := identity.New()
	if err != nil {
		return err
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var cands []dialer.Candidate
	for i := range 500 { // refused: closed ports on loopback addresses
		cands = append(cands, dialer.Candidate{Addr: fmt.Sprintf("127.0.%d.%d:9", 10+i/250, 1+i%250), Source: dialer.Tracker})
	}
	for range 500 { // silent: accept, never speak TLS
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, l)
		go func() {
			var held []net.Conn
			for {
				c, err := l.Accept()
				if err != nil {
					for _, c := range held {
						c.Close()
					}
					return
				}
				held = append(held, c)
			}
		}()
		cands = append(cands, dialer.Candidate{Addr: l.Addr().String(), Source: dialer.DHT})
	}
	var live []dialer.Candidate
	for range 5 {
		id, err := identity.New()
		if err != nil {
			return err
		}
		ln, err := transport.Listen(ctx, "127.0.0.1:0", id, transport.Options{})
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		live = append(live, dialer.Candidate{Addr: ln.Addr().String(), ID: id.ID(), Source: dialer.MDNS})
	}
	var mu sync.Mutex
	got := make(map[identity.NodeID]time.Time)
	allLive := make(chan struct{})
	const rate = 20
	d := dialer.New(dialer.Options{
		Self: self.ID(), Rate: rate,
		Dial: func(ctx context.Context, a dialer.Attempt) (identity.NodeID, error) {
			c, err := transport.Dial(ctx, transport.PeerAddr{ID: a.ID, HostPort: a.Addr}, self)
			if err != nil {
				return identity.NodeID{}, err
			}
			defer c.Close()
			mu.Lock()
			defer mu.Unlock()
			got[c.RemoteID()] = time.Now()
			if len(got) == len(live) {
				close(allLive)
			}
			return c.RemoteID(), nil
		},
	})
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.Run(dctx)
	d.Add(cands...)
	const window = 10 * time.Second
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return ctx.Err()
	}
	attempts := d.Attempts()
	perSec := float64(attempts) / window.Seconds()
	t.add(row{name: "dialer: attempts/s among 1,000 dead candidates (10 s)", value: fmt.Sprintf("%.1f/s", perSec),
		limit: fmt.Sprintf("%d/s (its rate)", rate), ratio: fmt.Sprintf("%.2f", perSec/rate), goal: "≤ 1"})
	start := time.Now()
	d.Add(live...)
	select {
	case <-allLive:
	case <-time.After(30 * time.Second):
		return errors.New("dialer: live peers not connected in 30 s")
	}
	took := time.Since(start)
	mu.Lock()
	var each []time.Duration
	for _, at := range got {
		each = append(each, at.Sub(start).Round(time.Millisecond))
	}
	mu.Unlock()
	slices.Sort(each)
	t.note("live peers connected after: %v", each)
	t.add(row{name: "dialer: 5 live peers found amid them, all connected after", value: took.Round(time.Millisecond).String(),
		limit: "1s goal", ratio: fmt.Sprintf("%.3f", took.Seconds()), goal: "< 1 s"})
	t.note("dead: 500 closed loopback ports (refused at once) and 500 listeners that accept and never answer TLS (held to the long-shot timeout, 5 s)")
	return nil
}
