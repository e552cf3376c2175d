package folder

import (
	"context"
	"errors"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
)

// pullAll pulls every path the index needs, until none is left that can
// be pulled now.
func (f *Folder) pullAll(ctx context.Context, ign *ignore.Matcher) error {
	for round := 0; ; round++ {
		var need []*index.Record
		locals := map[string]*index.Local{}
		flt := f.filter(ign)
		err := f.opt.Index.NeedsWhere(ctx, flt.MayWant, func(g *index.Record, l *index.Local) error {
			if !flt.Syncs(g.Path, g.Type == index.TypeDir) {
				return nil
			}
			need = append(need, g)
			locals[g.Path] = l
			return nil
		})
		if err != nil {
			return err
		}
		f.pending = len(need)
		if !f.cleaned {
			// Temporary files of versions no longer wanted (left by a
			// crash) go; those of versions still needed are taken up.
			keep := make(map[string]bool, len(need))
			for _, g := range need {
				keep[pull.TempName(g)] = true
			}
			pull.CleanTemp(f.opt.Root, keep)
			f.cleaned = true
		}
		if len(need) == 0 {
			return nil
		}
		f.setState(StateSyncing, nil)
		progress, rescan, err := f.pullSet(ctx, need, locals)
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
		if !progress || round > 8 {
			return nil
		}
	}
}

// order sorts a pull: directories first (parents before children), then
// files, then deletions deepest first.
func order(need []*index.Record) {
	rank := func(r *index.Record) int {
		switch {
		case r.Deleted:
			return 2
		case r.Type == index.TypeDir:
			return 0
		}
		return 1
	}
	sort.SliceStable(need, func(i, j int) bool {
		a, b := need[i], need[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if a.Deleted {
			return a.Path > b.Path
		}
		return a.Path < b.Path
	})
}

// commitBatch bounds the files one group commit puts in place.
const commitBatch = 256

// pullSet pulls need, several files at once; it returns whether anything
// was written and which paths changed on disk meanwhile. Directories go
// one by one in order, then files in parallel, then deletions in order.
// A pulled file's bytes wait in its temporary file for a group commit
// (pull.Commit): one flush of the disk for every file that arrived while
// the previous commit ran, so many small files do not each wait on one.
func (f *Folder) pullSet(ctx context.Context, need []*index.Record, locals map[string]*index.Local) (progress bool, rescan []string, err error) {
	order(need)
	popt := f.pullOptions()
	var mu sync.Mutex
	var fatal error
	// failed reports whether err ends g's pull here, noting why.
	failed := func(g *index.Record, err error) bool {
		switch {
		case err == nil:
			f.status.PullErrors = setPathError(f.status.PullErrors, g.Path, nil)
			return false
		case errors.Is(err, pull.ErrLocalChange):
			rescan = append(rescan, g.Path)
		case errors.Is(err, syscall.ENOSPC) || ctx.Err() != nil:
			fatal = cmpErr(fatal, err)
		default:
			f.log.Warn("pull", "path", g.Path, "err", err)
			f.status.PullErrors = setPathError(f.status.PullErrors, g.Path, err)
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
			f.status.PulledFiles++
			f.status.PulledBytes += g.Size
			f.status.LastSync = time.Now()
			if res.Conflict != "" {
				f.status.Conflicts = append(f.status.Conflicts, res.Conflict)
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
	do := func(g *index.Record) {
		res, st, err := pull.Stage(ctx, popt, g, locals[g.Path])
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
	i := 0
	for ; i < len(need) && !need[i].Deleted && need[i].Type == index.TypeDir; i++ {
		do(need[i])
	}
	j := i
	for j < len(need) && !need[j].Deleted {
		j++
	}
	work := make(chan *index.Record)
	var wg sync.WaitGroup
	for range min(f.opt.Pullers, max(1, j-i)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				do(g)
			}
		}()
	}
	for _, g := range need[i:j] {
		work <- g
	}
	close(work)
	wg.Wait()
	close(staged)
	<-committed // every file is in place before deletions, which may remove their directories' old entries
	for _, g := range need[j:] {
		do(g)
	}
	return progress, rescan, fatal
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}
