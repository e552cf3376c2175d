package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
)

// ErrWatchLimit means the system would not watch one more directory (on
// Linux the inotify limit, fs.inotify.max_user_watches).
var ErrWatchLimit = errors.New("the system's limit on watched directories is reached")

// ErrOverflow means events were lost: the kernel's or fsnotify's queue overflowed.
var ErrOverflow = errors.New("file system events were lost")

// Options tune a Watcher. The zero value is usable.
type Options struct {
	Quiet    time.Duration                     // a path is reported after this long without new events; default 75ms
	MaxDelay time.Duration                     // a path that keeps changing is reported at least this often; default 1s
	Ignore   func(rel string, isDir bool) bool // paths not watched or reported (also called for IsInternal paths by the caller's func)
	Logger   *slog.Logger
}

// backend is what the Watcher needs of fsnotify; tests wrap it to inject faults.
type backend interface {
	Add(path string) error
	Remove(path string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

type fsnotifyBackend struct{ w *fsnotify.Watcher }

func (b fsnotifyBackend) Add(path string) error         { return b.w.Add(path) }
func (b fsnotifyBackend) Remove(path string) error      { return b.w.Remove(path) }
func (b fsnotifyBackend) Events() <-chan fsnotify.Event { return b.w.Events }
func (b fsnotifyBackend) Errors() <-chan error          { return b.w.Errors }
func (b fsnotifyBackend) Close() error                  { return b.w.Close() }

// Watcher reports changed paths under a folder root, recursively.
type Watcher struct {
	root    string // absolute, cleaned
	opt     Options
	log     *slog.Logger
	be      backend
	changes chan []string
	refresh chan chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	degraded error

	// Owned by the loop goroutine (and New before it starts).
	dirs     map[string]bool            // watched directories, relative ("" is the root)
	kids     map[string]map[string]bool // watched directory -> its watched subdirectories
	limitHit bool                       // stop trying to add watches once the limit is reached
	deb      *Debouncer
}

// New starts watching root and every directory below it (except ignored ones).
func New(ctx context.Context, root string, opt Options) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	return newWatcher(ctx, root, opt, fsnotifyBackend{fw})
}

func newWatcher(ctx context.Context, root string, opt Options, be backend) (*Watcher, error) {
	abs, err := filepath.Abs(root)
	if err == nil {
		// Events name the real directories: a root reached through a
		// symlink (macOS's /var, say) would not be walked otherwise.
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	if opt.Quiet <= 0 {
		opt.Quiet = 75 * time.Millisecond
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		root:    abs,
		opt:     opt,
		log:     opt.Logger.With("watch", abs),
		be:      be,
		changes: make(chan []string),
		refresh: make(chan chan struct{}),
		done:    make(chan struct{}),
		dirs:    map[string]bool{},
		kids:    map[string]map[string]bool{},
		deb:     NewDebouncer(opt.Quiet, opt.MaxDelay),
	}
	if fi, err := os.Stat(abs); err != nil {
		be.Close()
		return nil, fmt.Errorf("watch %s: %w", root, err)
	} else if !fi.IsDir() {
		be.Close()
		return nil, fmt.Errorf("watch %s: not a directory", root)
	}
	if err := w.addTree("", nil); err != nil {
		be.Close()
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	ctx, w.cancel = context.WithCancel(ctx)
	go w.loop(ctx)
	return w, nil
}

// Changes delivers batches of changed paths (slash-separated, relative to root; a path may be a file, dir, or something deleted) after debouncing. Closed when the watcher stops.
func (w *Watcher) Changes() <-chan []string { return w.changes }

// Degraded returns a non-nil error (e.g. wrapping ErrWatchLimit) once the watcher could not watch everything (the kernel's inotify limit reached, fsnotify overflow): the caller says so once in status and relies on periodic rescans. Overflows also deliver a batch containing "" meaning "rescan everything".
func (w *Watcher) Degraded() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.degraded
}

// Refresh walks the folder again and watches every directory that is not
// ignored now: call it after the Ignore func changed its mind (a new
// .shoalignore). It reports nothing; it returns once the walk is done, or
// when ctx ends or the watcher stops.
func (w *Watcher) Refresh(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case w.refresh <- done:
	case <-w.done:
		return fmt.Errorf("watch %s: stopped", w.root)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-w.done:
		return fmt.Errorf("watch %s: stopped", w.root)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the watcher and closes Changes.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *Watcher) degrade(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.degraded == nil {
		w.degraded = err
		w.log.Warn("watcher degraded, relying on rescans", "err", err)
	}
}

// ignored reports whether rel is neither watched nor reported.
func (w *Watcher) ignored(rel string, isDir bool) bool {
	if ignore.IsInternal(rel) {
		return true
	}
	return w.opt.Ignore != nil && w.opt.Ignore(rel, isDir)
}

func (w *Watcher) abs(rel string) string {
	if rel == "" {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// rel turns an event's name into a path relative to the root; ok is false
// for a name outside it.
func (w *Watcher) rel(name string) (string, bool) {
	r, err := filepath.Rel(w.root, name)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	if r == "." {
		return "", true
	}
	return filepath.ToSlash(r), true
}

// addTree watches the directory rel and every directory below it. With
// found set it also reports every path it finds below rel: what was
// created there before the watch was in place.
func (w *Watcher) addTree(rel string, found func(rel string)) error {
	return filepath.WalkDir(w.abs(rel), func(p string, d fs.DirEntry, err error) error {
		r, ok := w.rel(p)
		if !ok {
			return nil
		}
		if err != nil {
			if r == rel && rel == "" {
				return err // the root itself cannot be read
			}
			if !errors.Is(err, fs.ErrNotExist) {
				w.log.Warn("walk", "path", r, "err", err)
			}
			return nil
		}
		if r != rel && w.ignored(r, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if r != rel && found != nil {
			found(r)
		}
		if !d.IsDir() {
			return nil
		}
		// The watch goes in before WalkDir reads the directory, so an entry
		// created from here on is either read or reported by an event.
		w.addWatch(r)
		return nil
	})
}

func (w *Watcher) addWatch(rel string) {
	if w.limitHit || w.dirs[rel] {
		return
	}
	err := w.be.Add(w.abs(rel))
	switch {
	case err == nil:
		w.dirs[rel] = true
		if rel != "" {
			p := parent(rel)
			if w.kids[p] == nil {
				w.kids[p] = map[string]bool{}
			}
			w.kids[p][rel] = true
		}
	case isWatchLimit(err):
		w.limitHit = true
		w.degrade(fmt.Errorf("watch %s: %w (%w)", w.abs(rel), ErrWatchLimit, err))
	case errors.Is(err, fs.ErrNotExist):
		// Gone already; its parent reports the removal.
	default:
		w.log.Warn("cannot watch directory", "path", rel, "err", err)
	}
}

// isWatchLimit reports whether err from adding a watch means the system's
// limit (inotify: ENOSPC; kqueue: out of file descriptors).
func isWatchLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// dropTree forgets rel and every watched directory below it.
func (w *Watcher) dropTree(rel string) {
	if !w.dirs[rel] {
		return
	}
	delete(w.kids[parent(rel)], rel)
	stack := []string{rel}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		delete(w.dirs, d)
		for k := range w.kids[d] {
			stack = append(stack, k)
		}
		delete(w.kids, d)
		// The kernel drops the watch of a deleted directory itself; a
		// moved one keeps its watch under the old name, so remove it.
		_ = w.be.Remove(w.abs(d))
	}
}

// parent returns the directory holding rel ("" for the root).
func parent(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	defer close(w.changes)
	defer w.be.Close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		out     []string // due paths the consumer has not taken yet
		outSet  = map[string]bool{}
		pending = func(rel string) { w.deb.Event(rel, time.Now()) }
	)
	events, errs := w.be.Events(), w.be.Errors()
	for {
		if next := w.deb.Next(); !next.IsZero() {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		var send chan []string
		if len(out) > 0 {
			send = w.changes
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			w.handle(ev, pending)
		case err, ok := <-errs:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.degrade(fmt.Errorf("watch %s: %w (%w)", w.root, ErrOverflow, err))
				pending("")
			} else {
				w.log.Warn("watch error", "err", err)
			}
		case done := <-w.refresh:
			if err := w.addTree("", nil); err != nil {
				w.log.Warn("refresh", "err", err)
			}
			close(done)
		case <-timer.C:
		case send <- out:
			out, outSet = nil, map[string]bool{}
		}
		for _, p := range w.deb.Due(time.Now()) {
			if !outSet[p] {
				outSet[p] = true
				out = append(out, p)
			}
		}
	}
}

// handle turns one fsnotify event into reported paths and watch changes.
func (w *Watcher) handle(ev fsnotify.Event, report func(string)) {
	rel, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	if rel == "" {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			// The root itself went away: everything must be looked at again.
			w.log.Warn("folder root removed or moved")
			report("")
		}
		return
	}
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(ev.Name)
		isDir := err == nil && fi.IsDir()
		if w.ignored(rel, isDir) {
			return
		}
		report(rel)
		if isDir {
			w.addTree(rel, report)
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		isDir := w.dirs[rel]
		if w.ignored(rel, isDir) {
			return
		}
		report(rel)
		if isDir {
			w.dropTree(rel)
		}
	default: // Write, Chmod
		if w.ignored(rel, w.dirs[rel]) {
			return
		}
		report(rel)
	}
}
