//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rdvDaemons is how many daemons meet through the DHT in benchRendezvous.
const rdvDaemons = 50

// rdvLookup is the rendezvous re-lookup interval (rendezvous.Options.Lookup's
// default): a joiner that had to wait for it would show a ratio near 1.
const rdvLookup = 5 * time.Minute

// rdvTimeout bounds the wait for a joiner to reach every folder peer.
const rdvTimeout = 150 * time.Second

// benchRendezvous starts rdvDaemons real daemons on loopback that share
// one DHT bootstrap address and nothing else (no mDNS, no --peer): the
// first shares a folder, the others join it with only its key, all at
// once, and each joiner's time from its join to having proved the folder
// with every other member is read from its event stream (folder-peer).
func benchRendezvous(ctx context.Context, bin, dir string, t *table, pex bool) error {
	name := "PEX off"
	var args []string
	if !pex {
		args = append(args, "--no-pex")
	} else {
		name = "PEX on"
	}
	root, err := os.MkdirTemp(dir, "rdv-")
	if err != nil {
		return err
	}
	ds, startTook, err := startRdvDaemons(ctx, bin, root, rdvDaemons, args)
	defer stopAll(ds)
	if err != nil {
		return err
	}
	if err := waitDHTTables(ctx, ds, min(len(ds)-1, 8), 60*time.Second); err != nil {
		return err
	}
	shared := filepath.Join(root, "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(shared, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		return err
	}
	key, err := share(ctx, bin, ds[0].daemonProc, shared)
	if err != nil {
		return err
	}
	joiners := ds[1:]
	streams := make([]<-chan event, len(joiners))
	for i, d := range joiners {
		if streams[i], err = d.events(ctx); err != nil {
			return fmt.Errorf("events of daemon %d: %w", i+1, err)
		}
	}
	cpu0, load0 := daemonsCPU(ds), loadAvg()
	profileOne(ctx, ds[len(ds)/2], "rdv-"+strings.ReplaceAll(name, " ", "-"), 20)
	res := make([]rdvResult, len(joiners))
	var wg sync.WaitGroup
	joinStart := time.Now()
	for i, d := range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = d.joinAndWait(ctx, key, filepath.Join(root, fmt.Sprintf("join%d", i+1)), streams[i], len(ds)-1)
		}()
	}
	wg.Wait()
	wall := time.Since(joinStart)
	cpu := daemonsCPU(ds) - cpu0
	var times []time.Duration
	var spread time.Duration
	short, eventsShort := 0, 0
	for i, r := range res {
		if r.err != nil {
			return fmt.Errorf("daemon %d: %w", i+1, r.err)
		}
		spread = max(spread, r.start.Sub(joinStart))
		if r.eventsShort {
			eventsShort++
		}
		if r.peers < len(ds)-1 || r.took == 0 {
			short++
			continue
		}
		times = append(times, r.took)
	}
	if eventsShort > 0 {
		t.note("%s: %d joiners' folder-peer events counted fewer peers than their status", name, eventsShort)
	}
	n := len(ds)
	if len(times) == 0 {
		t.add(row{name: fmt.Sprintf("DHT rendezvous, %d daemons, %s: join to all %d folder peers", n, name, n-1),
			value: fmt.Sprintf("none in %s", rdvTimeout), limit: rdvLookup.String() + " (re-lookup)", ratio: "-", goal: "< 1"})
		t.note("%s: no joiner reached all %d peers within %s: %s", name, n-1, rdvTimeout, peerCounts(res))
		return nil
	}
	slices.Sort(times)
	pct := func(p float64) time.Duration { return times[min(len(times)-1, int(p*float64(len(times))))] }
	med, p90, worst := pct(0.5), pct(0.9), times[len(times)-1]
	if short > 0 {
		worst = rdvTimeout
	}
	t.add(row{name: fmt.Sprintf("DHT rendezvous, %d daemons, %s: join to all %d folder peers, median / p90 / max", n, name, n-1),
		value: fmt.Sprintf("%s / %s / %s", rnd(med), rnd(p90), rnd(worst)),
		limit: rdvLookup.String() + " (re-lookup interval)", ratio: fmt.Sprintf("%.3f", worst.Seconds()/rdvLookup.Seconds()), goal: "≪ 1 (no joiner waits for a re-lookup)"})
	if short > 0 {
		t.note("%s: %d of %d joiners did not reach all %d peers within %s: %s", name, short, len(joiners), n-1, rdvTimeout, peerCounts(res))
	}
	rss := daemonsRSS(ds)
	slices.Sort(rss)
	t.add(row{name: fmt.Sprintf("  %s: CPU of all %d daemons while they meet / RSS per daemon (median, max)", name, n),
		value: fmt.Sprintf("%.1f cores over %s / %d MiB, %d MiB", cpu.Seconds()/wall.Seconds(), rnd(wall), rss[len(rss)/2]>>20, rss[len(rss)-1]>>20),
		limit: "2 cores", ratio: fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds()/2), goal: "-"})
	t.note("%s: %d daemons started one after another in %s (niced); the %d joins were sent at once, the last %s after the first; load average %s before the joins, %s after",
		name, n, rnd(startTook), len(joiners), rnd(spread), load0, loadAvg())
	return nil
}

func rnd(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

// rdvDaemon is a daemon with a DHT node.
type rdvDaemon struct {
	*daemonProc
	dht string // its DHT node's UDP address
}

// rdvResult is one joiner's outcome: how many folder peers it reached,
// and when it had all.
type rdvResult struct {
	start time.Time
	took  time.Duration
	peers int
	err   error
	// eventsShort: the status showed more folder peers than the events.
	eventsShort bool
}

func peerCounts(res []rdvResult) string {
	counts := make([]int, len(res))
	for i, r := range res {
		counts[i] = r.peers
	}
	slices.Sort(counts)
	return fmt.Sprintf("peers reached, fewest first: %v", counts)
}

// startRdvDaemons starts n daemons one after another (each once the one
// before is listening), the first the others' only DHT bootstrap node.
func startRdvDaemons(ctx context.Context, bin, root string, n int, args []string) ([]*rdvDaemon, time.Duration, error) {
	start := time.Now()
	var ds []*rdvDaemon
	for i := range n {
		a := args
		if i > 0 {
			a = append(slices.Clip(args), "--bootstrap", ds[0].dht)
		}
		d, err := startRdvDaemon(ctx, bin, filepath.Join(root, fmt.Sprintf("home%d", i)), a...)
		if err != nil {
			return ds, 0, fmt.Errorf("daemon %d: %w", i, err)
		}
		ds = append(ds, d)
	}
	return ds, time.Since(start), nil
}

// startRdvDaemon starts a niced daemon on loopback with a DHT node and no
// mDNS, its log in its home.
func startRdvDaemon(ctx context.Context, bin, home string, args ...string) (*rdvDaemon, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(home, "daemon.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--home", home, "daemon", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-mdns", "-v"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Niced, so that 50 daemons leave the machine usable.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, max(10, ownNice()))
	d := &rdvDaemon{daemonProc: &daemonProc{home: home, cmd: cmd}}
	sc := bufio.NewScanner(out)
	var id, listen string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "node":
			id = f[2]
		case len(f) == 2 && f[0] == "peers":
			listen = f[1]
		case len(f) == 3 && f[0] == "dht":
			d.dht = f[2]
		case len(f) == 2 && f[0] == "api":
			d.addr = id + "@" + listen
			d.api = f[1]
			go io.Copy(io.Discard, out)
			if d.dht == "" {
				d.stop()
				return nil, errors.New("daemon printed no DHT address")
			}
			return d, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("daemon exited before it was ready (log in %s)", logf.Name())
}

// ownNice is this process's nice value.
func ownNice() int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - p // the raw syscall's 40..1 for nice -20..19
}

// stopAll stops the daemons, all at once.
func stopAll(ds []*rdvDaemon) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stop()
		}()
	}
	wg.Wait()
}

// waitDHTTables waits until every daemon's DHT routing table holds at
// least want nodes, so that the joins measure the rendezvous, not the
// DHT's bootstrap.
func waitDHTTables(ctx context.Context, ds []*rdvDaemon, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i, d := range ds {
		for {
			n, err := d.tableSize(ctx)
			if err != nil {
				return fmt.Errorf("DHT table of daemon %d: %w", i, err)
			}
			if n >= want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("daemon %d's DHT table has %d nodes after %s, want %d", i, n, timeout, want)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	return nil
}

// tableSize is the number of nodes in d's DHT routing table.
func (d *rdvDaemon) tableSize(ctx context.Context) (int, error) {
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/dht/table", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var tab struct {
		Buckets []struct {
			Good, Questionable int
		} `json:"buckets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tab); err != nil {
		return 0, err
	}
	n := 0
	for _, b := range tab.Buckets {
		n += b.Good + b.Questionable
	}
	return n, nil
}

// joinAndWait joins the folder at path with key and waits, on the events
// already subscribed to, until want peers have proved it with d.
func (d *rdvDaemon) joinAndWait(ctx context.Context, key, path string, evs <-chan event, want int) rdvResult {
	ctx, cancel := context.WithTimeout(ctx, rdvTimeout)
	defer cancel()
	r := rdvResult{start: time.Now()}
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/folders/join", map[string]string{"path": path, "key": key})
	if err != nil {
		r.err = err
		return r
	}
	resp.Body.Close()
	peers := make(map[string]bool)
	for {
		select {
		case <-ctx.Done():
			r.peers = len(peers)
			if n, err := d.folderPeers(context.Background(), path); err == nil && n > r.peers {
				// The status counts more than the events did: an event
				// was wrong or lost. Counted as not reached in time.
				r.peers, r.eventsShort = n, true
			}
			return r
		case ev, ok := <-evs:
			if !ok {
				// The stream ended: subscribe again and count from the
				// status what the gap hid.
				if evs, err = d.events(ctx); err != nil {
					r.err = err
					return r
				}
				ev = event{Type: "events-dropped"}
			}
			switch ev.Type {
			case "folder-peer":
				if ev.Data == "up" {
					peers[ev.Peer] = true
				} else {
					delete(peers, ev.Peer)
				}
				if len(peers) >= want {
					r.peers, r.took = len(peers), ev.Time.Sub(r.start)
					return r
				}
			case "events-dropped":
				if n, err := d.folderPeers(ctx, path); err == nil && n >= want {
					r.peers, r.took = n, time.Since(r.start)
					return r
				}
			}
		}
	}
}

// folderPeers is how many peers the folder at path has, by its status.
func (d *rdvDaemon) folderPeers(ctx context.Context, path string) (int, error) {
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/folders/status", map[string]string{"path": path})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st []struct {
		Peers []string `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st) != 1 {
		return 0, fmt.Errorf("folder status: %v (%d folders)", err, len(st))
	}
	return len(st[0].Peers), nil
}

// daemonsCPU is the CPU time the daemons have used so far.
func daemonsCPU(ds []*rdvDaemon) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		if c, err := d.cpu(); err == nil {
			sum += c
		}
	}
	return sum
}

// daemonsRSS is each daemon's resident memory now.
func daemonsRSS(ds []*rdvDaemon) []int64 {
	var out []int64
	for _, d := range ds {
		if r, _, _, err := d.rss(); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// profileOne, when SHOAL_BENCH_PROFILE names a directory, takes a CPU
// profile of d for secs seconds in the background, into NAME.pprof there.
func profileOne(ctx context.Context, d *rdvDaemon, name string, secs int) {
	out := os.Getenv("SHOAL_BENCH_PROFILE")
	if out == "" {
		return
	}
	go func() {
		resp, err := d.apiCall(ctx, http.MethodGet, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "shoalbench: profile: %v\n", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(out, name+".pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
	}()
}

// loadAvg is the machine's one-minute load average, as /proc/loadavg says.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
