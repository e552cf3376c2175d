package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/text/unicode/norm"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/folder/index"
)

// Index is what the scanner reads of the folder's index.
type Index interface {
	Local(ctx context.Context, path string) (*index.Local, error)
	Locals(ctx context.Context, prefix string, fn func(path string, l *index.Local) error) error
}

// Ignorer says which paths are not synced.
type Ignorer interface {
	Ignored(rel string, isDir bool) bool
}

// Options configures a scan.
type Options struct {
	Root    string // the folder's root on disk
	Store   store.Store
	Index   Index
	Ignore  Ignorer // nil: only shoal's own paths are skipped
	Chunker chunker.Config
	// Workers is how many files are hashed at once; default 4 per core,
	// so that one waiting on the disk, the store or the index leaves the
	// cores to the others (a file above 8 MiB uses every core itself, and
	// one such file is hashed at a time).
	Workers int
	Logger  *slog.Logger
	// Flush, if set, takes changes as the scan goes, each group once its
	// blocks are committed to the store: the directories and links found
	// before the next changed file, hashed files every few hundred while
	// the walk goes on. What Flush took is not in the Result; deletions
	// always are, for the caller to record once it has checked the scan
	// as a whole. Groups are handed over one at a time, in the order they
	// were ready, by a goroutine of the scan's own, so that the hash
	// workers go on while one is recorded (recording signs every record);
	// Scan returns once every group was taken.
	Flush func(ctx context.Context, changes []index.Change, blocks []cid.Cid) error
}

// Result is what a scan found.
type Result struct {
	Changes []index.Change
	// Blocks lists every block of the files that changed, for the
	// folder's list of blocks it may serve.
	Blocks []cid.Cid
	// Errors are paths that could not be read or held (skipped, not fatal).
	Errors []PathError
	// Retry lists paths that changed while they were hashed, or changed
	// so recently that a change during the hash could have kept the same
	// timestamps; scan them again once RetryAfter has passed.
	Retry      []string
	RetryAfter time.Duration
}

// A file whose last change (mtime or ctime) is this close to when the
// scan looked at it is "racily clean", as git calls it: the kernel stamps
// files from a coarse clock, so a write during the hash could leave the
// same timestamps and go unseen. Such a file is hashed again once the
// window has passed. A timestamp with no sub-second part comes from a
// filesystem that keeps whole (or even) seconds.
const (
	racyWindow       = 50 * time.Millisecond
	coarseRacyWindow = 2 * time.Second
)

// racy returns how long after seen a file last changed at info's
// timestamps stays racily clean (0: it is not). A timestamp beyond the
// window after seen (a file dated in the future, a clock set back) says
// nothing about the clock's grain: it is not waited for.
func racy(info fs.FileInfo, seen time.Time) time.Duration {
	win := func(t time.Time) time.Duration {
		if t.Nanosecond() == 0 {
			return coarseRacyWindow
		}
		return racyWindow
	}
	var wait time.Duration
	c, _ := store.FileID(info)
	for _, t := range []time.Time{info.ModTime(), c} {
		if t.IsZero() || t.After(seen.Add(win(t))) {
			continue
		}
		wait = max(wait, win(t)-seen.Sub(t))
	}
	return wait
}

// PathError is a path the scan skipped, and why.
type PathError struct {
	Path string `json:"path"`
	Err  string `json:"error"`
}

// internal reports whether rel is shoal's own (never synced).
func internal(rel string) bool {
	return rel == ".shoal" || strings.HasPrefix(rel, ".shoal/") || strings.HasPrefix(path.Base(rel), ".shoal-tmp-")
}

// Scan compares the disk under each of paths (slash separated, relative
// to the root; "" or no paths: the whole folder) with the index and
// returns the changes. Directories are walked; a path gone from disk is a
// deletion of it and of everything the index holds below it.
func Scan(ctx context.Context, opt Options, paths ...string) (*Result, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Workers <= 0 {
		opt.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if len(paths) == 0 {
		paths = []string{""}
	}
	s := &scanner{opt: opt, res: &Result{}, seen: make(map[string]bool), large: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var err error
	for _, p := range normalize(paths) {
		if err = s.scanPath(ctx, p); err != nil {
			cancel() // the hashers stop too
			break
		}
	}
	if herr := s.hashed(); err == nil {
		err = herr
	}
	if err == nil {
		err = s.flushRest(ctx)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(s.res.Changes, func(i, j int) bool { return s.res.Changes[i].Record.Path < s.res.Changes[j].Record.Path })
	return s.res, nil
}

// normalize drops paths below others in the list, and duplicates.
func normalize(paths []string) []string {
	ps := append([]string(nil), paths...)
	sort.Strings(ps)
	var out []string
	for _, p := range ps {
		p = strings.Trim(p, "/")
		if len(out) > 0 {
			last := out[len(out)-1]
			if last == "" || p == last || strings.HasPrefix(p, last+"/") {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// retryAfter notes that a path to retry needs d to pass first.
func (s *scanner) retryAfter(d time.Duration) {
	s.mu.Lock()
	s.res.RetryAfter = max(s.res.RetryAfter, d)
	s.mu.Unlock()
}

// scanner is one scan: the walk (one goroutine) fills res with what it
// finds and hands the files it finds changed to hash workers, which run
// while the walk goes on and keep what they find in h until the walk is
// done.
type scanner struct {
	mu   sync.Mutex // guards res.RetryAfter against hash workers
	opt  Options
	res  *Result
	seen map[string]bool
	// large is held while a file of more than largeFile bytes is hashed.
	large chan struct{}

	// unflushed are directories and links found (with Flush), handed
	// over before the next file goes to a worker.
	unflushed []index.Change
	jobs      chan hashJob // to the hash workers; nil until the first file
	workers   int          // hash workers started
	wg        sync.WaitGroup
	h         hashOut
	// groups go to Flush through flusher; nil until the first.
	startFlusher sync.Once
	groups       chan flushGroup
	flushDone    chan struct{}
}

// flushGroup is one group of changes for Flush, with the blocks of its files.
type flushGroup struct {
	changes []index.Change
	blocks  []cid.Cid
}

// hashOut is what the hash workers found, merged into the result once
// the walk is done.
type hashOut struct {
	mu       sync.Mutex
	changes  []index.Change
	blocks   []cid.Cid
	errors   []PathError
	retry    []string
	firstErr error
}

// largeFile is the size above which one file is chunked on every core.
const largeFile = 8 << 20

// hashJob is a file the walk found changed: hash looks at the file
// again when it comes to it (lstat before and after).
type hashJob struct {
	rel string
	// old is the index's local state of rel as the walk read it (nil:
	// none). It is still current when hashed: a folder's scans, pulls
	// and restores run one at a time, and a scan records rel only after
	// hashing it. A lookup per file in the hash workers waited on the
	// commits of the groups being recorded (badger's read timestamp).
	old *index.Local
}

func (s *scanner) ignored(rel string, isDir bool) bool {
	if internal(rel) {
		return true
	}
	return s.opt.Ignore != nil && s.opt.Ignore.Ignored(rel, isDir)
}

func (s *scanner) fail(rel string, err error) {
	s.res.Errors = append(s.res.Errors, s.skip(rel, err))
}

// skip logs that rel is skipped for err and returns the path's error for
// the result: the walk's (fail) and the hash workers' alike.
func (s *scanner) skip(rel string, err error) PathError {
	s.opt.Logger.Warn("scan: skipping", "path", rel, "err", err)
	return PathError{Path: rel, Err: err.Error()}
}

func (s *scanner) scanPath(ctx context.Context, rel string) error {
	if rel != "" && s.ignored(rel, false) {
		return nil
	}
	abs := filepath.Join(s.opt.Root, filepath.FromSlash(rel))
	info, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		s.fail(rel, err)
		return nil
	case info.IsDir():
		if err := s.walk(ctx, rel, abs); err != nil {
			return err
		}
	default:
		if err := s.entry(ctx, rel, abs, info); err != nil {
			return err
		}
	}
	// What the index holds at or below rel and was not seen is gone.
	prefix := rel
	return s.opt.Index.Locals(ctx, prefix, func(p string, l *index.Local) error {
		if rel != "" && p != rel && !strings.HasPrefix(p, rel+"/") {
			return nil
		}
		if l.Deleted || s.seen[p] || s.ignored(p, l.Type == index.TypeDir) || !s.absenceIsDelete(p, l.Type == index.TypeDir) {
			return nil
		}
		if parentUnreadable(s.res.Errors, p) {
			return nil
		}
		s.res.Changes = append(s.res.Changes, index.Change{
			// A deletion's time is when it was seen: history and restore
			// --at place it after the version it removed.
			Record: index.Record{Path: p, Type: l.Type, Deleted: true, ModTime: max(time.Now().UnixNano(), l.ModTime+1)},
			Local:  index.Local{Type: l.Type, Deleted: true},
		})
		return nil
	})
}

// parentUnreadable reports whether p lies below a path the scan could not
// read: it is not known to be gone.
func parentUnreadable(errs []PathError, p string) bool {
	for _, e := range errs {
		if e.Path == p || strings.HasPrefix(p, e.Path+"/") {
			return true
		}
	}
	return false
}

func (s *scanner) walk(ctx context.Context, rel, abs string) error {
	return filepath.WalkDir(abs, func(full string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, rerr := filepath.Rel(s.opt.Root, full)
		if rerr != nil {
			return rerr
		}
		r = filepath.ToSlash(r)
		if r == "." {
			r = ""
		}
		if err != nil {
			s.fail(r, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if r == "" {
			return nil
		}
		if s.ignored(r, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			s.fail(r, err)
			return nil
		}
		return s.entry(ctx, r, full, info)
	})
}

// entry looks at one path on disk.
func (s *scanner) entry(ctx context.Context, rel, abs string, info fs.FileInfo) error {
	if !norm.NFC.IsNormalString(rel) {
		s.fail(rel, fmt.Errorf("name is not in Unicode NFC"))
		return nil
	}
	if err := index.ValidatePath(rel); err != nil {
		s.fail(rel, err)
		return nil
	}
	s.seen[rel] = true
	old, err := s.opt.Index.Local(ctx, rel)
	if err != nil {
		return err
	}
	ctime, inode := SysStat(info)
	l := index.Local{Size: info.Size(), Mode: uint32(info.Mode().Perm()), ModTime: info.ModTime().UnixNano(), CTime: ctime, Inode: inode}
	switch {
	case info.Mode().IsRegular():
		l.Type = index.TypeFile
		if old != nil && !old.Deleted && old.Type == index.TypeFile && old.Size == l.Size && old.ModTime == l.ModTime &&
			old.Inode == l.Inode && old.CTime == l.CTime && (old.Mode&0o100) == (l.Mode&0o100) {
			return nil // unchanged
		}
		return s.queue(ctx, hashJob{rel: rel, old: old})
	case info.IsDir():
		l.Type, l.Size = index.TypeDir, 0
		if old != nil && !old.Deleted && old.Type == index.TypeDir && (old.Mode&0o100) == (l.Mode&0o100) || !s.absenceIsDelete(rel, true) {
			return nil
		}
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(abs)
		if err != nil {
			s.fail(rel, err)
			return nil
		}
		l.Type, l.Target, l.Size = index.TypeSymlink, filepath.ToSlash(target), 0
		if old != nil && !old.Deleted && old.Type == index.TypeSymlink && old.Target == l.Target {
			return nil
		}
	default:
		return nil // devices, sockets, pipes: not synced
	}
	s.add(rel, l)
	return nil
}

// add records a change of a directory or symlink whose disk state is l.
func (s *scanner) add(rel string, l index.Local) {
	var mode uint32
	if l.Type == index.TypeDir {
		mode = 0o755
	}
	c := index.Change{
		Record: index.Record{Path: rel, Type: l.Type, Size: l.Size, Mode: mode, ModTime: l.ModTime, Root: l.Root, Target: l.Target},
		Local:  l,
	}
	if s.opt.Flush != nil {
		s.unflushed = append(s.unflushed, c)
		return
	}
	s.res.Changes = append(s.res.Changes, c)
}

// queue hands j to a hash worker, starting one when none is free and
// fewer than Options.Workers run: a scan of one file starts one, a scan
// of many starts them all, and the walk waits when every one is busy.
func (s *scanner) queue(ctx context.Context, j hashJob) error {
	if len(s.unflushed) > 0 {
		// A file's directory goes to peers before the file: its
		// group is handed over first.
		if err := s.flush(ctx, s.unflushed, nil); err != nil {
			return err
		}
		s.unflushed = nil
	}
	if s.jobs == nil {
		s.jobs = make(chan hashJob)
	}
	select {
	case s.jobs <- j:
		return nil
	default:
	}
	if s.workers < s.opt.Workers {
		s.workers++
		s.wg.Go(func() { s.hashWorker(ctx) })
	}
	select {
	case s.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hashWorker chunks the files it is handed, committing its store batch
// (and, with Flush, handing over the changes whose blocks it holds)
// every few hundred files.
func (s *scanner) hashWorker(ctx context.Context) {
	h := &s.h
	b := newBatch(ctx, s.opt.Store)
	// With Flush, this worker's changes since its last store commit:
	// handed over once their blocks are in the store.
	var changes []index.Change
	var blocks []cid.Cid
	commit := func() {
		err := b.commit()
		if err == nil && s.opt.Flush != nil && len(changes) > 0 {
			err = s.flush(ctx, changes, blocks)
		}
		changes, blocks = nil, nil
		if err != nil {
			h.mu.Lock()
			h.firstErr = cmpErr(h.firstErr, err)
			h.mu.Unlock()
		}
	}
	defer commit()
	for j := range s.jobs {
		ch, bs, retry, err := s.hash(ctx, b, j)
		h.mu.Lock()
		switch {
		case err != nil && ctx.Err() != nil:
			h.firstErr = cmpErr(h.firstErr, ctx.Err())
		case err != nil && errors.Is(err, syscall.ENOSPC):
			h.firstErr = cmpErr(h.firstErr, err)
		case err != nil:
			h.errors = append(h.errors, s.skip(j.rel, err))
		case retry:
			h.retry = append(h.retry, j.rel)
		case s.opt.Flush != nil:
			changes = append(changes, ch)
			blocks = append(blocks, bs...)
		default:
			h.changes = append(h.changes, ch)
			h.blocks = append(h.blocks, bs...)
		}
		h.mu.Unlock()
		if b.n++; b.n >= 256 {
			commit()
		}
	}
}

// flush hands a group to the flusher, starting it at the first; it
// waits only when the flusher is Workers groups behind.
func (s *scanner) flush(ctx context.Context, changes []index.Change, blocks []cid.Cid) error {
	s.startFlusher.Do(func() {
		s.groups = make(chan flushGroup, s.opt.Workers)
		s.flushDone = make(chan struct{})
		go s.flusher(ctx)
	})
	select {
	case s.groups <- flushGroup{changes, blocks}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flusher hands the groups to Flush in the order they came. After a
// failed one it goes on (the scan's error is its first).
func (s *scanner) flusher(ctx context.Context) {
	defer close(s.flushDone)
	for g := range s.groups {
		if err := s.opt.Flush(ctx, g.changes, g.blocks); err != nil {
			s.h.mu.Lock()
			s.h.firstErr = cmpErr(s.h.firstErr, err)
			s.h.mu.Unlock()
		}
	}
}

// hashed waits for the hash workers to finish what the walk queued, and
// for Flush to take what they handed over, and adds what they found to
// the result.
func (s *scanner) hashed() error {
	if s.jobs != nil {
		close(s.jobs)
		s.wg.Wait()
		s.jobs = nil
	}
	if s.groups != nil {
		close(s.groups)
		<-s.flushDone
		s.groups = nil
	}
	h := &s.h
	s.res.Changes = append(s.res.Changes, h.changes...)
	s.res.Blocks = append(s.res.Blocks, h.blocks...)
	s.res.Errors = append(s.res.Errors, h.errors...)
	s.res.Retry = append(s.res.Retry, h.retry...)
	return h.firstErr
}

// flushRest hands Flush the directories and links found after the last
// file; deletions stay in the result for the caller.
func (s *scanner) flushRest(ctx context.Context) error {
	if len(s.unflushed) == 0 {
		return nil
	}
	err := s.opt.Flush(ctx, s.unflushed, nil)
	s.unflushed = nil
	return err
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// hash chunks one file; retry is set when it changed meanwhile (or went).
func (s *scanner) hash(ctx context.Context, b *batch, j hashJob) (index.Change, []cid.Cid, bool, error) {
	abs := filepath.Join(s.opt.Root, filepath.FromSlash(j.rel))
	seen := time.Now()
	info, err := os.Lstat(abs)
	if err != nil || !info.Mode().IsRegular() {
		return index.Change{}, nil, true, nil
	}
	old := j.old
	start := len(b.cids)
	workers := 1
	if info.Size() > largeFile {
		workers = 0 // all cores on one large file, one such file at a time
		select {
		case s.large <- struct{}{}:
		case <-ctx.Done():
			return index.Change{}, nil, false, ctx.Err()
		}
		defer func() { <-s.large }()
	}
	root, _, err := dag.AddFile(ctx, b, abs, info, dag.AddOptions{Chunker: s.opt.Chunker, NoCopy: true, Workers: workers, Buffer: &b.buf})
	if err != nil {
		return index.Change{}, nil, false, err
	}
	now, err := os.Lstat(abs)
	if err != nil {
		return index.Change{}, nil, true, nil
	}
	ctime, inode := SysStat(now)
	c0, i0 := SysStat(info)
	if now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) || ctime != c0 || inode != i0 {
		return index.Change{}, nil, true, nil
	}
	if wait := racy(now, seen); wait > 0 {
		s.retryAfter(wait)
		return index.Change{}, nil, true, nil
	}
	blocks := append([]cid.Cid(nil), b.cids[start:]...)
	l := index.Local{Type: index.TypeFile, Size: now.Size(), Mode: uint32(now.Mode().Perm()), ModTime: now.ModTime().UnixNano(),
		CTime: ctime, Inode: inode, Root: root.Bytes()}
	if old != nil && !old.Deleted && old.Type == index.TypeFile && string(old.Root) == string(l.Root) &&
		(old.Mode&0o100) == (l.Mode&0o100) {
		// Touched, not changed: only the stat moves on.
		l.Version = old.Version
		return index.Change{Record: index.Record{Path: j.rel}, Local: l}, blocks, false, nil
	}
	mode := uint32(0o644)
	if l.Mode&0o100 != 0 {
		mode = 0o755
	}
	return index.Change{
		Record: index.Record{Path: j.rel, Type: index.TypeFile, Size: l.Size, Mode: mode, ModTime: l.ModTime, Root: l.Root},
		Local:  l,
	}, blocks, false, nil
}
