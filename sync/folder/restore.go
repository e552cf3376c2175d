package folder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
	"github.com/shoal-sync/shoal/sync/folder/scan"
)

// ErrMissingBlocks means a restore needs blocks that neither this machine
// nor any reachable peer has; nothing was changed.
var ErrMissingBlocks = errors.New("no reachable peer has the blocks")

// Revert puts a read-only folder back to the global state: every path
// changed here is moved into .shoal/versions/ (kept, not deleted) and the
// global version is pulled in its place.
func (f *Folder) Revert(ctx context.Context) error {
	if f.opt.Index.Writable() {
		return errors.New("revert is for read-only folders: a read-write folder publishes its changes")
	}
	return f.call(ctx, f.doRevert)
}

// call is work run by the folder's loop, between scans and pulls.
type call struct {
	fn   func(context.Context, *ignore.Matcher) error
	done chan error
}

// call runs fn in the folder's loop and returns its error.
func (f *Folder) call(ctx context.Context, fn func(context.Context, *ignore.Matcher) error) error {
	c := call{fn: fn, done: make(chan error, 1)}
	select {
	case f.calls <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RestoreTree puts many paths back at once, as one change of the
// folder: each path in want gets its record's content, or is removed
// (kept in .shoal/versions/) where the record is nil or a deletion. The
// versions replaced are kept. Every file is fetched first, into
// temporary files: if one cannot be (ErrMissingBlocks naming them),
// nothing is changed. Then a journal lists the renames before they are
// made, so that a crash among them is finished at the next start: the
// folder is as it was, or as restored, never half of each.
func (f *Folder) RestoreTree(ctx context.Context, want map[string]*index.Record) error {
	if !f.opt.Index.Writable() {
		return errors.New("restore into a read-only folder would not reach its peers")
	}
	var roots []cid.Cid
	for _, r := range want {
		if r != nil && !r.Deleted && r.Type == index.TypeFile {
			roots = append(roots, r.Cid())
		}
	}
	defer f.hold(roots...)()
	return f.call(ctx, func(ctx context.Context, ign *ignore.Matcher) error {
		var paths []string
		for p := range want {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		t0 := time.Now()
		j, err := f.stage(ctx, paths, want)
		if err != nil {
			return err
		}
		t1 := time.Now()
		if err := f.commitJournal(ctx, j); err != nil {
			return err
		}
		t2 := time.Now()
		err = f.publishRestored(ctx, ign, j, want)
		f.log.Info("restored", "paths", len(paths), "fetch", t1.Sub(t0).Round(time.Millisecond),
			"rename", t2.Sub(t1).Round(time.Millisecond), "scan", time.Since(t2).Round(time.Millisecond))
		return err
	})
}

// stage fetches every file of want into a temporary file and returns
// the journal of what is to change; on any failure it removes what it
// staged.
func (f *Folder) stage(ctx context.Context, paths []string, want map[string]*index.Record) (*journal, error) {
	popt := f.pullOptions()
	j := &journal{}
	var files []int
	made := map[string]bool{}
	for _, p := range paths {
		r := want[p]
		e := entry{Path: p}
		switch {
		case r == nil || r.Deleted:
			e.Action = actRemove
		case r.Type == index.TypeDir:
			e.Action = actDir
		case r.Type == index.TypeFile:
			e.Action = actFile
			e.Staged = restoreTempPrefix + pull.TempName(r)
			files = append(files, len(j.Entries))
			if d := filepath.Dir(pull.TempPath(f.opt.Root, e.Staged)); !made[d] {
				if err := os.MkdirAll(d, 0o700); err != nil {
					return nil, err
				}
				made[d] = true
			}
		default:
			continue // symlinks come back with a scan of their target's folder
		}
		j.Entries = append(j.Entries, e)
	}
	var mu sync.Mutex
	var missing []string
	var firstErr error
	// The first file whose blocks nobody sends stops the rest: the
	// restore would change nothing anyway, and each would wait as long.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(max(f.opt.Pullers, 1), max(len(files), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e := j.Entries[i]
				if sctx.Err() != nil {
					continue
				}
				err := pull.ExportStaged(sctx, popt, want[e.Path], pull.TempPath(f.opt.Root, e.Staged))
				if err == nil {
					continue
				}
				mu.Lock()
				switch {
				case errors.Is(err, pull.ErrStalled):
					missing = append(missing, e.Path)
					stop()
				case sctx.Err() != nil && ctx.Err() == nil: // stopped by another's stall
				default:
					firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", e.Path, err))
					stop()
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(missing) > 0 || firstErr != nil || ctx.Err() != nil {
		for _, i := range files {
			os.Remove(pull.TempPath(f.opt.Root, j.Entries[i].Staged))
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			list := missing
			if len(list) > 10 {
				list = list[:10]
			}
			return nil, fmt.Errorf("%w of %s (the restore stopped there; nothing was changed)", ErrMissingBlocks, strings.Join(list, ", "))
		}
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		return nil, fmt.Errorf("%w (nothing was changed)", firstErr)
	}
	staged := make([]string, 0, len(files))
	for _, i := range files {
		staged = append(staged, pull.TempPath(f.opt.Root, j.Entries[i].Staged))
	}
	if err := pull.Flush(staged); err != nil {
		for _, p := range staged {
			os.Remove(p)
		}
		return nil, fmt.Errorf("make restored files durable: %w (nothing was changed)", err)
	}
	return j, nil
}

// Restore brings back version r of the file at path: to out when it is
// set (the folder is not touched), else in the folder as a new change,
// synced to the peers, the current version kept in .shoal/versions/. A
// version whose blocks nobody reachable has fails with ErrMissingBlocks
// and changes nothing.
func (f *Folder) Restore(ctx context.Context, r *index.Record, out string) error {
	defer f.hold(r.Cid())()
	popt := f.pullOptions()
	if out != "" {
		return missingErr(pull.Export(ctx, popt, r, out))
	}
	if !f.opt.Index.Writable() {
		return errors.New("restore into a read-only folder would not reach its peers: use -o OUT")
	}
	return f.call(ctx, func(ctx context.Context, ign *ignore.Matcher) error {
		j, err := f.stage(ctx, []string{r.Path}, map[string]*index.Record{r.Path: r})
		if err != nil {
			return err
		}
		if err := f.commitJournal(ctx, j); err != nil {
			return err
		}
		return f.publishRestored(ctx, ign, j, map[string]*index.Record{r.Path: r}) // a new change
	})
}

func missingErr(err error) error {
	if errors.Is(err, pull.ErrStalled) {
		return fmt.Errorf("%w: %w", ErrMissingBlocks, err)
	}
	return err
}

func (f *Folder) doRevert(ctx context.Context, ign *ignore.Matcher) error {
	if err := f.scanPaths(ctx, ign); err != nil {
		return err
	}
	var changed []string
	err := f.opt.Index.Locals(ctx, "", func(p string, l *index.Local) error {
		if l.Changed {
			changed = append(changed, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deepest first, so a directory's entries move before it.
	sort.Sort(sort.Reverse(sort.StringSlice(changed)))
	for _, p := range changed {
		abs := filepath.Join(f.opt.Root, filepath.FromSlash(p))
		if info, err := os.Lstat(abs); err == nil {
			if info.IsDir() {
				os.Remove(abs) // only when empty: its entries were moved first
			} else if err := pull.KeepVersionWith(f.pullOptions(), p, nil); err != nil {
				return err
			}
		}
		if err := f.opt.Index.ForgetLocal(ctx, p); err != nil {
			return err
		}
	}
	f.log.Info("reverted local changes", "paths", len(changed))
	return f.pullAll(ctx, ign)
}

// publishRestored records what a restore put in place as new local
// changes and sends them to the peers. A restored file's content is
// known (its version's record), so it is not read again: its references
// move to it from the kept versions they pointed into. Directories and
// removals are scanned.
func (f *Folder) publishRestored(ctx context.Context, ign *ignore.Matcher, j *journal, want map[string]*index.Record) error {
	var changes []index.Change
	var scanned []string
	b := f.opt.Store.NewBatch(ctx)
	defer b.Discard()
	for _, e := range j.Entries {
		r := want[e.Path]
		if e.Action != actFile || r == nil {
			scanned = append(scanned, e.Path)
			continue
		}
		abs := filepath.Join(f.opt.Root, filepath.FromSlash(e.Path))
		info, err := os.Lstat(abs)
		if err != nil || !info.Mode().IsRegular() || info.Size() != r.Size {
			scanned = append(scanned, e.Path) // changed since: the scan says how
			continue
		}
		if err := pull.RepointInto(ctx, f.opt.Store, b, r.Cid(), abs); err != nil {
			scanned = append(scanned, e.Path)
			continue
		}
		ctime, inode := scan.SysStat(info)
		l := index.Local{Type: index.TypeFile, Size: info.Size(), Mode: uint32(info.Mode().Perm()), ModTime: info.ModTime().UnixNano(),
			CTime: ctime, Inode: inode, Root: r.Root}
		mode := uint32(0o644)
		if l.Mode&0o100 != 0 {
			mode = 0o755
		}
		changes = append(changes, index.Change{
			Record: index.Record{Path: e.Path, Type: index.TypeFile, Size: l.Size, Mode: mode, ModTime: l.ModTime, Root: l.Root},
			Local:  l,
		})
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("record restored files in the store: %w", err)
	}
	t0 := time.Now()
	defer func() {
		f.log.Debug("restored files recorded", "files", len(changes), "took", time.Since(t0).Round(time.Millisecond))
	}()
	if len(changes) > 0 {
		signed, err := f.opt.Index.CommitLocal(ctx, changes)
		if err != nil {
			return fmt.Errorf("record restored files: %w", err)
		}
		for _, c := range changes {
			f.opt.Events.Publish(events.Event{Type: events.LocalChange, Folder: f.id, Path: c.Record.Path})
		}
		if len(signed) > 0 {
			f.log.Info("local changes", "records", len(signed))
			f.opt.Push(signed)
		}
	}
	if len(scanned) > 0 {
		return f.scanPaths(ctx, ign, scanned...)
	}
	return nil
}
