package folder

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
	"github.com/shoal-sync/shoal/sync/folder/selection"
)

// pullAll pulls every path the index needs, until none is left that can
// be pulled now.
func (f *Folder) pullAll(ctx context.Context, ign *ignore.Matcher) error {
	for round := 0; ; round++ {
		// Temporary files of versions no longer wanted (left by a
		// crash) go after the first round; those of versions still
		// needed are taken up by it.
		var temps map[string]string
		if !f.cleaned {
			temps = pull.TempFiles(f.opt.Root)
		}
		progress, rescan, err := f.pullSet(ctx, f.filter(ign), temps)
		if temps != nil && err == nil {
			pull.RemoveTemp(temps)
			f.cleaned = true
		}
		if progress && f.opt.Servable != nil {
			f.opt.Servable()
		}
		if err != nil {
			return err
		}
		if len(rescan) > 0 {
			if err := f.scanPaths(ctx, ign, rescan...); err != nil {
				return err
			}
			progress = true
		}
		if f.pending == 0 || !progress || round > 8 {
			return nil
		}
	}
}

// commitBatch bounds the files one group commit puts in place.
const commitBatch = 256

// pullSet pulls what the index needs and flt syncs, several files at
// once, reading the needs from the index a page at a time as it goes; it
// returns whether anything was written and which paths changed on disk
// meanwhile, and leaves in f.pending how many paths were needed. Needs
// come in path order, so a directory is made before the files in it
// (each directory at once, as it comes); files are pulled in parallel;
// deletions wait until every file is in place, then go in reverse path
// order, a directory's entries before it. A pulled file's bytes wait in
// its temporary file for a group commit (pull.Commit): one flush of the
// disk for every file that arrived while the previous commit ran, so
// many small files do not each wait on one. temps, when not nil, lists
// the temporary files found at the start (pull.TempFiles): a needed
// version's is taken out of it, so that what is left is no one's.
func (f *Folder) pullSet(ctx context.Context, flt selection.Filter, temps map[string]string) (progress bool, rescan []string, err error) {
	popt := f.pullOptions()
	var mu sync.Mutex
	var fatal error
	// pullError notes (or, with nil, clears) why g's path could not be
	// pulled, in the status Status reads under f.mu.
	pullError := func(g *index.Record, err error) {
		f.mu.Lock()
		f.status.PullErrors = setPathError(f.status.PullErrors, g.Path, err)
		f.mu.Unlock()
	}
	// failed reports whether err ends g's pull here, noting why.
	failed := func(g *index.Record, err error) bool {
		switch {
		case err == nil:
			pullError(g, nil)
			return false
		case errors.Is(err, pull.ErrLocalChange):
			rescan = append(rescan, g.Path)
		case errors.Is(err, syscall.ENOSPC) || ctx.Err() != nil:
			fatal = cmpErr(fatal, err)
		default:
			f.log.Warn("pull", "path", g.Path, "err", err)
			pullError(g, err)
			f.opt.Events.Publish(events.Event{Type: events.PullError, Folder: f.id, Path: g.Path, Data: err.Error()})
		}
		return true
	}
	// landed records pulls that are on disk, in one index transaction.
	landed := func(done []pull.Committed) {
		changes := make([]index.LocalChange, 0, len(done))
		for _, c := range done {
			changes = append(changes, index.LocalChange{Path: c.Record.Path, Local: c.Result.Local, Blocks: c.Result.Blocks})
		}
		if err := f.opt.Index.SetLocals(ctx, changes); err != nil {
			fatal = cmpErr(fatal, err)
			return
		}
		progress = true
		for _, c := range done {
			g, res := c.Record, c.Result
			f.copyBlocks(ctx, res.Blocks)
			f.mu.Lock()
			f.status.PulledFiles++
			f.status.PulledBytes += g.Size
			f.status.LastSync = time.Now()
			if res.Conflict != "" {
				f.status.Conflicts = append(f.status.Conflicts, res.Conflict)
			}
			f.mu.Unlock()
			if res.Conflict != "" {
				rescan = append(rescan, res.Conflict)
				f.opt.Events.Publish(events.Event{Type: events.Conflict, Folder: f.id, Path: res.Conflict})
			}
			f.opt.Events.Publish(events.Event{Type: events.FileSynced, Folder: f.id, Path: g.Path})
		}
	}
	commit := func(batch []*pull.Staged) {
		out := pull.Commit(ctx, batch)
		mu.Lock()
		defer mu.Unlock()
		var done []pull.Committed
		for _, c := range out {
			if !failed(c.Record, c.Err) {
				done = append(done, c)
			}
		}
		if len(done) > 0 {
			landed(done)
		}
	}
	staged := make(chan *pull.Staged, commitBatch)
	do := func(g *index.Record, l *index.Local) {
		res, st, err := pull.Stage(ctx, popt, g, l)
		if st != nil {
			staged <- st
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !failed(g, err) {
			landed([]pull.Committed{{Record: g, Result: res}})
		}
	}
	aborted := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fatal != nil
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for st := range staged {
			batch := []*pull.Staged{st}
		drain:
			for len(batch) < commitBatch {
				select {
				case more, ok := <-staged:
					if !ok {
						break drain
					}
					batch = append(batch, more)
				default:
					break drain
				}
			}
			commit(batch)
		}
	}()
	type job struct {
		g *index.Record
		l *index.Local
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range max(1, f.opt.Pullers) {
		wg.Go(func() {
			for j := range work {
				do(j.g, j.l)
			}
		})
	}
	pending, deletes := 0, 0
	err = f.opt.Index.NeedsWhere(ctx, flt.MayWant, func(g *index.Record, l *index.Local) error {
		if !flt.Syncs(g.Path, g.Type == index.TypeDir) {
			return nil
		}
		if pending++; pending == 1 {
			f.setState(StateSyncing, nil)
		}
		if len(temps) > 0 && !g.Deleted {
			delete(temps, pull.TempName(g))
		}
		switch {
		case aborted():
			return errPullAborted
		case g.Deleted:
			deletes++ // after every file is in place
		case g.Type == index.TypeDir:
			do(g, l) // before the paths in it, which sort after it
		default:
			select {
			case work <- job{g, l}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	close(work)
	wg.Wait()
	close(staged)
	<-committed // every file is in place before deletions, which may remove their directories' old entries
	f.pending = pending
	if err == nil && deletes > 0 && !aborted() {
		err = f.opt.Index.NeedsBackward(ctx, flt.MayWant, func(g *index.Record, l *index.Local) error {
			if !g.Deleted || !flt.Syncs(g.Path, g.Type == index.TypeDir) {
				return nil
			}
			if aborted() {
				return errPullAborted
			}
			do(g, l)
			return nil
		})
	}
	if errors.Is(err, errPullAborted) {
		err = nil
	}
	return progress, rescan, cmp.Or(fatal, err)
}

// errPullAborted ends a walk of the needs once a pull failed for good.
var errPullAborted = errors.New("pull aborted")

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}
