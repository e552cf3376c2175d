package pull

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-sync/shoal/sync/folder/index"
)

// Staged is a pulled file whose bytes are all in its temporary file,
// verified, with its mode and mtime set, but not yet durable nor in place.
type Staged struct {
	opt    Options
	res    *Result
	g      *index.Record
	tmp    string
	abs    string
	cur    fs.FileInfo // what Stage saw at abs
	exists bool
	sink   *fileSink
	placed fs.FileInfo // the file just after its rename into place
}

// Committed is what Commit did with one staged file.
type Committed struct {
	Record *index.Record
	Result *Result
	Err    error // ErrLocalChange when the path changed on disk meanwhile
}

// Commit puts staged files in place, as a group commit: one flush makes
// every temporary file durable, then each is renamed over its target (the
// replaced file kept as a version), one more flush makes the renames
// durable, and one store batch records the files' references. A file is
// renamed into place only after its bytes are on disk, and the index may
// be told of it once Commit returns. A path that changed on disk since
// Stage looked is left alone (ErrLocalChange); its temporary file goes.
func Commit(ctx context.Context, staged []*Staged) []Committed {
	out := make([]Committed, len(staged))
	for i, s := range staged {
		out[i].Record = s.g
	}
	if len(staged) == 0 {
		return out
	}
	fail := func(err error) []Committed {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return out
	}
	tmps := make([]string, len(staged))
	for i, s := range staged {
		tmps[i] = s.tmp
	}
	if err := flushFiles(tmps); err != nil {
		return fail(fmt.Errorf("make pulled files durable: %w", err))
	}
	var dirs []string
	seen := map[string]bool{}
	for i, s := range staged {
		if err := s.place(); err != nil {
			out[i].Err = err
			continue
		}
		if d := filepath.Dir(s.abs); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	if err := flushDirs(dirs); err != nil {
		return fail(fmt.Errorf("make renames durable: %w", err))
	}
	b := staged[0].opt.Store.NewBatch(context.WithoutCancel(ctx))
	defer b.Discard()
	for i, s := range staged {
		if out[i].Err != nil {
			continue
		}
		// The state recorded is the file as it was just after its
		// rename, not after the flush: an edit made meanwhile then
		// differs from it, and the next scan finds it.
		err := setLocal(s.res, s.placed, s.g)
		if err == nil {
			err = record(b, s.res, s.abs, s.placed, s.g, s.sink)
		}
		if err != nil {
			out[i].Err = fmt.Errorf("record %s: %w", s.g.Path, err)
			continue
		}
		out[i].Result = s.res
	}
	if err := b.Commit(); err != nil {
		for i := range out {
			out[i].Result = nil
		}
		return fail(fmt.Errorf("record pulled files in the store: %w", err))
	}
	return out
}

// place renames s's temporary file over its target, unless the target
// changed since Stage looked at it.
func (s *Staged) place() error {
	now, err := os.Lstat(s.abs)
	switch {
	case err != nil && !os.IsNotExist(err):
		return err
	case (err == nil) != s.exists || s.exists && !sameStat(s.cur, now):
		s.drop()
		return fmt.Errorf("%s: %w", s.g.Path, ErrLocalChange)
	}
	if err := s.opt.replace(s.tmp, s.abs, s.g.Path, now, s.exists); err != nil {
		s.drop()
		return err
	}
	s.placed, err = os.Lstat(s.abs)
	return err
}

// drop removes the temporary file of a staged pull that will not land;
// a large one stays for the next try to take up.
func (s *Staged) drop() {
	if s.g.Size < resumeMin {
		os.Remove(s.tmp)
	}
}

// sameStat reports whether a and b look like the same unchanged file.
func sameStat(a, b fs.FileInfo) bool {
	return a.Mode() == b.Mode() && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && os.SameFile(a, b)
}
