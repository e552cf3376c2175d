package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// historySizes are issue 13's sizes; SHOAL_BENCH_QUICK=1 shrinks them.
type historySizes struct {
	replace  int64 // bytes of files replaced remotely
	files    int   // the restore and snapshot folder (4 KiB each)
	records  int   // files in the history folder
	versions int   // versions of its one path
}

func historySizesFor(quick bool) historySizes {
	if quick {
		return historySizes{replace: 64 << 20, files: 1000, records: 10000, versions: 100}
	}
	return historySizes{replace: 1 << 30, files: 10000, records: 100000, versions: 1000}
}

type historyBench struct {
	bin, work string
	sz        historySizes
	t         *table
}

// benchHistory measures issue 13's figures with real daemons on
// loopback: what keeping versions costs in disk writes, a whole-folder
// restore against the same files' initial sync, a snapshot, and history
// of a path with many versions. SHOAL_BENCH_HISTORY=replace,restore,history
// picks parts.
func benchHistory(ctx context.Context, opt options, t *table) error {
	work, cleanup, err := workDir(opt.workDir)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := buildShoal(ctx, work)
	if err != nil {
		return err
	}
	quick := os.Getenv("SHOAL_BENCH_QUICK") == "1"
	b := &historyBench{bin: bin, work: work, sz: historySizesFor(quick), t: t}
	parts := []struct {
		name string
		fn   func(context.Context) error
	}{{"replace", b.replace}, {"restore", b.restore}, {"history", b.history}}
	pick := os.Getenv("SHOAL_BENCH_HISTORY")
	var errs []error
	for _, p := range parts {
		if pick != "" && !slices.Contains(strings.Split(pick, ","), p.name) {
			continue
		}
		if err := p.fn(ctx); err != nil {
			t.note("%s: FAILED: %v", p.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if quick {
		t.note("SHOAL_BENCH_QUICK=1: sizes shrunk (%d MiB replaced, %d files restored, %d records, %d versions)",
			b.sz.replace>>20, b.sz.files, b.sz.records, b.sz.versions)
	}
	t.note("`shoal daemon --no-dht` processes on loopback; disk bytes from /proc/PID/io of the daemon (write_bytes, read_bytes: what reached the storage layer; rchar: every read, cached or not)")
	return errors.Join(errs...)
}

// procIO is a process's I/O counters.
type procIO struct{ rchar, readBytes, writeBytes int64 }

func (d *daemonProc) io() (procIO, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", d.cmd.Process.Pid))
	if err != nil {
		return procIO{}, err
	}
	defer f.Close()
	var out procIO
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "rchar":
			out.rchar = n
		case "read_bytes":
			out.readBytes = n
		case "write_bytes":
			out.writeBytes = n
		}
	}
	return out, sc.Err()
}

// aged sets every file under root to mtime t.
func aged(root string, t time.Time) error {
	return filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.Contains(p, string(filepath.Separator)+".shoal") {
			return err
		}
		return os.Chtimes(p, t, t)
	})
}

// syncPairFolder shares spec's tree (already written) on A, joins it on
// B and returns B's files per second and B's write_bytes meanwhile.
func (b *historyBench) syncPairFolder(ctx context.Context, p *syncPair, fa, fb string, spec treeSpec, settings ...string) (rate float64, written int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evA, err := p.a.events(ctx)
	if err != nil {
		return 0, 0, err
	}
	out, err := shoalOut(ctx, b.bin, p.a.home, append([]string{"share", fa}, settings...)...)
	if err != nil {
		return 0, 0, err
	}
	var key string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "shoal:rw:") {
			key = f
		}
	}
	timeout := max(3*time.Minute, time.Duration(spec.files)*10*time.Millisecond)
	if _, err := waitFolder(ctx, p.a, evA, fa, spec.files, 0, timeout); err != nil {
		return 0, 0, fmt.Errorf("scan on A: %w", err)
	}
	evB, err := p.b.events(ctx)
	if err != nil {
		return 0, 0, err
	}
	syscall.Sync()
	io0, err := p.b.io()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if _, err := shoalOut(ctx, b.bin, p.b.home, append([]string{"join", key, fb}, settings...)...); err != nil {
		return 0, 0, err
	}
	w, err := waitFolder(ctx, p.b, evB, fb, spec.files, spec.files+spec.dirs(), timeout)
	if err != nil {
		return 0, 0, fmt.Errorf("sync on B: %w", err)
	}
	rate = float64(spec.files) / w.at.Sub(t0).Seconds()
	syscall.Sync()
	io1, err := p.b.io()
	return rate, io1.writeBytes - io0.writeBytes, err
}

// overwrite gives every file of spec under root new bytes (seed) and
// waits until B has them all.
func (b *historyBench) overwrite(ctx context.Context, p *syncPair, fa, fb string, spec treeSpec, seed uint64) (written int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evB, err := p.b.events(ctx)
	if err != nil {
		return 0, err
	}
	syscall.Sync()
	io0, err := p.b.io()
	if err != nil {
		return 0, err
	}
	if err := writeTree(fa, spec, seed); err != nil {
		return 0, err
	}
	timeout := max(3*time.Minute, time.Duration(spec.files)*10*time.Millisecond)
	if _, err := waitFolder(ctx, p.b, evB, fb, spec.files, spec.files, timeout); err != nil {
		return 0, fmt.Errorf("after the overwrite, on B: %w", err)
	}
	want, err := os.ReadFile(filepath.Join(fa, spec.path(spec.files-1)))
	if err != nil {
		return 0, err
	}
	if err := sameFile(filepath.Join(fb, spec.path(spec.files-1)), want); err != nil {
		return 0, fmt.Errorf("the copy on B after the overwrite: %w", err)
	}
	syscall.Sync()
	io1, err := p.b.io()
	return io1.writeBytes - io0.writeBytes, err
}

// replace: 1 GiB of files replaced on A; B keeps what they replace. The
// extra bytes B writes over the same files' initial sync are what keeping
// the versions cost.
func (b *historyBench) replace(ctx context.Context) error {
	dir := filepath.Join(b.work, "replace")
	defer os.RemoveAll(dir)
	spec := treeSpec{files: int(b.sz.replace / (4 << 20)), size: 4 << 20, perDir: 64}
	fa, fb := folderPaths(dir)
	if err := writeTree(fa, spec, 1); err != nil {
		return err
	}
	p, err := startPair(ctx, b.bin, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	_, w0, err := b.syncPairFolder(ctx, p, fa, fb, spec)
	if err != nil {
		return err
	}
	w1, err := b.overwrite(ctx, p, fa, fb, spec, 1<<32)
	if err != nil {
		return err
	}
	kept, err := diskUsage(filepath.Join(fb, ".shoal", "versions"))
	if err != nil {
		return err
	}
	extra := w1 - w0
	ratio := float64(extra) / float64(b.sz.replace)
	b.t.add(row{fmt.Sprintf("%d MiB of files replaced remotely: B's extra disk writes for versions", b.sz.replace>>20),
		fmt.Sprintf("%.1f MiB", float64(extra)/(1<<20)),
		fmt.Sprintf("%d MiB replaced (B wrote %.0f MiB for the initial sync, %.0f MiB for the replacement)", b.sz.replace>>20, float64(w0)/(1<<20), float64(w1)/(1<<20)),
		fmt.Sprintf("%.4f", ratio), goal(ratio <= 0.01, "<= 1%")})
	b.t.add(row{"  versions kept on B (by rename, no copy)", fmt.Sprintf("%.0f MiB", float64(kept)/(1<<20)), "-", "-", "-"})
	return nil
}

// restore: 10,000 files synced, all overwritten remotely, then restore
// DIR --at on B from its kept versions, against the initial sync's rate.
func (b *historyBench) restore(ctx context.Context) error {
	dir := filepath.Join(b.work, "restore")
	defer os.RemoveAll(dir)
	spec := treeSpec{files: b.sz.files, size: 4 << 10, perDir: 100}
	fa, fb := folderPaths(dir)
	if err := writeTree(fa, spec, 7); err != nil {
		return err
	}
	if err := aged(fa, time.Now().Add(-3*time.Hour)); err != nil {
		return err
	}
	p, err := startPair(ctx, b.bin, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	rate0, _, err := b.syncPairFolder(ctx, p, fa, fb, spec)
	if err != nil {
		return err
	}
	if _, err := b.overwrite(ctx, p, fa, fb, spec, 1<<33); err != nil {
		return err
	}
	syscall.Sync()
	p.profileBoth(ctx, "restore", 6)
	t0 := time.Now()
	out, err := shoalOut(ctx, b.bin, p.b.home, "restore", fb, "--at", "1h")
	if err != nil {
		return err
	}
	el := time.Since(t0)
	if !strings.Contains(out, fmt.Sprintf("restored %d paths", spec.files)) {
		return fmt.Errorf("restore said: %s", lastLine(out))
	}
	check := make([]byte, spec.size)
	fill(check, 7+uint64(spec.files-1))
	if err := sameFile(filepath.Join(fb, spec.path(spec.files-1)), check); err != nil {
		return fmt.Errorf("restored file: %w", err)
	}
	rate := float64(spec.files) / el.Seconds()
	b.t.add(row{fmt.Sprintf("restore DIR --at of %d files x 4 KiB, old blocks local (B)", spec.files), fmt.Sprintf("%.0f files/s", rate),
		fmt.Sprintf("%.0f files/s initial sync of the same files", rate0), fmt.Sprintf("%.2f", rate/rate0), goal(rate >= 0.8*rate0, ">= 0.8x")})

	// Snapshot of the folder now: from the index, reading no file data.
	syscall.Sync()
	io0, err := p.b.io()
	if err != nil {
		return err
	}
	t1 := time.Now()
	if _, err := shoalOut(ctx, b.bin, p.b.home, "snapshot", fb); err != nil {
		return err
	}
	sel := time.Since(t1)
	io1, err := p.b.io()
	if err != nil {
		return err
	}
	b.t.add(row{fmt.Sprintf("snapshot of %d files (shoal snapshot, process start included)", spec.files), fmt.Sprintf("%.0f ms", msf(sel)),
		"1000 ms", fmt.Sprintf("%.2f", sel.Seconds()), goal(sel < time.Second, "< 1 s")})
	folderBytes := int64(spec.files) * spec.size
	b.t.add(row{"  daemon reads during the snapshot", fmt.Sprintf("%d KiB from disk, %d KiB in all", (io1.readBytes-io0.readBytes)>>10, (io1.rchar-io0.rchar)>>10),
		fmt.Sprintf("%d KiB of file data", folderBytes>>10), fmt.Sprintf("%.3f", float64(io1.rchar-io0.rchar)/float64(folderBytes)),
		goal(io1.rchar-io0.rchar < folderBytes/10, "reads no file data")})
	t2 := time.Now()
	if _, err := shoalOut(ctx, b.bin, p.b.home, "snapshot", fb, "--at", "1h"); err != nil {
		return err
	}
	b.t.add(row{"  snapshot --at 1h (from the index's history)", fmt.Sprintf("%.0f ms", msf(time.Since(t2))), "-", "-", "-"})
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

// history: a folder of 100,000 records, one path of it with 1,000
// versions; how long `shoal history PATH` takes to answer.
func (b *historyBench) history(ctx context.Context) error {
	dir := filepath.Join(b.work, "history")
	defer os.RemoveAll(dir)
	spec := treeSpec{files: b.sz.records - 1, size: 16, perDir: 1000}
	fa, _ := folderPaths(dir)
	if err := writeTree(fa, spec, 11); err != nil {
		return err
	}
	hot := filepath.Join(fa, "hot.txt")
	if err := os.WriteFile(hot, []byte("version 0"), 0o644); err != nil {
		return err
	}
	a, err := startDaemonProc(ctx, b.bin, filepath.Join(dir, "home-a"))
	if err != nil {
		return err
	}
	defer a.stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, err := a.events(ctx)
	if err != nil {
		return err
	}
	if _, err := shoalOut(ctx, b.bin, a.home, "share", "--versions", strconv.Itoa(b.sz.versions), "--max-size", "0", fa); err != nil {
		return err
	}
	if _, err := waitFolder(ctx, a, evs, fa, spec.files+1, 0, 10*time.Minute); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	// The path's versions, one local change at a time.
	t0 := time.Now()
	for v := 1; v < b.sz.versions+1; v++ {
		if err := os.WriteFile(hot, []byte(fmt.Sprintf("version %d", v)), 0o644); err != nil {
			return err
		}
		if err := waitLocalChange(ctx, evs, "hot.txt", time.Minute); err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
	}
	// An event of the share's own scan may have stood for an edit:
	// write on until the index holds every version.
	for extra := 0; ; extra++ {
		vs, err := historyLen(ctx, a, hot)
		if err != nil {
			return err
		}
		if vs >= b.sz.versions+1 || extra > 100 {
			break
		}
		if err := os.WriteFile(hot, []byte(fmt.Sprintf("version %d+%d", b.sz.versions, extra)), 0o644); err != nil {
			return err
		}
		if err := waitLocalChange(ctx, evs, "hot.txt", time.Minute); err != nil {
			return err
		}
	}
	made := time.Since(t0)
	var times []time.Duration
	var n int
	for range 7 {
		t := time.Now()
		resp, err := a.apiCall(ctx, http.MethodPost, "/api/v0/folders/history", map[string]string{"path": hot})
		if err != nil {
			return err
		}
		var vs []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&vs)
		resp.Body.Close()
		if err != nil {
			return err
		}
		times = append(times, time.Since(t))
		n = len(vs)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	if n != b.sz.versions+1 {
		return fmt.Errorf("history lists %d versions, want %d", n, b.sz.versions+1)
	}
	t1 := time.Now()
	if _, err := shoalOut(ctx, b.bin, a.home, "history", hot); err != nil {
		return err
	}
	cli := time.Since(t1)
	b.t.add(row{fmt.Sprintf("history PATH: %d versions, %d records in the folder (API call, median of 7)", n, b.sz.records+b.sz.versions),
		fmt.Sprintf("%.1f ms", msf(med)), "50 ms", fmt.Sprintf("%.2f", msf(med)/50), goal(med < 50*time.Millisecond, "< 50 ms")})
	b.t.add(row{"  the same through `shoal history` (a process started)", fmt.Sprintf("%.0f ms", msf(cli)), "-", "-", "-"})
	b.t.add(row{fmt.Sprintf("  %d local edits of the path recorded", b.sz.versions), fmt.Sprintf("%.0f edits/s", float64(b.sz.versions)/made.Seconds()), "-", "-", "-"})
	return nil
}

// historyLen is how many versions of path the daemon lists.
func historyLen(ctx context.Context, d *daemonProc, path string) (int, error) {
	resp, err := d.apiCall(ctx, http.MethodPost, "/api/v0/folders/history", map[string]string{"path": path})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var vs []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&vs)
	return len(vs), err
}

// waitLocalChange waits for the daemon's local-change event of path.
func waitLocalChange(ctx context.Context, evs <-chan event, path string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("no local-change event")
		case ev, ok := <-evs:
			if !ok {
				return errors.New("event stream ended")
			}
			if ev.Type == "local-change" && ev.Path == path {
				return nil
			}
		}
	}
}
