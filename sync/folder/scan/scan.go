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
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/text/unicode/norm"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store"
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
