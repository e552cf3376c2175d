package folder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	Staged string `json:"staged,omitempty"` // name in pull.TempDir
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
	// The versions the renames keep are recorded in one go at the end (a
	// crash before then leaves version files without entries, which
	// retention counts by their names).
	var kept []index.Kept
	popt.Kept = func(rel, dst string, old *index.Local) { kept = append(kept, f.keptEntry(rel, dst, old)) }
	tmpDir := filepath.Join(f.opt.Root, filepath.FromSlash(pull.TempDir))
	dirs := map[string]bool{}
	for _, e := range j.Entries {
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
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return err
			}
		case actRemove:
			if exists && !cur.IsDir() {
				if err := f.keepCurrent(ctx, popt, e.Path); err != nil {
					return err
				}
			}
		case actFile:
			staged := filepath.Join(tmpDir, e.Staged)
			if _, err := os.Lstat(staged); err != nil {
				continue // renamed already
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
			if err := os.Rename(staged, abs); err != nil {
				return err
			}
			dirs[filepath.Dir(abs)] = true
		}
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
