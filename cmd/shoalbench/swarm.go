package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
)

// benchSwarm measures the peers issue's figures: `shoal get -o` of one
// file from one peer (two real daemons on loopback) against the TLS 1.3
// loopback throughput of this machine, the daemons' peak memory, and the
// 1 seed + 8 leechers swarm at 16 MiB/s per node.
func benchSwarm(ctx context.Context, opt options, t *table) error {
	work, cleanup, err := workDir(opt.workDir)
	if err != nil {
		return err
	}
	defer cleanup()
	size := int64(opt.sizeMiB) << 20
	if !opt.sizeSet {
		size = 1 << 30
	}

	// The limit: TLS 1.3 over loopback with both ends in this process, as
	// crypto/tls does it (a socket write per 16 KiB record), and as shoal's
	// transport does it (records gathered into larger socket writes). The
	// figures swing from run to run: each is the median of three.
	stdRate, stdRuns, err := median3(ctx, size, transport.MeasureStdTLSLoopback)
	if err != nil {
		return fmt.Errorf("TLS loopback (crypto/tls): %w", err)
	}
	gathered, gatheredRuns, err := median3(ctx, size, transport.MeasureTLSLoopback)
	if err != nil {
		return fmt.Errorf("TLS loopback (shoal transport): %w", err)
	}
	t.add(row{"TLS 1.3 loopback, crypto/tls, one process", fmt.Sprintf("%.0f MB/s", stdRate/1e6), "-", "-", "-"})
	t.add(row{"TLS 1.3 loopback, shoal transport, one process", fmt.Sprintf("%.0f MB/s", gathered/1e6), "-", "-", "-"})
	t.note("TLS loopback runs: crypto/tls %s; shoal transport %s MB/s (medians used)", stdRuns, gatheredRuns)

	bin, err := buildShoal(ctx, work)
	if err != nil {
		return err
	}
	file := filepath.Join(work, "data.bin")
	if err := writeRandomFile(file, size); err != nil {
		return err
	}
	seed, err := startDaemonProc(ctx, bin, filepath.Join(work, "seed"))
	if err != nil {
		return err
	}
	defer seed.stop()
	add, err := runShoal(ctx, bin, seed.home, io.Discard, "add", "-Q", "--nocopy", file)
	if err != nil {
		return err
	}
	root := add.out
	// Three gets, each by a new leecher, as the loopback figures are
	// medians of three.
	var gets []getRun
	for i := range 3 {
		g, err := getFromSeed(ctx, bin, work, seed, root, size, i)
		if err != nil {
			return err
		}
		gets = append(gets, g)
	}
	walls := fmt.Sprintf("%.2f, %.2f, %.2f", gets[0].wall, gets[1].wall, gets[2].wall)
	slices.SortFunc(gets, func(a, b getRun) int { return cmp.Compare(a.wall, b.wall) })
	get := gets[1]
	rate := float64(size) / get.wall
	t.add(row{fmt.Sprintf("shoal get -o, %d MiB from one peer", size>>20), fmt.Sprintf("%.0f MB/s", rate/1e6),
		fmt.Sprintf("%.0f MB/s crypto/tls loopback", stdRate/1e6), fmt.Sprintf("%.2f", rate/stdRate), ">= 0.50"})
	t.add(row{"  the same against shoal's transport", fmt.Sprintf("%.0f MB/s", rate/1e6),
		fmt.Sprintf("%.0f MB/s shoal loopback", gathered/1e6), fmt.Sprintf("%.2f", rate/gathered), "-"})

	// Where the time goes: the CPU both daemons used against the CPU the
	// work needs at the least, and the speed that floor allows.
	floor, err := measureFloor(ctx, file, work, size)
	if err != nil {
		return err
	}
	used := get.seedCPU + get.leechCPU
	t.add(row{"  CPU used, seed + leecher", fmt.Sprintf("%.2f + %.2f s", get.seedCPU.Seconds(), get.leechCPU.Seconds()),
		fmt.Sprintf("%.2f s CPU floor", floor.total().Seconds()), fmt.Sprintf("%.2f", used.Seconds()/floor.total().Seconds()), "-"})
	t.add(row{"  ceiling: the floor on every core", fmt.Sprintf("%.0f MB/s", floor.ceiling()/1e6),
		fmt.Sprintf("%.0f MB/s crypto/tls loopback", stdRate/1e6), fmt.Sprintf("%.2f", floor.ceiling()/stdRate), "-"})
	var peakSeed, peakLeech int64
	for _, g := range gets {
		peakSeed, peakLeech = max(peakSeed, g.seedRSS), max(peakLeech, g.leechRSS)
	}
	for _, p := range []struct {
		name string
		hwm  int64
	}{{"seed", peakSeed}, {"leech", peakLeech}} {
		t.add(row{"  daemon peak RSS (" + p.name + ")", mib(p.hwm), "150 MiB", fmt.Sprintf("%.2f", float64(p.hwm)/(150<<20)), "<= 1.00"})
	}

	rep, err := swarm.BenchSwarm(ctx, swarm.BenchOptions{})
	if err != nil {
		return fmt.Errorf("swarm: %w", err)
	}
	t.add(row{fmt.Sprintf("swarm 1+%d, %d MiB, last leecher done", rep.Leechers, rep.Bytes>>20), fmt.Sprintf("%.2f s", rep.Last.Seconds()),
		fmt.Sprintf("%.2f s one copy at %s", rep.Ideal.Seconds(), swarm.FormatRate(rep.UploadRate)), fmt.Sprintf("%.2f", rep.Last.Seconds()/rep.Ideal.Seconds()), "<= 1.50"})
	t.add(row{"  seed upload", fmt.Sprintf("%.2f copies", rep.SeedCopies), "2 copies", fmt.Sprintf("%.2f", rep.SeedCopies/2), "<= 1.00"})
	t.add(row{"  endgame duplicate bytes", fmt.Sprintf("%.2f %%", rep.DupPercent), "2 %", fmt.Sprintf("%.2f", rep.DupPercent/2), "< 1.00"})
	t.note("%s", strings.TrimSpace(rep.String()))
	t.note("get -o: two `shoal daemon` processes on loopback; the seed serves through --nocopy references (not re-hashed while the file is unchanged since it was hashed), the leecher verifies each block and writes it into the output file")
	t.note("get -o runs (each by a new leecher): %s s (median used)", walls)
	t.note("CPU floor for %d MiB: %s (each measured alone in this process; 'ceiling' = %d MiB x %d cores / floor)", size>>20, floor, size>>20, runtime.NumCPU())
	return nil
}

// median3 runs measure three times and returns the median and the three
// figures in MB/s.
func median3(ctx context.Context, size int64, measure func(context.Context, int64) (float64, error)) (float64, string, error) {
	var rates []float64
	for range 3 {
		r, err := measure(ctx, size)
		if err != nil {
			return 0, "", err
		}
		rates = append(rates, r)
	}
	runs := fmt.Sprintf("%.0f, %.0f, %.0f", rates[0]/1e6, rates[1]/1e6, rates[2]/1e6)
	slices.Sort(rates)
	return rates[1], runs, nil
}

func writeRandomFile(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	const step = 64 << 20
	for off := int64(0); off < n; off += step {
		chunk := randomDataSeed(min(step, n-off), uint64(off))
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	// On disk before anything is timed: the kernel writing a just-made
	// gigabyte back would otherwise share the cores with the transfer.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// getRun is one `shoal get -o` by a new leecher from the seed.
type getRun struct {
	wall              float64 // seconds
	seedCPU, leechCPU time.Duration
	seedRSS, leechRSS int64 // peak, bytes
}

// getFromSeed starts leecher i connected to seed, has it get root into
// a new file, checks the file's size, and stops it.
func getFromSeed(ctx context.Context, bin, work string, seed *daemonProc, root string, size int64, i int) (getRun, error) {
	leech, err := startDaemonProc(ctx, bin, filepath.Join(work, fmt.Sprintf("leech%d", i)), "--peer", seed.addr)
	if err != nil {
		return getRun{}, err
	}
	defer leech.stop()
	if err := waitConnected(ctx, bin, leech.home); err != nil {
		return getRun{}, err
	}
	seed0, err := procCPU(seed.cmd.Process.Pid)
	if err != nil {
		return getRun{}, err
	}
	leech0, err := procCPU(leech.cmd.Process.Pid)
	if err != nil {
		return getRun{}, err
	}
	out := filepath.Join(work, "out.bin")
	defer os.Remove(out)
	get, err := runShoal(ctx, bin, leech.home, io.Discard, "get", root, "-o", out)
	if err != nil {
		return getRun{}, err
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != size {
		return getRun{}, fmt.Errorf("get wrote a file of the wrong size: %v", err)
	}
	g := getRun{wall: get.wall}
	if g.seedCPU, err = procCPU(seed.cmd.Process.Pid); err != nil {
		return getRun{}, err
	}
	if g.leechCPU, err = procCPU(leech.cmd.Process.Pid); err != nil {
		return getRun{}, err
	}
	g.seedCPU -= seed0
	g.leechCPU -= leech0
	if g.seedRSS, err = seed.peakRSS(); err != nil {
		return getRun{}, err
	}
	if g.leechRSS, err = leech.peakRSS(); err != nil {
		return getRun{}, err
	}
	return g, nil
}

// daemonProc is a `shoal daemon` process.
type daemonProc struct {
	home, addr string
	api        string // the API's host:port
	cmd        *exec.Cmd
}

// startDaemonProc starts a daemon on loopback; SHOAL_BENCH_DAEMON_ARGS
// adds arguments to every daemon the bench starts (-v: debug logs).
func startDaemonProc(ctx context.Context, bin, home string, args ...string) (*daemonProc, error) {
	argv := []string{"--home", home, "daemon", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-dht", "--no-mdns"}
	argv = append(append(argv, args...), strings.Fields(os.Getenv("SHOAL_BENCH_DAEMON_ARGS"))...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemonProc{home: home, cmd: cmd}
	sc := bufio.NewScanner(out)
	var id, listen string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "node":
			id = f[2]
		case len(f) == 2 && f[0] == "peers":
			listen = f[1]
		case len(f) == 2 && f[0] == "api":
			d.addr = id + "@" + listen
			d.api = f[1]
			go io.Copy(io.Discard, out)
			return d, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, errors.New("daemon exited before it was ready")
}

// peakRSS reads the daemon's peak resident memory from /proc.
func (d *daemonProc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func (d *daemonProc) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
	}
}

// waitConnected waits until the daemon on home lists a peer.
func waitConnected(ctx context.Context, bin, home string) error {
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := exec.CommandContext(ctx, bin, "--home", home, "peers").Output()
		if err == nil && len(strings.Split(strings.TrimSpace(string(out)), "\n")) > 1 {
			return nil
		}
		select {
		case <-deadline:
			return errors.New("daemons did not connect")
		case <-tick.C:
		}
	}
}
