package folder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
)

// JournalFile lists the renames of a restore under way (below the root).
const JournalFile = ".shoal/restore-journal"

// restoreTempPrefix names a restore's staged files in pull.TempDir.
const restoreTempPrefix = "restore-"

// Journal actions.
const (
	actFile   = "file"   // Staged becomes Path; what was there is kept
	actRemove = "remove" // Path is kept as a version and goes
	actDir    = "dir"    // Path is made a directory
)

// journal is a restore's list of changes, written before the first is
// made: each can be redone after a crash and ends in the same state.
type journal struct {
	Entries []entry `json:"entries"`
}

type entry struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Staged string `json:"staged,omitempty"` // name of a file at pull.TempPath
}

// commitJournal writes j, makes its changes and removes it.
func (f *Folder) commitJournal(ctx context.Context, j *journal) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	p := filepath.Join(f.opt.Root, filepath.FromSlash(JournalFile))
	tmp := p + ".tmp"
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return err
	}
	return f.applyJournal(ctx, j, p)
}

// resumeRestore finishes a restore that a crash interrupted after its
// journal was written (before that, nothing had changed: its staged
// files are temporary files the first pull removes).
func (f *Folder) resumeRestore(ctx context.Context) error {
	p := filepath.Join(f.opt.Root, filepath.FromSlash(JournalFile))
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		f.log.Warn("unreadable restore journal: dropped (it is written whole before a restore changes anything)", "err", err)
		return os.Remove(p)
	}
	for _, e := range j.Entries {
		if index.ValidatePath(e.Path) != nil || e.Staged != "" && filepath.Base(e.Staged) != e.Staged {
			f.log.Warn("restore journal with a bad entry: dropped", "path", e.Path)
			return os.Remove(p)
		}
	}
	f.log.Info("finishing an interrupted restore", "paths", len(j.Entries))
	return f.applyJournal(ctx, &j, p)
}

func (f *Folder) applyJournal(ctx context.Context, j *journal, journalPath string) error {
	popt := f.pullOptions()
	// The versions the renames keep are recorded in one go at the end,
	// their references moved to them in one batch (a crash before then
	// leaves version files without entries, which retention counts by
	// their names, and references the store finds stale and drops).
	var kept []index.Kept
	var keptMu sync.Mutex
	popt.Kept = func(rel, dst string, old *index.Local) {
		k := f.keptEntry(rel, dst, old)
		keptMu.Lock()
		kept = append(kept, k)
		keptMu.Unlock()
	}
	popt.KeptRefs = true
	// Removals first, then directories, in the journal's order, so a
	// file restored where a directory was finds it emptied; then the
	// files, which are independent of one another, on a few goroutines:
	// renaming is system time, and both of a restore's renames per file
	// are in different directories.
	var files []entry
	for _, e := range j.Entries {
		if e.Action == actRemove {
			if err := f.applyEntry(ctx, popt, e); err != nil {
				return err
			}
		}
	}
	for _, e := range j.Entries {
		switch e.Action {
		case actDir:
			if err := f.applyEntry(ctx, popt, e); err != nil {
				return err
			}
		case actFile:
			files = append(files, e)
		}
	}
	var mu sync.Mutex
	var firstErr error
	work := make(chan entry)
	var wg sync.WaitGroup
	for range min(journalWorkers, max(len(files), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if err := f.applyEntry(ctx, popt, e); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, e := range files {
		work <- e
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	dirs := map[string]bool{}
	for _, e := range files {
		dirs[filepath.Dir(filepath.Join(f.opt.Root, filepath.FromSlash(e.Path)))] = true
	}
	if err := f.repointKept(ctx, kept); err != nil {
		return err
	}
	if err := f.opt.Index.PutKepts(ctx, kept); err != nil {
		return err
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	if err := pull.FlushDirs(list); err != nil {
		return err
	}
	if err := os.Remove(journalPath); err != nil {
		return err
	}
	return syncDir(filepath.Dir(journalPath))
}

// journalWorkers is how many of a journal's files are put in place at
// once.
const journalWorkers = 4

// applyEntry makes e's change; made again after a crash, it ends in the
// same state.
func (f *Folder) applyEntry(ctx context.Context, popt pull.Options, e entry) error {
	abs := filepath.Join(f.opt.Root, filepath.FromSlash(e.Path))
	cur, statErr := os.Lstat(abs)
	exists := statErr == nil
	switch e.Action {
	case actDir:
		if exists && !cur.IsDir() {
			if err := f.keepCurrent(ctx, popt, e.Path); err != nil {
				return err
			}
		}
		return os.MkdirAll(abs, 0o755)
	case actRemove:
		if exists && !cur.IsDir() {
			return f.keepCurrent(ctx, popt, e.Path)
		}
		return nil
	case actFile:
		staged := pull.TempPath(f.opt.Root, e.Staged)
		if _, err := os.Lstat(staged); err != nil {
			// Renamed already, or staged in the flat TempDir of earlier
			// versions.
			staged = filepath.Join(f.opt.Root, filepath.FromSlash(pull.TempDir), e.Staged)
			if _, err := os.Lstat(staged); err != nil {
				return nil
			}
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return err
		}
		if exists {
			if cur.IsDir() {
				if err := os.Remove(abs); err != nil {
					return fmt.Errorf("restore %s over a directory: %w", e.Path, err)
				}
			} else if err := f.keepCurrent(ctx, popt, e.Path); err != nil {
				return err
			}
		}
		return os.Rename(staged, abs)
	}
	return nil
}

// repointKept points the references to the blocks of the versions kept
// into the files they were moved to.
func (f *Folder) repointKept(ctx context.Context, kept []index.Kept) error {
	b := f.opt.Store.NewBatch(ctx)
	defer b.Discard()
	versions := filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir))
	for _, k := range kept {
		c, err := cid.Cast(k.Root)
		if err != nil {
			continue // not a file's content
		}
		dst := filepath.Join(versions, filepath.FromSlash(k.File))
		if err := pull.RepointInto(ctx, f.opt.Store, b, c, dst); err != nil {
			f.log.Warn("references of a kept version", "path", k.Path, "err", err)
		}
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("references of the kept versions: %w", err)
	}
	return nil
}

// keepCurrent moves what is at rel into the versions directory.
func (f *Folder) keepCurrent(ctx context.Context, popt pull.Options, rel string) error {
	l, err := f.opt.Index.Local(ctx, rel)
	if err != nil {
		return err
	}
	return pull.KeepVersionWith(popt, rel, l)
}

func writeSynced(p string, data []byte) error {
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
