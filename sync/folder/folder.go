package folder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder/history"
	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
	"github.com/shoal-sync/shoal/sync/folder/scan"
	"github.com/shoal-sync/shoal/sync/folder/selection"
	"github.com/shoal-sync/shoal/sync/folder/watch"
	"github.com/shoal-sync/shoal/sync/identity"
)

// MarkerDir is the folder's own directory at its root; MarkerFile inside
// it says the folder is there (not an unmounted or wiped disk).
const (
	MarkerDir  = ".shoal"
	MarkerFile = ".shoal/folder"
)

// ErrNoMarker means the folder's marker is missing.
var ErrNoMarker = errors.New("folder marker .shoal/folder is missing (disk unmounted, folder moved or wiped?): stopped, nothing is deleted on peers")

// Options configures a Folder.
type Options struct {
	Key    identity.FolderKey
	Root   string
	Store  store.Store
	Index  *index.Index
	Fetch  pull.Fetcher
	Device identity.NodeID
	// Push sends new local records to the folder's peers.
	Push func(recs []index.Signed)
	// Servable is told when files pulled here became servable to the
	// folder's peers (they may have asked for their blocks before).
	Servable func()
	Events   *events.Bus
	// Rescan is the period of full scans. Default 1 h.
	Rescan time.Duration
	// NoWatch turns the watcher off (rescans only).
	NoWatch bool
	// Pullers is how many files are pulled at once. Default 64: a small
	// file waits mostly on its round trip to a peer, and its bytes on a
	// group commit, so many in flight keep both the link and the disk busy.
	Pullers int
	// Space, if set, is asked before a file of n bytes is written.
	Space func(n int64) error
	// Select is the selective-sync selection (nil: every path); Select
	// changes it later.
	Select *selection.Set
	// History returns the folder's versioning and retention now (nil:
	// the defaults); see Prune.
	History func() history.Policy
	Logger  *slog.Logger
}

// writeBudget is how many bytes of large files' blocks a folder's pulls
// hold at once to write them around the page cache (pull.WriteBudget).
const writeBudget = 32 << 20

// Folder is one synced folder.
type Folder struct {
	opt  Options
	log  *slog.Logger
	id   string
	wake chan struct{} // remote records arrived
	// received is when a peer last sent index records (unix ns): pulls
	// wait for blocks that come behind them (pull.Options.Received).
	received atomic.Int64
	scan     chan []string // paths to scan (from the API)
	// pending counts the paths the last pull could not bring in.
	pending int
	cleaned bool      // stale temporary files removed since the start
	calls   chan call // work that must not overlap a scan or a pull
	sel     atomic.Pointer[selection.Set]

	holds holds // versions restores are reading (versions.go)
	// writes bounds the memory this folder's pulls gather large files'
	// blocks in before writing them around the page cache.
	writes *pull.WriteBudget

	mu     sync.Mutex
	status Status
}

// State is what a folder is doing.
type State string

// Folder states.
const (
	StateStarting State = "starting"
	StateScanning State = "scanning"
	StateSyncing  State = "syncing"
	StateIdle     State = "idle"
	StateStopped  State = "stopped"
)

// Status is a folder's state for `shoal status`.
type Status struct {
	State      State            `json:"state"`
	Error      string           `json:"error,omitempty"`
	Watch      string           `json:"watch,omitempty"` // why the watcher is degraded
	PathErrors []scan.PathError `json:"path_errors,omitempty"`
	// PullErrors are paths that could not be written here (a name this
	// disk cannot hold, no peer with the blocks yet, a write error).
	PullErrors  []scan.PathError `json:"pull_errors,omitempty"`
	Conflicts   []string         `json:"conflicts,omitempty"`
	LastScan    time.Time        `json:"last_scan"`
	LastSync    time.Time        `json:"last_sync"`
	PulledFiles int64            `json:"pulled_files"`
	PulledBytes int64            `json:"pulled_bytes"`
}

// New returns a folder; Run runs it.
func New(opt Options) (*Folder, error) {
	if opt.Index == nil || opt.Store == nil || opt.Fetch == nil || opt.Root == "" {
		return nil, errors.New("folder: Root, Store, Index and Fetch are required")
	}
	if opt.Rescan <= 0 {
		opt.Rescan = time.Hour
	}
	if opt.Pullers <= 0 {
		opt.Pullers = 64
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Push == nil {
		opt.Push = func([]index.Signed) {}
	}
	id := opt.Key.ID().String()
	f := &Folder{opt: opt, id: id, log: opt.Logger.With("folder", id[:8]), wake: make(chan struct{}, 1),
		scan: make(chan []string, 16), calls: make(chan call), status: Status{State: StateStarting},
		writes: pull.NewWriteBudget(writeBudget)}
	f.sel.Store(opt.Select)
	return f, nil
}

// Init creates the folder's marker at root (a new share or join).
func Init(root string) error {
	if err := os.MkdirAll(filepath.Join(root, MarkerDir), 0o755); err != nil {
		return err
	}
	p := filepath.Join(root, filepath.FromSlash(MarkerFile))
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return os.WriteFile(p, []byte("shoal folder: do not remove; without this file the folder stops syncing\n"), 0o644)
}

// Changed tells the folder that its index gained remote records.
func (f *Folder) Changed() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Receiving tells the folder that a peer sent it index records it did not
// have: its pulls' blocks may be queued behind more of them.
func (f *Folder) Receiving() { f.received.Store(time.Now().UnixNano()) }

// lastReceived is when a peer last sent index records (1970: never).
func (f *Folder) lastReceived() time.Time { return time.Unix(0, f.received.Load()) }

// Rescan asks for a scan of paths (none: all).
func (f *Folder) Rescan(paths ...string) {
	select {
	case f.scan <- paths:
	default:
	}
}

// Status returns the folder's state.
func (f *Folder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.PathErrors = append([]scan.PathError(nil), st.PathErrors...)
	st.Conflicts = append([]string(nil), st.Conflicts...)
	st.PullErrors = append([]scan.PathError(nil), st.PullErrors...)
	return st
}

func (f *Folder) setState(s State, err error) {
	f.mu.Lock()
	changed := f.status.State != s || (err != nil) != (f.status.Error != "")
	f.status.State = s
	f.status.Error = ""
	if err != nil {
		f.status.Error = err.Error()
	}
	f.mu.Unlock()
	if changed {
		data := string(s)
		if err != nil {
			data += ": " + err.Error()
			f.log.Warn("folder stopped", "err", err)
		}
		f.opt.Events.Publish(events.Event{Type: events.FolderState, Folder: f.id, Data: data})
	}
}

func (f *Folder) checkMarker() error {
	if _, err := os.Stat(filepath.Join(f.opt.Root, filepath.FromSlash(MarkerFile))); err != nil {
		return ErrNoMarker
	}
	return nil
}

// Run scans and pulls until ctx ends.
func (f *Folder) Run(ctx context.Context) error {
	for {
		err := f.checkMarker()
		if err == nil {
			err = f.run(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		f.setState(StateStopped, err)
		// Wait for the marker to come back (a disk remounted).
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
		case <-f.scan:
		}
	}
}

func (f *Folder) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ign, err := ignore.Load(f.opt.Root)
	if err != nil {
		return fmt.Errorf("read .shoalignore: %w", err)
	}
	// The watcher's goroutine reads the matcher; this loop replaces it
	// when .shoalignore changes.
	var cur atomic.Pointer[ignore.Matcher]
	cur.Store(ign)
	var changes <-chan []string
	var w *watch.Watcher
	if !f.opt.NoWatch {
		w, err = watch.New(ctx, f.opt.Root, watch.Options{
			Ignore: func(rel string, isDir bool) bool { return cur.Load().Ignored(rel, isDir) },
			Logger: f.log,
		})
		if err != nil {
			f.log.Warn("watcher", "err", err)
			f.setWatch(err)
			w = nil
		} else {
			defer w.Close()
			changes = w.Changes()
			f.setWatch(w.Degraded())
		}
	}
	if err := f.resumeRestore(ctx); err != nil {
		return fmt.Errorf("finish an interrupted restore: %w", err)
	}
	if err := f.scanPaths(ctx, ign); err != nil {
		return err
	}
	if err := f.pullAll(ctx, ign); err != nil {
		return err
	}
	tick := time.NewTicker(f.opt.Rescan)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	backoff := time.Second
	for {
		if f.pending > 0 {
			// Some files could not be pulled (no peer had their blocks
			// yet, a disk error): try again, less often each time.
			retry.Reset(backoff)
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		f.setState(StateIdle, nil)
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
		case paths, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			f.setWatch(w.Degraded())
			if slicesContains(paths, ".shoalignore") {
				if ign, err = ignore.Load(f.opt.Root); err != nil {
					return err
				}
				cur.Store(ign)
				if err := w.Refresh(ctx); err != nil {
					f.log.Warn("watch paths no longer ignored", "err", err)
				}
				paths = nil // what is ignored changed: look at everything
			}
			if slicesContains(paths, "") {
				paths = nil // an overflow: everything
			}
			err = f.scanPaths(ctx, ign, paths...)
		case paths := <-f.scan:
			err = f.scanPaths(ctx, ign, paths...)
		case c := <-f.calls:
			cerr := c.fn(ctx, ign)
			c.done <- cerr
			if cerr != nil {
				continue
			}
		case <-tick.C:
			err = f.scanPaths(ctx, ign)
		case <-f.wake:
		}
		if err == nil {
			err = f.pullAll(ctx, ign)
		}
		if err != nil {
			return err
		}
	}
}

func (f *Folder) setWatch(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Watch = ""
	if err != nil {
		f.status.Watch = err.Error() + " (relying on rescans)"
	}
}

func slicesContains(ps []string, p string) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// scanPaths scans paths (none: all) and publishes what changed. Files
// are recorded and pushed to peers in groups while the scan still hashes
// the rest (a large share reaches peers as it goes, and its changes are
// never all held in memory); deletions only once the scan is complete
// and the folder marker still there.
func (f *Folder) scanPaths(ctx context.Context, ign *ignore.Matcher, paths ...string) error {
	if err := f.checkMarker(); err != nil {
		return err
	}
	f.setState(StateScanning, nil)
	var mu sync.Mutex // one group recorded at a time: each takes the next sequences
	published := 0    // records signed by this scan, logged once at its end
	record := func(ctx context.Context, changes []index.Change, blocks []cid.Cid) error {
		mu.Lock()
		defer mu.Unlock()
		if err := f.opt.Index.AddBlocks(ctx, blocks); err != nil {
			return err
		}
		f.keepLocal(ctx, changes)
		f.copyBlocks(ctx, blocks)
		signed, err := f.opt.Index.CommitLocal(ctx, changes)
		if err != nil {
			return fmt.Errorf("record changes: %w", err)
		}
		for _, c := range changes {
			if c.Record.Type != 0 {
				f.opt.Events.Publish(events.Event{Type: events.LocalChange, Folder: f.id, Path: c.Record.Path})
			}
		}
		if len(signed) > 0 {
			published += len(signed)
			f.log.Debug("local changes pushed", "records", len(signed))
			f.opt.Push(signed)
		}
		return nil
	}
	defer func() {
		// One line per scan: a scan of 100,000 files hands over its
		// changes in about a thousand groups (each directory, then 256
		// files at a time).
		mu.Lock()
		defer mu.Unlock()
		if published > 0 {
			f.log.Info("local changes", "records", published)
		}
	}()
	for try := 0; ; try++ {
		res, err := scan.Scan(ctx, scan.Options{Root: f.opt.Root, Store: f.opt.Store, Index: f.opt.Index, Ignore: f.filter(ign), Logger: f.log, Flush: record}, paths...)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		if err := f.checkMarker(); err != nil {
			return err // vanished while scanning: the deletions it saw are not real
		}
		if err := record(ctx, res.Changes, res.Blocks); err != nil {
			return err
		}
		f.mu.Lock()
		f.status.LastScan = time.Now()
		if len(paths) == 0 {
			f.status.PathErrors = res.Errors
		} else {
			f.status.PathErrors = mergeErrors(f.status.PathErrors, res.Errors, paths)
		}
		f.mu.Unlock()
		if len(res.Retry) == 0 || try >= 3 {
			return nil
		}
		if res.RetryAfter > 0 { // changed too recently to trust the timestamps yet
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(res.RetryAfter):
			}
		}
		paths = res.Retry // changed while hashed: look again
	}
}

// setPathError sets (or, with nil, clears) the error of path in errs.
func setPathError(errs []scan.PathError, path string, err error) []scan.PathError {
	out := errs[:0:0]
	for _, e := range errs {
		if e.Path != path {
			out = append(out, e)
		}
	}
	if err != nil {
		out = append(out, scan.PathError{Path: path, Err: err.Error()})
	}
	return out
}

// mergeErrors replaces the errors under the scanned paths with new ones.
func mergeErrors(old, fresh []scan.PathError, paths []string) []scan.PathError {
	var out []scan.PathError
	for _, e := range old {
		under := false
		for _, p := range paths {
			if e.Path == p || strings.HasPrefix(e.Path, p+"/") {
				under = true
			}
		}
		if !under {
			out = append(out, e)
		}
	}
	return append(out, fresh...)
}

// Roots returns the content the folder needs kept by garbage collection.
func (f *Folder) Roots(ctx context.Context) ([]cid.Cid, error) { return f.opt.Index.Roots(ctx) }
