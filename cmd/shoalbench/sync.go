package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// syncSizes are the sizes of issue 11's scenarios; SHOAL_BENCH_QUICK=1
// shrinks them for a fast check of the bench itself.
type syncSizes struct {
	files      int   // small-file sync (4 KiB each)
	edits      int   // edits timed from A to B
	insert     int64 // the file a byte is inserted into
	big        int64 // the one-file initial sync
	scanBytes  int64 // the many-file scan...
	scanFiles  int   // ...in this many files
	scaleFiles int   // the scale run (4 KiB each)
}

func syncSizesFor(quick bool) syncSizes {
	if quick {
		return syncSizes{files: 1000, edits: 10, insert: 32 << 20, big: 64 << 20, scanBytes: 64 << 20, scanFiles: 1000, scaleFiles: 5000}
	}
	return syncSizes{files: 10000, edits: 50, insert: 256 << 20, big: 1 << 30, scanBytes: 1 << 30, scanFiles: 10000, scaleFiles: 100000}
}

type syncBench struct {
	bin, work string
	sz        syncSizes
	t         *table
	smallRate float64 // files/s of the small-file sync, for the scale run
}

// benchSync measures issue 11's folder-sync figures, each with two real
// `shoal daemon` processes on loopback (A shares, B joins), beside the
// limit this machine shows for the same work in the same run.
// SHOAL_BENCH_SYNC=small,insert,big,scan,scale picks parts.
func benchSync(ctx context.Context, opt options, t *table) error {
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
	b := &syncBench{bin: bin, work: work, sz: syncSizesFor(quick), t: t}
	parts := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"small", b.small}, {"insert", b.insert}, {"big", b.big}, {"scan", b.scan}, {"scale", b.scale},
	}
	pick := os.Getenv("SHOAL_BENCH_SYNC")
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
		t.note("SHOAL_BENCH_QUICK=1: sizes shrunk (%d small files, %d for scale, %d MiB one file, %d MiB insert file)",
			b.sz.files, b.sz.scaleFiles, b.sz.big>>20, b.sz.insert>>20)
	}
	t.note("two `shoal daemon --no-dht` processes on loopback, B dialing A; A shares, B joins an empty folder; done = B's status shows every file, nothing needed, idle (woken by B's event stream)")
	return errors.Join(errs...)
}

// folders makes the pair's two folder paths under dir.
func folderPaths(dir string) (a, b string) {
	return filepath.Join(dir, "folder-a"), filepath.Join(dir, "folder-b")
}

// initialResult is what initialSync measured: B's files per second, A's
// scan, and how long after the join B had its first file.
type initialResult struct {
	rate        float64
	scan, first time.Duration
}

// initialSync writes spec's tree into A's folder, shares it, waits for
// A's scan, joins on B, and measures B's sync.
func (b *syncBench) initialSync(ctx context.Context, p *syncPair, dir string, spec treeSpec) (initialResult, error) {
	var r initialResult
	fa, fb := folderPaths(dir)
	if err := writeTree(fa, spec, 0); err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evA, err := p.a.events(ctx)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	key, err := share(ctx, b.bin, p.a, fa)
	if err != nil {
		return r, err
	}
	timeout := max(3*time.Minute, time.Duration(spec.files)*10*time.Millisecond)
	if _, err := waitFolder(ctx, p.a, evA, fa, spec.files, 0, timeout); err != nil {
		return r, fmt.Errorf("scan on A: %w", err)
	}
	r.scan = time.Since(t0)
	evB, err := p.b.events(ctx)
	if err != nil {
		return r, err
	}
	t1 := time.Now()
	p.profileBoth(ctx, fmt.Sprintf("sync%d", spec.files), profileSecs())
	if _, err := shoalOut(ctx, b.bin, p.b.home, "join", key, fb); err != nil {
		return r, err
	}
	w, err := waitFolder(ctx, p.b, evB, fb, spec.files, spec.files+spec.dirs(), timeout)
	if err != nil {
		return r, fmt.Errorf("sync on B: %w", err)
	}
	for _, i := range []int{0, spec.files / 2, spec.files - 1} {
		want, err := os.ReadFile(filepath.Join(fa, spec.path(i)))
		if err != nil {
			return r, err
		}
		if err := sameFile(filepath.Join(fb, spec.path(i)), want); err != nil {
			return r, fmt.Errorf("copy on B of %s: %w", spec.path(i), err)
		}
	}
	r.rate = float64(spec.files) / w.at.Sub(t1).Seconds()
	if !w.first.IsZero() {
		r.first = w.first.Sub(t1)
	}
	return r, nil
}

// small: scenarios 1 (10,000 small files), 2 (edit latency) and 7 (idle RSS).
func (b *syncBench) small(ctx context.Context) error {
	dir := filepath.Join(b.work, "small")
	defer os.RemoveAll(dir)
	spec := treeSpec{files: b.sz.files, size: 4 << 10, perDir: 100}
	limit, err := durableWriteRate(filepath.Join(dir, "limit"), spec)
	if err != nil {
		return fmt.Errorf("durable write loop: %w", err)
	}
	p, err := startPair(ctx, b.bin, dir)
	if err != nil {
		return err
	}
	defer func() { p.stop() }()
	r, err := b.initialSync(ctx, p, dir, spec)
	if err != nil {
		return err
	}
	rate := r.rate
	b.smallRate = rate
	b.t.add(row{fmt.Sprintf("%d files x 4 KiB, initial sync A->B", spec.files), fmt.Sprintf("%.0f files/s", rate),
		fmt.Sprintf("%.0f files/s durable writes, %d cores", limit, runtime.NumCPU()), fmt.Sprintf("%.2f", rate/limit), goal(rate >= 2000, ">= 2,000 files/s")})
	b.t.add(row{"  A's initial scan of them (share to idle)", fmt.Sprintf("%.0f files/s", float64(spec.files)/r.scan.Seconds()), "-", "-", "-"})
	b.t.add(row{"  first file on B, after the join", ms(r.first).String(), "-", "-", "-"})

	if err := b.latency(ctx, p, dir); err != nil {
		return fmt.Errorf("edit latency: %w", err)
	}

	// Idle memory with this one folder: after the sync, and after a
	// restart of B (its start-up scan finds nothing changed).
	time.Sleep(3 * time.Second)
	var rows []rssRow
	for _, d := range []struct {
		name string
		p    *daemonProc
	}{{"A (sharer), idle after sync", p.a}, {"B (joiner), idle after sync", p.b}} {
		r, err := takeRSS(d.name, d.p)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	p.a.saveProfile(ctx, "heap", "synced-heap-a")
	_, fb := folderPaths(dir)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := p.restartB(rctx); err != nil {
		return err
	}
	evB, err := p.b.events(rctx)
	if err != nil {
		return err
	}
	if _, err := waitFolder(rctx, p.b, evB, fb, spec.files+1, 0, 2*time.Minute); err != nil { // and edit.txt
		return fmt.Errorf("restarted B: %w", err)
	}
	time.Sleep(3 * time.Second)
	restarted, err := takeRSS("B restarted, idle", p.b)
	if err != nil {
		return err
	}
	rows = append(rows, restarted)
	p.b.saveProfile(rctx, "heap", "idle-heap-b")
	const rssGoal = 40 << 20
	for _, r := range rows {
		b.t.add(row{fmt.Sprintf("daemon RSS, one folder of %d files: %s", spec.files, r.name),
			fmt.Sprintf("%s (anon %s, file %s)", mib(r.total), mib(r.anon), mib(r.file)), "40 MiB",
			fmt.Sprintf("%.2f", float64(r.total)/rssGoal), goal(r.total <= rssGoal, "<= 1.00")})
	}
	return nil
}

type rssRow struct {
	name              string
	total, anon, file int64
}

func takeRSS(name string, d *daemonProc) (rssRow, error) {
	t, a, f, err := d.rss()
	return rssRow{name, t, a, f}, err
}

// latency: scenario 2, a file saved on A until B has its bytes.
func (b *syncBench) latency(ctx context.Context, p *syncPair, dir string) error {
	fa, fb := folderPaths(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evB, err := p.b.events(ctx)
	if err != nil {
		return err
	}
	const name = "edit.txt"
	var lat []time.Duration
	buf := make([]byte, 4<<10)
	for i := range b.sz.edits + 1 { // the first creates the file, untimed
		fill(buf, uint64(i)+1<<50)
		content := append([]byte(fmt.Sprintf("edit %d\n", i)), buf...)
		t0 := time.Now()
		if err := os.WriteFile(filepath.Join(fa, name), content, 0o644); err != nil {
			return err
		}
		done, err := waitContent(ctx, evB, filepath.Join(fb, name), name, content, 30*time.Second)
		if err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
		if i > 0 {
			lat = append(lat, done.Sub(t0))
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	b.t.add(row{fmt.Sprintf("file saved on A -> complete on B, p50 of %d edits", len(lat)), ms(p50).String(), "300ms",
		fmt.Sprintf("%.2f", ratio(p50, 300*time.Millisecond)), goal(p50 < 300*time.Millisecond, "< 1.00")})
	b.t.add(row{"  p99", ms(p99).String(), "1s", fmt.Sprintf("%.2f", ratio(p99, time.Second)), goal(p99 < time.Second, "< 1.00")})
	b.t.note("edit latency: from the write on A to B's file-synced event after which B's file holds the new bytes (4 KiB file; includes A's watcher debounce)")
	return nil
}

// waitContent waits for a file-synced event of rel after which path
// holds want, and returns the event's time.
func waitContent(ctx context.Context, evs <-chan event, path, rel string, want []byte, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline:
			return time.Time{}, fmt.Errorf("%s did not arrive within %s", rel, timeout)
		case ev, ok := <-evs:
			if !ok {
				return time.Time{}, errors.New("event stream ended")
			}
			if ev.Type != "file-synced" || ev.Path != rel {
				continue
			}
			if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, want) {
				return ev.Time, nil
			}
		}
	}
}

// insert: scenario 3, one byte inserted in the middle of a synced file.
func (b *syncBench) insert(ctx context.Context) error {
	dir := filepath.Join(b.work, "insert")
	defer os.RemoveAll(dir)
	p, err := startPair(ctx, b.bin, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	const name = "big.bin"
	fa, fb := folderPaths(dir)
	if err := os.MkdirAll(fa, 0o755); err != nil {
		return err
	}
	if err := writeRandomFile(filepath.Join(fa, name), b.sz.insert); err != nil {
		return err
	}
	if err := b.shareJoin(ctx, p, dir, 1); err != nil {
		return err
	}
	const in = `shoal_swarm_block_bytes_total{direction="in"}`
	in0, err := p.b.metric(ctx, in)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(fa, name))
	if err != nil {
		return err
	}
	mid := len(data) / 2
	edited := slices.Concat(data[:mid], []byte{'!'}, data[mid:])
	data = nil
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evB, err := p.b.events(ctx)
	if err != nil {
		return err
	}
	// Saved the way editors save: a new file renamed over the old one.
	tmp := filepath.Join(dir, "edited.tmp")
	if err := os.WriteFile(tmp, edited, 0o644); err != nil {
		return err
	}
	t0 := time.Now()
	if err := os.Rename(tmp, filepath.Join(fa, name)); err != nil {
		return err
	}
	done, err := waitContent(ctx, evB, filepath.Join(fb, name), name, edited, 2*time.Minute)
	if err != nil {
		return err
	}
	in1, err := p.b.metric(ctx, in)
	if err != nil {
		return err
	}
	moved := int64(in1 - in0)
	const limit = 768 << 10
	b.t.add(row{fmt.Sprintf("1-byte insert mid %d MiB file: block bytes to B", b.sz.insert>>20), fmt.Sprintf("%.0f KiB", float64(moved)/1024),
		"768 KiB (3 chunks)", fmt.Sprintf("%.2f", float64(moved)/limit), goal(moved <= limit, "<= 1.00")})
	b.t.add(row{"  time from the rename on A to B's copy", ms(done.Sub(t0)).String(), "-", "-", "-"})
	return nil
}

// shareJoin shares A's folder (already written), waits for its scan,
// joins on B and waits until B holds files files.
func (b *syncBench) shareJoin(ctx context.Context, p *syncPair, dir string, files int) error {
	fa, fb := folderPaths(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evA, err := p.a.events(ctx)
	if err != nil {
		return err
	}
	key, err := share(ctx, b.bin, p.a, fa)
	if err != nil {
		return err
	}
	if _, err := waitFolder(ctx, p.a, evA, fa, files, 0, 5*time.Minute); err != nil {
		return fmt.Errorf("scan on A: %w", err)
	}
	evB, err := p.b.events(ctx)
	if err != nil {
		return err
	}
	if _, err := shoalOut(ctx, b.bin, p.b.home, "join", key, fb); err != nil {
		return err
	}
	_, err = waitFolder(ctx, p.b, evB, fb, files, files, 10*time.Minute)
	return err
}

func execShoal(ctx context.Context, bin, home string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, append([]string{"--home", home}, args...)...)
}
