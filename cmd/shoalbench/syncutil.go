package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// syncPair is two daemons on loopback, b keeping a connection to a.
type syncPair struct {
	bin  string
	a, b *daemonProc
}

func startPair(ctx context.Context, bin, dir string) (*syncPair, error) {
	a, err := startDaemonProc(ctx, bin, filepath.Join(dir, "home-a"))
	if err != nil {
		return nil, err
	}
	b, err := startDaemonProc(ctx, bin, filepath.Join(dir, "home-b"), "--peer", a.addr)
	if err != nil {
		a.stop()
		return nil, err
	}
	p := &syncPair{bin: bin, a: a, b: b}
	if err := waitConnected(ctx, bin, b.home); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *syncPair) stop() {
	p.b.stop()
	p.a.stop()
}

// restartB stops b and starts it again on its home.
func (p *syncPair) restartB(ctx context.Context) error {
	p.b.stop()
	b, err := startDaemonProc(ctx, p.bin, p.b.home, "--peer", p.a.addr)
	if err != nil {
		return err
	}
	p.b = b
	return waitConnected(ctx, p.bin, b.home)
}

// share shares dir on d and returns its read-write key.
func share(ctx context.Context, bin string, d *daemonProc, dir string) (string, error) {
	out, err := shoalOut(ctx, bin, d.home, "share", dir)
	if err != nil {
		return "", err
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "shoal:rw:") {
			return f, nil
		}
	}
	return "", fmt.Errorf("share printed no key: %s", out)
}

func shoalOut(ctx context.Context, bin, home string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := execShoal(ctx, bin, home, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("shoal %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// apiCall makes an authorized request to d's API.
func (d *daemonProc) apiCall(ctx context.Context, method, path string, body any) (*http.Response, error) {
	tok, err := os.ReadFile(filepath.Join(d.home, "api.token"))
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+d.api+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return resp, nil
}

// folderStat is the part of a folder's status the bench reads.
type folderStat struct {
	State     string `json:"state"`
	Error     string `json:"error"`
	Files     int    `json:"files"`
	NeedFiles int    `json:"need_files"`
	Bytes     int64  `json:"bytes"`
}

func (d *daemonProc) folderStatus(ctx context.Context, dir string) (folderStat, error) {
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/folders/status", map[string]string{"path": dir})
	if err != nil {
		return folderStat{}, err
	}
	defer resp.Body.Close()
	var st []folderStat
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st) != 1 {
		return folderStat{}, fmt.Errorf("folder status: %v (%d folders)", err, len(st))
	}
	return st[0], nil
}

// event is one event of a daemon's stream.
type event struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	Path string    `json:"path"`
	Peer string    `json:"peer"`
	Data string    `json:"data"`
}

// events subscribes to d's event stream until ctx ends; the subscription
// is in place when it returns.
func (d *daemonProc) events(ctx context.Context) (<-chan event, error) {
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/events", nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan event, 8192)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// waitResult says when a folder was done: at is the daemon's time of the
// last file-synced event (with none, of the last idle event), seen when
// its status first showed it done.
// waitResult is when the last file-synced event came (at), when the
// status confirmed it (seen), and when the first file in a subdirectory
// was synced (first; zero if none was).
type waitResult struct{ at, seen, first time.Time }

// waitFolder waits, on d's events, until its folder at dir shows files
// files with nothing needed and is idle; records is how many file-synced
// events to expect (0 for a folder's own scan).
func waitFolder(ctx context.Context, d *daemonProc, evs <-chan event, dir string, files, records int, timeout time.Duration) (waitResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last, idle, first time.Time
	synced := 0
	lastCheck := time.Time{}
	check := func(force bool) (bool, error) {
		// Status counts the whole index: asked rarely while events
		// still say files are arriving, so the bench does not slow the sync.
		if !force && time.Since(lastCheck) < 5*time.Second {
			return false, nil
		}
		lastCheck = time.Now()
		st, err := d.folderStatus(ctx, dir)
		if err != nil {
			return false, err
		}
		if st.State == "stopped" {
			return false, fmt.Errorf("folder stopped: %s", st.Error)
		}
		return st.Files == files && st.NeedFiles == 0 && st.State == "idle", nil
	}
	for {
		force := false
		select {
		case <-ctx.Done():
			st, _ := d.folderStatus(context.Background(), dir)
			return waitResult{}, fmt.Errorf("folder %s not done within %s (%d of %d records synced; status %+v)", dir, timeout, synced, records, st)
		case ev, ok := <-evs:
			if !ok {
				// The API ends long streams (its write deadline):
				// subscribe again and look at the status for what
				// the gap hid.
				var err error
				if evs, err = d.events(ctx); err != nil {
					return waitResult{}, fmt.Errorf("event stream ended: %w", err)
				}
				force = true
				break
			}
			switch ev.Type {
			case "file-synced":
				synced++
				last = ev.Time
				if first.IsZero() && strings.Contains(ev.Path, "/") {
					first = ev.Time
				}
				force = synced == records
			case "events-dropped":
				n, _ := strconv.Atoi(ev.Data)
				synced += n
				last = ev.Time
			case "folder-state":
				if ev.Data == "idle" {
					idle = ev.Time
					force = synced >= records
				}
			case "pull-error":
				fmt.Fprintf(os.Stderr, "shoalbench: pull error %s: %s\n", ev.Path, ev.Data)
			}
		case <-tick.C:
		}
		done, err := check(force)
		if err != nil {
			return waitResult{}, err
		}
		if done {
			r := waitResult{at: last, seen: time.Now(), first: first}
			if r.at.IsZero() {
				r.at = idle
			}
			if r.at.IsZero() {
				r.at = r.seen
			}
			return r, nil
		}
	}
}

// metric reads one sample of d's /metrics, such as
// `shoal_swarm_block_bytes_total{direction="in"}`.
func (d *daemonProc) metric(ctx context.Context, name string) (float64, error) {
	resp, err := d.apiCall(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(l[len(name):]), 64)
		}
	}
	return 0, nil // not yet counted
}

// rss reads d's resident memory now from /proc: the total (VmRSS) and
// its anonymous (heap, stacks) and file-backed (mmapped files) parts.
func (d *daemonProc) rss() (total, anon, file int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		switch {
		case scan1(l, "VmRSS: %d kB", &kb):
			total = kb << 10
		case scan1(l, "RssAnon: %d kB", &kb):
			anon = kb << 10
		case scan1(l, "RssFile: %d kB", &kb):
			file = kb << 10
		}
	}
	if total == 0 {
		return 0, 0, 0, errors.New("no VmRSS in /proc status")
	}
	return total, anon, file, nil
}

func scan1(l, format string, v *int64) bool {
	_, err := fmt.Sscanf(l, format, v)
	return err == nil
}

func (d *daemonProc) cpu() (time.Duration, error) { return procCPU(d.cmd.Process.Pid) }

// diskUsage is the space the files under dir take on disk (allocated
// blocks, as du counts them).
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		n += st.Blocks * 512
		return nil
	})
	return n, err
}

// treeSpec is a folder of files in directories of perDir each.
type treeSpec struct {
	files  int
	size   int64 // bytes per file
	perDir int
}

func (s treeSpec) dirs() int { return (s.files + s.perDir - 1) / s.perDir }

func (s treeSpec) path(i int) string {
	return filepath.Join(fmt.Sprintf("d%04d", i/s.perDir), fmt.Sprintf("f%06d.bin", i))
}

// writeTree writes the files under root on every core, each with its own
// bytes, and syncs the disk so that no writeback shares the timed part.
func writeTree(root string, s treeSpec, seed uint64) error {
	for d := range s.dirs() {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%04d", d)), 0o755); err != nil {
			return err
		}
	}
	err := parallel(s.files, func(i int, buf []byte) error {
		fill(buf[:s.size], seed+uint64(i))
		return os.WriteFile(filepath.Join(root, s.path(i)), buf[:s.size], 0o644)
	}, s.size)
	syscall.Sync()
	return err
}

// durableWriteRate writes the tree's files into a new directory the way a
// careful program does (a temp file, fsync, rename into place), with a
// plain loop on every core, and returns files per second.
func durableWriteRate(dir string, s treeSpec) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	for d := range s.dirs() {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%04d", d)), 0o755); err != nil {
			return 0, err
		}
	}
	syscall.Sync()
	start := time.Now()
	err := parallel(s.files, func(i int, buf []byte) error {
		fill(buf[:s.size], uint64(i)+1<<40)
		dst := filepath.Join(dir, s.path(i))
		tmp := dst + ".tmp"
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(buf[:s.size]); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, dst)
	}, s.size)
	return float64(s.files) / time.Since(start).Seconds(), err
}

// parallel runs fn for 0..n-1 on every core, each worker with a buffer
// of size bytes.
func parallel(n int, fn func(i int, buf []byte) error, size int64) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := 0
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i, buf); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// fill fills b with bytes unique to seed, cheaply (a splitmix64 stream).
func fill(b []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 0; i < len(b); i += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(z >> (8 * j))
		}
	}
}

// chunkHashRate is the rate, in bytes per second, at which this machine
// chunks (FastCDC) and hashes (SHA-256) n bytes held in memory with every
// core busy: the ceiling of a scan.
func chunkHashRate(n int64) float64 {
	cores := runtime.NumCPU()
	part := n / int64(cores)
	parts := make([][]byte, cores)
	for i := range parts {
		parts[i] = randomDataSeed(part, uint64(i)+7)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunkAll(p)
			hashAll(p)
		}()
	}
	wg.Wait()
	return float64(part*int64(cores)) / time.Since(start).Seconds()
}

func goal(ok bool, s string) string {
	if ok {
		return s
	}
	return s + " MISS"
}

// profileBoth, when SHOAL_BENCH_PROFILE names a directory, takes a CPU
// profile of both daemons for secs seconds in the background, into
// NAME-a.pprof and NAME-b.pprof there (read with go tool pprof). With
// SHOAL_BENCH_TRACE=1 it takes an execution trace instead, into
// NAME-a.trace and NAME-b.trace (read with go tool trace): where the
// wall time waits, which a CPU profile does not show.
func (p *syncPair) profileBoth(ctx context.Context, name string, secs int) {
	out := os.Getenv("SHOAL_BENCH_PROFILE")
	if out == "" {
		return
	}
	what, ext := "profile", ".pprof"
	if os.Getenv("SHOAL_BENCH_TRACE") == "1" {
		what, ext = "trace", ".trace"
	}
	for _, d := range []struct {
		side string
		p    *daemonProc
	}{{"a", p.a}, {"b", p.b}} {
		go func() {
			resp, err := d.p.apiCall(ctx, http.MethodGet, fmt.Sprintf("/debug/pprof/%s?seconds=%d", what, secs), nil)
			if err != nil {
				fmt.Fprintf(os.Stderr, "shoalbench: profile: %v\n", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(out, name+"-"+d.side+ext))
			if err != nil {
				return
			}
			defer f.Close()
			io.Copy(f, resp.Body)
		}()
	}
}

func profileSecs() int {
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_PROFILE_SECS")); err == nil && n > 0 {
		return n
	}
	if os.Getenv("SHOAL_BENCH_QUICK") == "1" {
		return 2
	}
	return 8
}

// saveProfile, when SHOAL_BENCH_PROFILE names a directory, saves d's
// /debug/pprof/WHAT (heap, allocs, goroutine) there as NAME.pprof.
func (d *daemonProc) saveProfile(ctx context.Context, what, name string) {
	out := os.Getenv("SHOAL_BENCH_PROFILE")
	if out == "" {
		return
	}
	resp, err := d.apiCall(ctx, http.MethodGet, "/debug/pprof/"+what, nil)
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
}

// profilePeak, when SHOAL_BENCH_PROFILE names a directory, watches d's
// resident memory until ctx ends and saves its heap profile as NAME.pprof
// each time the resident size passes its last high by 4 MiB: what is
// left is the heap near the peak the bench reports.
func (d *daemonProc) profilePeak(ctx context.Context, name string) {
	if os.Getenv("SHOAL_BENCH_PROFILE") == "" {
		return
	}
	go func() {
		var high int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			total, _, _, err := d.rss()
			if err != nil {
				return
			}
			if total > high+4<<20 {
				high = total
				d.saveProfile(ctx, "heap", name)
			}
		}
	}()
}
