package folder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/folder/history"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
)

// holds counts, per content CID, the restores reading a kept version:
// retention leaves those versions alone until they are done.
type holds struct {
	mu sync.Mutex // also held by a prune while it decides and removes
	n  map[cid.Cid]int
}

// hold keeps the versions with these roots from retention until release.
func (f *Folder) hold(roots ...cid.Cid) (release func()) {
	f.holds.mu.Lock()
	if f.holds.n == nil {
		f.holds.n = map[cid.Cid]int{}
	}
	for _, c := range roots {
		f.holds.n[c]++
	}
	f.holds.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.holds.mu.Lock()
			defer f.holds.mu.Unlock()
			for _, c := range roots {
				if f.holds.n[c]--; f.holds.n[c] <= 0 {
					delete(f.holds.n, c)
				}
			}
		})
	}
}

// policy is the folder's history policy now.
func (f *Folder) policy() history.Policy {
	if f.opt.History == nil {
		p, _ := history.Settings{}.Policy()
		return p
	}
	return f.opt.History()
}

// pullOptions are the options of a pull or restore into the folder.
func (f *Folder) pullOptions() pull.Options {
	return pull.Options{Root: f.opt.Root, Store: f.opt.Store, Fetch: f.opt.Fetch, Device: f.opt.Device.String(),
		Received: f.lastReceived, Space: f.opt.Space, Logger: f.log, Kept: f.kept, Writes: f.writes}
}

// kept records in the index a version that a pull or restore moved into
// the versions directory, so that its blocks are kept and retention
// counts it.
func (f *Folder) kept(rel, dst string, old *index.Local) {
	if err := f.opt.Index.PutKept(context.Background(), f.keptEntry(rel, dst, old)); err != nil {
		f.log.Warn("record a kept version", "path", rel, "err", err)
	}
}

// keptEntry is the index entry of a version moved to dst.
func (f *Folder) keptEntry(rel, dst string, old *index.Local) index.Kept {
	k := index.Kept{Path: rel, At: time.Now().UnixNano()}
	if name, err := filepath.Rel(filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir)), dst); err == nil {
		k.File = filepath.ToSlash(name)
	}
	if info, err := os.Lstat(dst); err == nil {
		k.Size = info.Size()
	}
	if old != nil && old.Type == index.TypeFile && !old.Deleted {
		k.Root = old.Root
	}
	return k
}

// keepLocal runs before a scan's changes are committed: in a folder
// that versions local edits, the content each change replaces (its
// blocks copied into the store when it was scanned or pulled) is kept.
func (f *Folder) keepLocal(ctx context.Context, changes []index.Change) {
	if f.policy().Mode != history.All {
		return
	}
	now := time.Now().UnixNano()
	for i := range changes {
		r := &changes[i].Record
		if r.Type == 0 {
			continue
		}
		old, err := f.opt.Index.Local(ctx, r.Path)
		if err != nil || old == nil || old.Type != index.TypeFile || old.Deleted || len(old.Root) == 0 {
			continue
		}
		if !r.Deleted && string(r.Root) == string(old.Root) {
			continue
		}
		if err := f.opt.Index.PutKept(ctx, index.Kept{Path: r.Path, Root: old.Root, Size: old.Size, At: now}); err != nil {
			f.log.Warn("keep a local version", "path", r.Path, "err", err)
		}
	}
}

// copyBlocks copies the leaves among blocks (a scanned or pulled file's,
// held as references into it) into the store, in a folder that versions
// local edits: an edit in place leaves nothing of the old bytes on disk,
// so the copy is what a later restore reads. Each is read and hashed.
func (f *Folder) copyBlocks(ctx context.Context, blocks []cid.Cid) {
	if len(blocks) == 0 || f.policy().Mode != history.All {
		return
	}
	b := f.opt.Store.NewBatch(ctx)
	defer b.Discard()
	n := 0
	for _, c := range blocks {
		if c.Type() != unixfs.CodecRaw {
			continue // inner nodes are copies already
		}
		data, err := f.opt.Store.Get(ctx, c)
		if err != nil {
			continue // changed again since: the next scan copies that
		}
		if err := b.Put(c, data); err != nil {
			f.log.Warn("copy a block of a versioned file", "cid", c, "err", err)
			return
		}
		if n++; n%1024 == 0 {
			if err := b.Commit(); err != nil {
				f.log.Warn("copy blocks of versioned files", "err", err)
				return
			}
			b = f.opt.Store.NewBatch(ctx)
		}
	}
	if err := b.Commit(); err != nil {
		f.log.Warn("copy blocks of versioned files", "err", err)
	}
}

// PruneStats says what a retention run removed.
type PruneStats struct {
	Versions int   // kept versions removed
	Bytes    int64 // their size
	Records  int   // superseded index records dropped
	Kept     int   // versions left
	KeptSize int64 // their size
}

// Prune applies the retention policy now: kept versions past its
// limits are removed (their files, and their entries, so that garbage
// collection takes their blocks), and superseded index records past
// its count and age are dropped. Versions a restore is reading stay.
func (f *Folder) Prune(ctx context.Context) (PruneStats, error) {
	var st PruneStats
	p := f.policy()
	f.opt.Index.SetRetention(p.Versions, p.MaxAge)
	now := time.Now()
	n, err := f.opt.Index.PruneHistory(ctx, now)
	if err != nil {
		return st, fmt.Errorf("prune history: %w", err)
	}
	st.Records = n
	ist, err := f.opt.Index.Stats(ctx)
	if err != nil {
		return st, err
	}
	f.holds.mu.Lock()
	defer f.holds.mu.Unlock()
	entries, byID, err := f.keptList(ctx)
	if err != nil {
		return st, err
	}
	held := func(k history.Kept) bool {
		e := byID[k.ID]
		return e.Root != nil && f.holds.n[e.Cid()] > 0
	}
	drop := history.Expired(entries, p, ist.Bytes, now, held)
	vdir := filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir))
	gone := map[string]bool{}
	for _, k := range drop {
		e := byID[k.ID]
		if e.File != "" {
			abs := filepath.Join(vdir, filepath.FromSlash(e.File))
			if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				f.log.Warn("remove an expired version", "file", e.File, "err", err)
				continue
			}
			removeEmptyParents(filepath.Dir(abs), vdir)
		}
		if e.At != 0 {
			if err := f.opt.Index.DeleteKept(ctx, e); err != nil {
				return st, err
			}
		}
		gone[k.ID] = true
		st.Versions++
		st.Bytes += k.Size
	}
	for _, k := range entries {
		if !gone[k.ID] {
			st.Kept++
			st.KeptSize += k.Size
		}
	}
	if st.Versions > 0 || st.Records > 0 {
		f.log.Info("retention", "versions removed", st.Versions, "bytes", st.Bytes, "records dropped", st.Records)
	}
	return st, nil
}

// keptList lists the versions kept here: the index's entries, whose
// files are checked (an entry whose file is gone is forgotten), and any
// file in the versions directory the index has no entry for (kept before
// entries were, or by a crash between the rename and the entry).
func (f *Folder) keptList(ctx context.Context) ([]history.Kept, map[string]index.Kept, error) {
	vdir := filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir))
	byID := map[string]index.Kept{}
	var out []history.Kept
	files := map[string]bool{}
	var stale []index.Kept
	err := f.opt.Index.KeptVersions(ctx, "", true, func(k index.Kept) error {
		if k.File != "" {
			if _, err := os.Lstat(filepath.Join(vdir, filepath.FromSlash(k.File))); err != nil {
				stale = append(stale, k)
				return nil
			}
			files[k.File] = true
		}
		id := fmt.Sprintf("%s\x00%d\x00%s", k.Path, k.At, k.File)
		byID[id] = k
		out = append(out, history.Kept{ID: id, Path: k.Path, Size: k.Size, Kept: time.Unix(0, k.At)})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, k := range stale {
		if err := f.opt.Index.DeleteKept(ctx, k); err != nil {
			return nil, nil, err
		}
	}
	err = filepath.WalkDir(vdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name, _ := filepath.Rel(vdir, p)
		name = filepath.ToSlash(name)
		if files[name] {
			return nil
		}
		path, at, ok := parseVersionName(name)
		if !ok {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		id := "file\x00" + name
		byID[id] = index.Kept{Path: path, File: name, Size: info.Size()}
		out = append(out, history.Kept{ID: id, Path: path, Size: info.Size(), Kept: at})
		return nil
	})
	return out, byID, err
}

// parseVersionName splits a versions-directory name, PATH~STAMP.
func parseVersionName(name string) (string, time.Time, bool) {
	i := strings.LastIndexByte(name, '~')
	if i <= 0 {
		return "", time.Time{}, false
	}
	t, err := time.Parse("20060102-150405.000000000", name[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return name[:i], t, true
}

// removeEmptyParents removes dir and its parents up to stop while empty.
func removeEmptyParents(dir, stop string) {
	for dir != stop && strings.HasPrefix(dir, stop) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}
