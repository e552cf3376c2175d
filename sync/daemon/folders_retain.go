package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/folder/history"
)

// retainEvery is how often the daemon applies every folder's retention.
const retainEvery = 10 * time.Minute

// SetRequest changes a folder's settings: key=value words.
type SetRequest struct {
	Path     string   `json:"path"`
	Settings []string `json:"settings"`
}

// policyOf parses a folder's remembered settings; bad ones (a config
// from a later version) fall back to the defaults.
func (fs *folders) policyOf(cfg folderConfig) history.Policy {
	p, err := cfg.History.Policy()
	if err != nil {
		fs.log.Warn("folder settings: using the defaults", "path", cfg.Path, "err", err)
		p, _ = history.Settings{}.Policy()
	}
	return p
}

// policy returns the folder's history policy now.
func (rf *runningFolder) policy() history.Policy { return *rf.pol.Load() }

// retainLoop applies every folder's retention shortly after the start
// and then every retainEvery, until ctx ends.
func (fs *folders) retainLoop(ctx context.Context) error {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fs.prune(ctx)
		t.Reset(retainEvery)
	}
}

// prune applies every folder's retention now (also before `shoal gc`).
func (fs *folders) prune(ctx context.Context) {
	for _, rf := range fs.list() {
		if _, err := rf.f.Prune(ctx); err != nil && ctx.Err() == nil {
			fs.log.Warn("retention", "path", rf.cfg.Path, "err", err)
		}
	}
}

// apiSet changes a folder's versioning and retention, remembers them and
// applies them at once.
func (fs *folders) apiSet(w http.ResponseWriter, r *http.Request) {
	var req SetRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, err := fs.byPath(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	rf.mu.Lock()
	s := rf.settings
	rf.mu.Unlock()
	if err := s.SetWords(req.Settings); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	if err := fs.saveSettings(rf, s); err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	if _, err := rf.f.Prune(r.Context()); err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("apply retention: %w", err))
		return
	}
	writeJSON(w, fs.info(r, rf))
}

// saveSettings remembers s as rf's settings and makes them current.
func (fs *folders) saveSettings(rf *runningFolder, s history.Settings) error {
	rf.selMu.Lock() // the selection's changes write the same config
	defer rf.selMu.Unlock()
	rf.mu.Lock()
	defer rf.mu.Unlock()
	cfg := rf.cfg
	cfg.History = s
	enc, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	id := rf.key.ID()
	if err := fs.cfgKV.Put(context.Background(), id[:], enc); err != nil {
		return err
	}
	rf.settings = s
	rf.cfg.History = s
	p := fs.policyOf(cfg)
	rf.pol.Store(&p)
	rf.ix.SetRetention(p.Versions, p.MaxAge)
	return nil
}

// gcFirst is the backend's hook before a collection: retention runs, so
// that what it no longer keeps is collected now.
func (fs *folders) gcFirst(ctx context.Context) { fs.prune(ctx) }

// ErrFoldersNeedDaemon means a collection was asked of a home whose
// folders are not running: without them, what they and their kept
// versions need is unknown, and would go.
var ErrFoldersNeedDaemon = errors.New("this home syncs folders: start the daemon (shoal daemon) and run gc through it, so that what the folders and their kept versions need is kept")

// RemembersFolders reports whether the home whose store is st syncs
// folders (its daemon runs them at start).
func RemembersFolders(ctx context.Context, st store.Store) (bool, error) {
	bs, ok := st.(*badgerstore.Store)
	if !ok {
		return false, nil
	}
	found := false
	err := bs.KV("folders").Iterate(ctx, nil, func(_, _ []byte) error { found = true; return errStop })
	if errors.Is(err, errStop) {
		err = nil
	}
	return found, err
}

var errStop = errors.New("stop")
