package snapshot

import (
	"context"
	"errors"
	"path"
	"sort"
	"time"

	"github.com/shoal-sync/shoal/sync/folder/index"
)

// Histories yields a folder's records and each path's known versions.
type Histories interface {
	Records
	History(ctx context.Context, path string) ([]*index.Record, error)
}

// ErrNothingThen means the folder held no file at the time asked (it did
// not exist yet, or its records of then are past retention).
var ErrNothingThen = errors.New("the folder's index knows no file at that time")

// At is the folder as its index says it was at time t: per path, the
// last version whose time is not after t (none: the path did not exist
// then), each directory of a file kept then included. Build takes it as
// Records.
type At struct {
	H Histories
	T time.Time
	// Oldest is set by Globals to the oldest version time met.
	Oldest time.Time
}

// Globals calls fn, in path order, with the records of the folder at
// a.T; ErrNothingThen when there is none.
func (a *At) Globals(ctx context.Context, prefix string, fn func(r *index.Record) error) error {
	var paths []string
	if err := a.H.Globals(ctx, prefix, func(r *index.Record) error { paths = append(paths, r.Path); return nil }); err != nil {
		return err
	}
	t := a.T.UnixNano()
	out := map[string]*index.Record{}
	dirs := map[string]bool{}
	for _, p := range paths {
		vs, err := a.H.History(ctx, p)
		if err != nil {
			return err
		}
		var then *index.Record
		for _, v := range vs {
			if ot := v.Time(); a.Oldest.IsZero() || ot.Before(a.Oldest) {
				a.Oldest = ot
			}
			if v.ModTime <= t {
				then = v
			}
		}
		if then == nil || then.Deleted {
			continue
		}
		out[p] = then
		if then.Type == index.TypeFile || then.Type == index.TypeSymlink {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
	}
	files := 0
	for _, r := range out {
		if r.Type == index.TypeFile {
			files++
		}
	}
	if files == 0 {
		return ErrNothingThen
	}
	// A directory's mtime moves with its entries, so its record of then
	// may be newer than t: it is there when a file of then is below it.
	for d := range dirs {
		if _, ok := out[d]; !ok {
			out[d] = &index.Record{Path: d, Type: index.TypeDir}
		}
	}
	keys := make([]string, 0, len(out))
	for p := range out {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if err := fn(out[p]); err != nil {
			return err
		}
	}
	return nil
}
