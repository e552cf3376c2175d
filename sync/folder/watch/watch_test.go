package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
)

const waitFor = 10 * time.Second

// tester drives one Watcher over a temp folder and remembers every path
// it has reported.
type tester struct {
	t    *testing.T
	root string
	w    *Watcher
	seen map[string]int // path -> how many batches held it
}

func start(t *testing.T, opt Options, setup ...string) *tester {
	t.Helper()
	root := t.TempDir()
	tt := &tester{t: t, root: root, seen: map[string]int{}}
	for _, p := range setup {
		tt.make(p)
	}
	w, err := New(t.Context(), root, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	tt.w = w
	return tt
}

func (tt *tester) path(rel string) string {
	return filepath.Join(tt.root, filepath.FromSlash(strings.TrimSuffix(rel, "/")))
}

// make creates rel: a directory (with its parents) if it ends in "/", else
// a file holding its name.
func (tt *tester) make(rel string) {
	tt.t.Helper()
	p := tt.path(rel)
	if strings.HasSuffix(rel, "/") {
		if err := os.MkdirAll(p, 0o755); err != nil {
			tt.t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tt.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
		tt.t.Fatal(err)
	}
}

// wait takes batches until every path in want has come in a batch since
// the call, and fails after a deadline.
func (tt *tester) wait(want ...string) {
	tt.t.Helper()
	missing := map[string]bool{}
	for _, p := range want {
		missing[p] = true
	}
	deadline := time.After(waitFor)
	for len(missing) > 0 {
		select {
		case batch, ok := <-tt.w.Changes():
			if !ok {
				tt.t.Fatalf("Changes closed while waiting for %v", keys(missing))
			}
			for _, p := range batch {
				tt.seen[p]++
				delete(missing, p)
			}
		case <-deadline:
			tt.t.Fatalf("after %v still not reported: %v (seen %v)", waitFor, keys(missing), keys(tt.seen))
		}
	}
}

// never fails if any of the paths has been reported so far.
func (tt *tester) never(paths ...string) {
	tt.t.Helper()
	for _, p := range paths {
		if tt.seen[p] > 0 {
			tt.t.Errorf("%q was reported; it must not be", p)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCreateModifyDelete(t *testing.T) {
	tt := start(t, Options{})
	tt.make("a.txt")
	tt.wait("a.txt")
	if err := os.WriteFile(tt.path("a.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	tt.wait("a.txt")
	if err := os.Chmod(tt.path("a.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	tt.wait("a.txt")
	if err := os.Remove(tt.path("a.txt")); err != nil {
		t.Fatal(err)
	}
	tt.wait("a.txt")
	if err := tt.w.Degraded(); err != nil {
		t.Errorf("Degraded = %v, want nil", err)
	}
}

func TestRename(t *testing.T) {
	tt := start(t, Options{}, "old.txt", "d/inner/f")
	if err := os.Rename(tt.path("old.txt"), tt.path("new.txt")); err != nil {
		t.Fatal(err)
	}
	tt.wait("old.txt", "new.txt")

	// A renamed directory is watched under its new name only: a change
	// inside it is reported at the new path.
	if err := os.Rename(tt.path("d"), tt.path("e")); err != nil {
		t.Fatal(err)
	}
	tt.wait("d", "e", "e/inner", "e/inner/f")
	tt.make("e/inner/g")
	tt.make("sentinel")
	tt.wait("e/inner/g", "sentinel")
	tt.never("d/inner/g")

	// Moved out of the folder: reported as gone, no longer watched.
	out := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(tt.path("e"), out); err != nil {
		t.Fatal(err)
	}
	tt.wait("e")
	if err := os.WriteFile(filepath.Join(out, "inner", "h"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tt.make("sentinel2")
	tt.wait("sentinel2")
	tt.never("e/inner/h", "inner/h")

	// Moved in from outside: the tree inside is reported and watched.
	if err := os.Rename(out, tt.path("back")); err != nil {
		t.Fatal(err)
	}
	tt.wait("back", "back/inner", "back/inner/f", "back/inner/g", "back/inner/h")
	tt.make("back/inner/i")
	tt.wait("back/inner/i")
}

// TestMkdirDeep creates a deep tree at once, faster than directories can be
// watched: the walk of each new directory reports what is already inside.
func TestMkdirDeep(t *testing.T) {
	tt := start(t, Options{})
	var want []string
	for i := range 20 {
		p := fmt.Sprintf("x/%d/y/z/w", i)
		tt.make(p + "/")
		tt.make(p + "/f")
		want = append(want, fmt.Sprintf("x/%d", i), fmt.Sprintf("x/%d/y", i), p, p+"/f")
	}
	tt.wait(append(want, "x")...)
	// Every new directory is watched now.
	tt.make("x/7/y/z/w/later")
	tt.make("x/19/y/z/later/")
	tt.wait("x/7/y/z/w/later", "x/19/y/z/later")
}

func TestRmdir(t *testing.T) {
	tt := start(t, Options{}, "a/b/c/f", "a/b/g", "keep/")
	if err := os.RemoveAll(tt.path("a")); err != nil {
		t.Fatal(err)
	}
	tt.wait("a", "a/b", "a/b/c", "a/b/c/f", "a/b/g")
	if err := os.Remove(tt.path("keep")); err != nil {
		t.Fatal(err)
	}
	tt.wait("keep")
	// Made again, watched again.
	tt.make("a/b/c/new")
	tt.wait("a", "a/b", "a/b/c", "a/b/c/new")
	tt.make("a/b/c/newer")
	tt.wait("a/b/c/newer")
}

func TestIgnoredAndInternal(t *testing.T) {
	m := ignore.Parse([]string{"build/", "*.tmp", "!keep.tmp"})
	var asked atomic.Int64
	tt := start(t, Options{Ignore: func(rel string, isDir bool) bool {
		asked.Add(1)
		return m.Ignored(rel, isDir)
	}}, "build/sub/", ".shoal/versions/")
	for _, p := range []string{"build/x", "build/sub/y", "a.tmp", "d/b.tmp", ".shoal/state", ".shoal/versions/v", ".shoal-tmp-1", "d/.shoal-tmp-2", "newbuild/build/z"} {
		tt.make(p)
	}
	tt.make("keep.tmp")
	tt.make("sentinel")
	tt.wait("keep.tmp", "d", "newbuild", "sentinel")
	tt.never("newbuild/build", "build", "build/x", "build/sub", "build/sub/y", "a.tmp", "d/b.tmp", ".shoal", ".shoal/state",
		".shoal/versions", ".shoal/versions/v", ".shoal-tmp-1", "d/.shoal-tmp-2", "newbuild/build/z")
	if asked.Load() == 0 {
		t.Error("Options.Ignore was never asked")
	}
}

// TestInternalWithoutIgnore: shoal's own paths are skipped even when the
// caller passes no Ignore.
func TestInternalWithoutIgnore(t *testing.T) {
	tt := start(t, Options{}, ".shoal/")
	tt.make(".shoal/index")
	tt.make(".shoal-tmp-x")
	tt.make("file")
	tt.wait("file")
	tt.never(".shoal", ".shoal/index", ".shoal-tmp-x")
}

func TestManyFiles(t *testing.T) {
	tt := start(t, Options{}, "d/")
	var want []string
	for i := range 2000 {
		p := fmt.Sprintf("d/f%04d", i)
		tt.make(p)
		want = append(want, p)
	}
	tt.wait(want...)
}

// TestKeepsChanging: a file written without pause is still reported while
// it changes, not only when the writes stop.
func TestKeepsChanging(t *testing.T) {
	tt := start(t, Options{Quiet: 200 * time.Millisecond, MaxDelay: 300 * time.Millisecond})
	f, err := os.Create(tt.path("log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond) // never 200 ms quiet
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				f.Write([]byte("x"))
			}
		}
	}()
	tt.wait("log")
	tt.wait("log") // a second report while writes go on
	close(stop)
	<-done
}

func TestCloseClosesChanges(t *testing.T) {
	tt := start(t, Options{})
	if err := tt.w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-tt.w.Changes():
		if ok {
			t.Fatal("a batch after Close")
		}
	case <-time.After(waitFor):
		t.Fatal("Changes not closed after Close")
	}
	tt.w.Close() // twice is fine

	ctx, cancel := context.WithCancel(t.Context())
	w, err := New(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-w.Changes():
		if ok {
			t.Fatal("a batch after cancel")
		}
	case <-time.After(waitFor):
		t.Fatal("Changes not closed after the context ended")
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(t.Context(), filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("New on a missing root: want an error")
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), f, Options{}); err == nil {
		t.Error("New on a file: want an error")
	}
}

// faultBackend is fsnotify with a watch limit and an error channel the
// test writes to.
type faultBackend struct {
	fsnotifyBackend
	limit int // Adds allowed before ENOSPC
	adds  atomic.Int64
	errs  chan error
}

func newFault(t *testing.T, limit int) *faultBackend {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	return &faultBackend{fsnotifyBackend: fsnotifyBackend{fw}, limit: limit, errs: make(chan error)}
}

func (b *faultBackend) Add(path string) error {
	if b.adds.Add(1) > int64(b.limit) {
		// What inotify_add_watch returns past fs.inotify.max_user_watches.
		return fmt.Errorf("%q: %w", path, syscall.ENOSPC)
	}
	return b.fsnotifyBackend.Add(path)
}

func (b *faultBackend) Errors() <-chan error { return b.errs }

func startFault(t *testing.T, be *faultBackend, setup ...string) *tester {
	t.Helper()
	tt := &tester{t: t, root: t.TempDir(), seen: map[string]int{}}
	for _, p := range setup {
		tt.make(p)
	}
	w, err := newWatcher(t.Context(), tt.root, Options{}, be)
	if err != nil {
		t.Fatalf("newWatcher: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	tt.w = w
	return tt
}

func TestWatchLimitAtStart(t *testing.T) {
	tt := startFault(t, newFault(t, 3), "a/", "b/", "c/", "d/", "e/")
	err := tt.w.Degraded()
	if !errors.Is(err, ErrWatchLimit) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Degraded = %v, want ErrWatchLimit wrapping ENOSPC", err)
	}
	// What is watched still reports.
	tt.make("top")
	tt.wait("top")
}

func TestWatchLimitLater(t *testing.T) {
	be := newFault(t, 2)
	tt := startFault(t, be, "a/")
	if err := tt.w.Degraded(); err != nil {
		t.Fatalf("Degraded before the limit = %v", err)
	}
	// The third directory cannot be watched: its content is still reported
	// once, by the walk, and the watcher says it is degraded. (Made outside
	// and moved in, so that it is complete when walked: nothing watches it
	// for what comes later.)
	out := filepath.Join(t.TempDir(), "new")
	if err := os.MkdirAll(filepath.Join(out, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "deep", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(out, tt.path("new")); err != nil {
		t.Fatal(err)
	}
	tt.wait("new", "new/deep", "new/deep/f")
	if err := tt.w.Degraded(); !errors.Is(err, ErrWatchLimit) {
		t.Fatalf("Degraded = %v, want ErrWatchLimit", err)
	}
	tt.make("a/still")
	tt.wait("a/still")
}

func TestOverflow(t *testing.T) {
	be := newFault(t, 1000)
	tt := startFault(t, be)
	select {
	case be.errs <- fmt.Errorf("read: %w", fsnotify.ErrEventOverflow):
	case <-time.After(waitFor):
		t.Fatal("the watcher does not read errors")
	}
	tt.wait("")
	if err := tt.w.Degraded(); !errors.Is(err, ErrOverflow) || !errors.Is(err, fsnotify.ErrEventOverflow) {
		t.Fatalf("Degraded = %v, want ErrOverflow", err)
	}
	// Another error is logged, not fatal.
	be.errs <- errors.New("something else")
	tt.make("after")
	tt.wait("after")
}

// TestSymlinkedRoot: a root reached through a symlink is walked and
// watched, and paths are relative to it; a symlink inside is reported,
// never followed.
func TestSymlinkedRoot(t *testing.T) {
	real := t.TempDir()
	if err := os.MkdirAll(filepath.Join(real, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	w, err := New(t.Context(), link, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	tt := &tester{t: t, root: link, w: w, seen: map[string]int{}}
	tt.make("sub/f")
	tt.wait("sub/f")
	outside := t.TempDir()
	if err := os.Symlink(outside, tt.path("sub/out")); err != nil {
		t.Fatal(err)
	}
	tt.wait("sub/out")
	if err := os.WriteFile(filepath.Join(outside, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tt.make("sentinel")
	tt.wait("sentinel")
	tt.never("sub/out/x")
}

// TestRefresh: a directory ignored at the start is watched once the
// Ignore func stops ignoring it and Refresh is called.
func TestRefresh(t *testing.T) {
	var m atomic.Pointer[ignore.Matcher]
	m.Store(ignore.Parse([]string{"later/"}))
	tt := start(t, Options{Ignore: func(rel string, isDir bool) bool { return m.Load().Ignored(rel, isDir) }}, "later/sub/")
	tt.make("later/sub/before")
	tt.make("sentinel")
	tt.wait("sentinel")
	tt.never("later/sub/before")

	m.Store(ignore.Parse(nil))
	if err := tt.w.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	tt.make("later/sub/after")
	tt.wait("later/sub/after")

	tt.w.Close()
	if err := tt.w.Refresh(t.Context()); err == nil {
		t.Error("Refresh after Close: want an error")
	}
}
