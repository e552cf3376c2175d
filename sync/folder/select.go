package folder

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/selection"
)

// filter is what the scanner and the puller skip: what .shoalignore
// ignores and what the selection does not want.
func (f *Folder) filter(ign *ignore.Matcher) selection.Filter {
	return selection.Filter{Ignore: ign, Set: f.sel.Load()}
}

// Selection returns the folder's selection (nil: every path).
func (f *Folder) Selection() *selection.Set { return f.sel.Load() }

// Select changes which paths the folder syncs (nil: every path). Paths
// newly selected are pulled, and what is on disk there is scanned;
// paths no longer selected stay on disk, no longer synced either way:
// their changes and their deletion here are never sent, and peers'
// changes to them are not pulled. A path deleted here while it was not
// selected is pulled again when it is selected again, never published
// as a delete.
func (f *Folder) Select(ctx context.Context, s *selection.Set) error {
	if f.Status().State == StateStopped {
		// The loop waits for the marker to come back and takes no calls:
		// the new selection is what it starts with.
		ign, err := ignore.Load(f.opt.Root)
		if err != nil {
			return err
		}
		return f.reselect(ctx, ign, s)
	}
	return f.call(ctx, func(ctx context.Context, ign *ignore.Matcher) error {
		if err := f.reselect(ctx, ign, s); err != nil {
			return err
		}
		// Files already on disk under new patterns are this machine's:
		// scan them before the pull that follows a call.
		return f.scanPaths(ctx, ign)
	})
}

// reselect makes s the selection. Paths it selects anew that the index
// holds here but the disk lost were deleted while unselected: their
// local state is dropped, so they are pulled again, not published as
// deletes.
func (f *Folder) reselect(ctx context.Context, ign *ignore.Matcher, s *selection.Set) error {
	before := f.filter(ign)
	after := selection.Filter{Ignore: ign, Set: s}
	var forget []string
	err := f.opt.Index.Locals(ctx, "", func(p string, l *index.Local) error {
		isDir := l.Type == index.TypeDir
		if l.Deleted || before.Syncs(p, isDir) || !after.Syncs(p, isDir) {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(f.opt.Root, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) {
			forget = append(forget, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range forget {
		if err := f.opt.Index.ForgetLocal(ctx, p); err != nil {
			return err
		}
	}
	f.sel.Store(s)
	f.log.Info("selection changed", "patterns", len(s.Patterns()), "all", s.All(), "forgotten", len(forget))
	return nil
}

// Filter returns what the folder syncs now: its selection and its
// .shoalignore.
func (f *Folder) Filter() (selection.Filter, error) {
	ign, err := ignore.Load(f.opt.Root)
	if err != nil {
		return selection.Filter{}, err
	}
	return f.filter(ign), nil
}

// Missing returns the global records at or below rel ("" the whole
// folder) that the folder syncs and that the disk does not hold yet.
func (f *Folder) Missing(ctx context.Context, rel string) ([]*index.Record, error) {
	flt, err := f.Filter()
	if err != nil {
		return nil, err
	}
	var out []*index.Record
	err = f.opt.Index.NeedsWhere(ctx, flt.MayWant, func(g *index.Record, _ *index.Local) error {
		if rel != "" && g.Path != rel && !strings.HasPrefix(g.Path, rel+"/") {
			return nil
		}
		if flt.Syncs(g.Path, g.Type == index.TypeDir) {
			out = append(out, g)
		}
		return nil
	})
	return out, err
}
