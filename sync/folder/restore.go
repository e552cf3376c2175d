package folder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
)

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
// versions replaced are kept.
func (f *Folder) RestoreTree(ctx context.Context, want map[string]*index.Record) error {
	if !f.opt.Index.Writable() {
		return errors.New("restore into a read-only folder would not reach its peers")
	}
	popt := pull.Options{Root: f.opt.Root, Store: f.opt.Store, Fetch: f.opt.Fetch, Space: f.opt.Space, Logger: f.log}
	return f.call(ctx, func(ctx context.Context, ign *ignore.Matcher) error {
		var paths []string
		for p := range want {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		var firstErr error
		for _, p := range paths {
			r := want[p]
			abs := filepath.Join(f.opt.Root, filepath.FromSlash(p))
			l, err := f.opt.Index.Local(ctx, p)
			if err != nil {
				return err
			}
			if _, err := os.Lstat(abs); err == nil && (r == nil || r.Deleted || r.Type == index.TypeFile) {
				if err := pull.KeepVersion(f.opt.Root, p, f.opt.Store, l); err != nil {
					firstErr = cmpErr(firstErr, err)
					continue
				}
			}
			switch {
			case r == nil || r.Deleted:
			case r.Type == index.TypeDir:
				err = os.MkdirAll(abs, 0o755)
			case r.Type == index.TypeFile:
				if err = os.MkdirAll(filepath.Dir(abs), 0o755); err == nil {
					err = pull.Export(ctx, popt, r, abs)
				}
			}
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", p, err))
			}
		}
		if err := f.scanPaths(ctx, ign, paths...); err != nil {
			return err
		}
		return firstErr
	})
}

// Restore brings back version r of the file at path: to out when it is
// set (the folder is not touched), else in the folder as a new change,
// synced to the peers, the current version kept in .shoal/versions/.
func (f *Folder) Restore(ctx context.Context, r *index.Record, out string) error {
	popt := pull.Options{Root: f.opt.Root, Store: f.opt.Store, Fetch: f.opt.Fetch, Space: f.opt.Space, Logger: f.log}
	if out != "" {
		return pull.Export(ctx, popt, r, out)
	}
	if !f.opt.Index.Writable() {
		return errors.New("restore into a read-only folder would not reach its peers: use -o OUT")
	}
	return f.call(ctx, func(ctx context.Context, ign *ignore.Matcher) error {
		abs := filepath.Join(f.opt.Root, filepath.FromSlash(r.Path))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(abs); err == nil {
			l, err := f.opt.Index.Local(ctx, r.Path)
			if err != nil {
				return err
			}
			if err := pull.KeepVersion(f.opt.Root, r.Path, f.opt.Store, l); err != nil {
				return err
			}
		}
		if err := pull.Export(ctx, popt, r, abs); err != nil {
			return err
		}
		return f.scanPaths(ctx, ign, r.Path) // a new change, published
	})
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
			} else if err := pull.KeepVersion(f.opt.Root, p, nil, nil); err != nil {
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
