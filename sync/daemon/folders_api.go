package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/folder"
	"github.com/shoal-sync/shoal/sync/folder/snapshot"
	"github.com/shoal-sync/shoal/sync/identity"
)

// FolderRequest is the body of the folder calls.
type FolderRequest struct {
	Path string `json:"path"`
	Key  string `json:"key,omitempty"` // join: the printed key
	// Only: join syncing just the paths these patterns select.
	Only []string `json:"only,omitempty"`
	// Settings: share and join, the folder's versioning and retention
	// as key=value words (shoal folder set takes the same).
	Settings []string `json:"settings,omitempty"`
}

// FolderInfo describes one folder, for share, join, folders and status.
type FolderInfo struct {
	Path     string `json:"path"`
	ID       string `json:"id"`
	Writable bool   `json:"writable"`
	RWKey    string `json:"rw_key,omitempty"` // share only
	ROKey    string `json:"ro_key,omitempty"` // share only
	folder.Status
	Files        int      `json:"files"`
	Dirs         int      `json:"dirs"`
	Links        int      `json:"links"`
	Bytes        int64    `json:"bytes"`
	NeedFiles    int      `json:"need_files"`
	NeedBytes    int64    `json:"need_bytes"`
	LocalChanged int      `json:"local_changed,omitempty"`
	Peers        []string `json:"peers"`
	Selection
	// History is the folder's versioning and retention policy.
	History string `json:"history,omitempty"`
}

func (fs *folders) handlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v0/folders/share":    fs.apiShare,
		"POST /api/v0/folders/join":     fs.apiJoin,
		"POST /api/v0/folders/leave":    fs.apiLeave,
		"POST /api/v0/folders/list":     fs.apiStatus,
		"POST /api/v0/folders/status":   fs.apiStatus,
		"POST /api/v0/folders/rescan":   fs.apiRescan,
		"POST /api/v0/folders/revert":   fs.apiRevert,
		"POST /api/v0/folders/snapshot": fs.apiSnapshot,
		"POST /api/v0/folders/history":  fs.apiHistory,
		"POST /api/v0/folders/restore":  fs.apiRestore,
		"POST /api/v0/folders/set":      fs.apiSet,
		"POST /api/v0/events":           fs.apiEvents,
	}
}

// folderOf reads a FolderRequest and finds its folder, answering the
// error itself when there is none.
func (fs *folders) folderOf(w http.ResponseWriter, r *http.Request) (*runningFolder, bool) {
	req, ok := readReq(w, r)
	if !ok {
		return nil, false
	}
	rf, err := fs.byPath(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return nil, false
	}
	return rf, true
}

func readReq(w http.ResponseWriter, r *http.Request) (FolderRequest, bool) {
	var req FolderRequest
	return req, readJSON(w, r, &req)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("bad request: %w", err))
		return false
	}
	return true
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (fs *folders) apiShare(w http.ResponseWriter, r *http.Request) {
	req, ok := readReq(w, r)
	if !ok {
		return
	}
	if rf, err := fs.byPath(req.Path); err == nil {
		// Shared already (a foreground share run again): its keys.
		info := fs.info(r, rf)
		if rf.key.Writable() {
			info.RWKey = rf.key.Text()
		}
		info.ROKey = rf.key.ROText()
		writeJSON(w, info)
		return
	}
	rw, err := identity.NewRWKey()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	key := identity.FolderKeyFromRW(rw)
	rf, err := fs.addWith(req.Path, key, req.Settings)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	info := fs.info(r, rf)
	info.RWKey, info.ROKey = key.Text(), key.ROText()
	writeJSON(w, info)
}

func (fs *folders) apiJoin(w http.ResponseWriter, r *http.Request) {
	req, ok := readReq(w, r)
	if !ok {
		return
	}
	key, err := identity.ParseFolderKey(req.Key)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	rf, err := fs.addWith(req.Path, key, req.Settings, req.Only...)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, fs.info(r, rf))
}

func (fs *folders) apiLeave(w http.ResponseWriter, r *http.Request) {
	req, ok := readReq(w, r)
	if !ok {
		return
	}
	if err := fs.leave(req.Path); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (fs *folders) apiRescan(w http.ResponseWriter, r *http.Request) {
	rf, ok := fs.folderOf(w, r)
	if !ok {
		return
	}
	rf.f.Rescan()
	writeJSON(w, struct{}{})
}

func (fs *folders) apiRevert(w http.ResponseWriter, r *http.Request) {
	rf, ok := fs.folderOf(w, r)
	if !ok {
		return
	}
	if err := rf.f.Revert(r.Context()); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, fs.info(r, rf))
}

// SnapshotInfo is the reply of folders/snapshot.
type SnapshotInfo struct {
	Path string `json:"path"`
	Cid  string `json:"cid"`
}

// SnapshotRequest asks for a snapshot of the folder at Path: as it is
// now, or as it was at At (RFC 3339, or a duration back from now).
type SnapshotRequest struct {
	Path string `json:"path"`
	At   string `json:"at,omitempty"`
}

func (fs *folders) apiSnapshot(w http.ResponseWriter, r *http.Request) {
	var req SnapshotRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, err := fs.byPath(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	var recs snapshot.Records = rf.ix
	var at *snapshot.At
	if req.At != "" {
		t, err := parseAt(req.At, time.Now())
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		at = &snapshot.At{H: rf.ix, T: t}
		recs = at
	}
	st := fs.d.node.Store()
	b := st.NewBatch(r.Context())
	defer b.Discard()
	root, err := snapshot.Build(r.Context(), recs, fs.rootGetter(), func(blk unixfs.Block) error { return b.Put(blk.Cid, blk.Data) })
	if errors.Is(err, snapshot.ErrNothingThen) {
		msg := fmt.Errorf("snapshot %s at %s: no file of the folder is known from then", rf.cfg.Path, at.T.UTC().Format(time.RFC3339))
		if !at.Oldest.IsZero() {
			msg = fmt.Errorf("%w (the oldest version known is from %s)", msg, at.Oldest.UTC().Format(time.RFC3339))
		}
		httpError(w, http.StatusBadRequest, msg)
		return
	}
	if err == nil {
		err = b.Pin(root, store.PinRecursive)
	}
	if err == nil {
		err = b.Commit()
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("snapshot %s: %w", rf.cfg.Path, err))
		return
	}
	writeJSON(w, SnapshotInfo{Path: rf.cfg.Path, Cid: root.String()})
}

// rootGetter reads a file's root node for a snapshot: from the store,
// or, for a version this machine never held, from the folder's peers.
func (fs *folders) rootGetter() getterFunc {
	st := fs.d.node.Store()
	return func(ctx context.Context, c cid.Cid) ([]byte, error) {
		data, err := st.Get(ctx, c)
		if !errors.Is(err, store.ErrNotFound) || fs.d.backend == nil {
			return data, err
		}
		if _, err := fs.d.backend.need(ctx, c.String(), false); err != nil {
			return nil, fmt.Errorf("the root block %s is neither here nor with a reachable peer: %w", c, err)
		}
		return st.Get(ctx, c)
	}
}

type getterFunc func(ctx context.Context, c cid.Cid) ([]byte, error)

func (g getterFunc) Get(ctx context.Context, c cid.Cid) ([]byte, error) { return g(ctx, c) }

func (fs *folders) apiStatus(w http.ResponseWriter, r *http.Request) {
	req, ok := readReq(w, r)
	if !ok {
		return
	}
	var out []FolderInfo
	if req.Path != "" {
		rf, err := fs.byPath(req.Path)
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		out = append(out, fs.info(r, rf))
	} else {
		for _, rf := range fs.list() {
			out = append(out, fs.info(r, rf))
		}
	}
	if out == nil {
		out = []FolderInfo{}
	}
	writeJSON(w, out)
}

func (fs *folders) info(r *http.Request, rf *runningFolder) FolderInfo {
	in := FolderInfo{Path: rf.cfg.Path, ID: rf.key.ID().String(), Writable: rf.key.Writable(), Status: rf.f.Status(),
		History: rf.policy().String()}
	if st, err := folderStats(r.Context(), rf); err == nil {
		in.Files, in.Dirs, in.Links, in.Bytes = st.Files, st.Dirs, st.Links, st.Bytes
		in.NeedFiles, in.NeedBytes, in.LocalChanged = st.NeedFiles, st.NeedBytes, st.LocalChanged
	}
	for _, p := range fs.session.Peers(rf.key.ID()) {
		in.Peers = append(in.Peers, p.String())
	}
	fs.selectionInfo(r.Context(), rf, &in)
	return in
}

// apiEvents streams events as JSON lines until the client goes away.
func (fs *folders) apiEvents(w http.ResponseWriter, r *http.Request) {
	sub := fs.bus.Subscribe(4096)
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
			rc.Flush()
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
			rc.Flush()
		}
	}
}
