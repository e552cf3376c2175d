package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/selection"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Selection is a folder's selective sync, in status and select replies.
type Selection struct {
	// Selective: only the paths Only selects are synced here.
	Selective bool     `json:"selective,omitempty"`
	Only      []string `json:"only,omitempty"`
	// Unselected counts the folder's files not synced here.
	UnselectedFiles int   `json:"unselected_files,omitempty"`
	UnselectedBytes int64 `json:"unselected_bytes,omitempty"`
}

// SelectRequest changes which paths of a folder are synced here.
type SelectRequest struct {
	Path     string   `json:"path"`
	Patterns []string `json:"patterns,omitempty"`
	// Mode: "set" (the default: Patterns replace the selection), "add",
	// "remove", "all" (sync every path), "none" (sync no path) or "show".
	Mode string `json:"mode,omitempty"`
}

// LsRemoteRequest lists the folder's index at or below Path (absolute:
// the folder, or a path inside it).
type LsRemoteRequest struct {
	Path  string `json:"path"`
	Depth int    `json:"depth,omitempty"` // levels below Path; 0: all
}

// RemoteEntry is one path of the folder's index, for ls-remote.
type RemoteEntry struct {
	Path    string    `json:"path"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	Cid     string    `json:"cid,omitempty"`
	// Peers counts the connected folder peers that hold this version
	// (files only).
	Peers int `json:"peers"`
	// Here: this machine holds this version. Present: something is at
	// this path here (this version or another). Selected: synced here.
	Here     bool `json:"here"`
	Present  bool `json:"present"`
	Selected bool `json:"selected"`
}

// LsRemoteReply is the reply of folders/ls-remote.
type LsRemoteReply struct {
	Folder  string        `json:"folder"`
	Peers   int           `json:"peers"` // connected folder peers
	Entries []RemoteEntry `json:"entries"`
}

// FetchRequest pulls one path of a folder on demand.
type FetchRequest struct {
	Path string `json:"path"` // absolute, inside a folder
}

// FetchReply says what a fetch brought in.
type FetchReply struct {
	Path    string `json:"path"`
	Pattern string `json:"pattern,omitempty"` // added to the selection ("" when it was selected already)
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
}

// selectHandlers are the API routes of selective sync.
func (fs *folders) selectHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v0/folders/select":    fs.apiSelect,
		"POST /api/v0/folders/ls-remote": fs.apiLsRemote,
		"POST /api/v0/folders/fetch":     fs.apiFetch,
	}
}

// probeWait bounds how long ls-remote waits for peers to say what they hold.
const probeWait = 3 * time.Second

// parseSelection returns the selection a folder config describes (nil:
// every path).
func parseSelection(root string, selective bool, only []string) (*selection.Set, error) {
	if !selective {
		return nil, nil
	}
	return selection.Parse(filepath.ToSlash(root), only)
}

// selectionInfo fills in the selection of rf, and, for a selective
// folder, counts only what it syncs as needed.
func (fs *folders) selectionInfo(ctx context.Context, rf *runningFolder, in *FolderInfo) {
	sel := rf.f.Selection()
	if sel.All() {
		return
	}
	in.Selective, in.Only = true, sel.Patterns()
	flt, err := rf.f.Filter()
	if err != nil {
		return
	}
	rf.ix.Globals(ctx, "", func(g *index.Record) error {
		if !g.Deleted && g.Type == index.TypeFile && !flt.Syncs(g.Path, false) {
			in.UnselectedFiles++
			in.UnselectedBytes += g.Size
		}
		return nil
	})
}

// folderStats counts rf's index; a selective folder counts as needed
// only the paths it syncs.
func folderStats(ctx context.Context, rf *runningFolder) (index.Stats, error) {
	if rf.f.Selection().All() {
		return rf.ix.Stats(ctx)
	}
	flt, err := rf.f.Filter()
	if err != nil {
		return index.Stats{}, err
	}
	st, err := rf.ix.StatsWhere(ctx, flt.MayWant)
	if err != nil {
		return st, err
	}
	miss, err := rf.f.Missing(ctx, "")
	if err != nil {
		return st, err
	}
	st.NeedFiles, st.NeedBytes = len(miss), 0
	for _, g := range miss {
		if !g.Deleted {
			st.NeedBytes += g.Size
		}
	}
	return st, nil
}

// locateAny finds the folder holding abs path p and p's path in it
// ("" for the folder itself).
func (fs *folders) locateAny(p string) (*runningFolder, string, error) {
	if rf, err := fs.byPath(p); err == nil {
		return rf, "", nil
	}
	return fs.locate(p)
}

// changeSelection applies req to rf's selection, remembers it and
// returns the new selection's patterns.
func (fs *folders) changeSelection(ctx context.Context, rf *runningFolder, mode string, patterns []string) error {
	rf.selMu.Lock()
	defer rf.selMu.Unlock()
	selective, only := rf.cfg.Selective, rf.cfg.Only
	switch mode {
	case "", "set":
		if len(patterns) == 0 {
			return errors.New("no patterns given (--all syncs every path, --none none)")
		}
		selective, only = true, patterns
	case "add":
		if !selective {
			return errors.New("the folder syncs every path already: give the whole selection without --add")
		}
		only = selection.Add(only, patterns)
	case "remove":
		if !selective {
			return errors.New("the folder syncs every path: there is no pattern to remove")
		}
		var err error
		if only, err = selection.Remove(only, patterns); err != nil {
			return err
		}
	case "all":
		selective, only = false, nil
	case "none":
		selective, only = true, nil
	case "show":
		return nil
	default:
		return fmt.Errorf("unknown selection mode %q", mode)
	}
	sel, err := parseSelection(rf.cfg.Path, selective, only)
	if err != nil {
		return err
	}
	if sel == nil && selective {
		sel = selection.None()
	}
	cfg := rf.cfg
	cfg.Selective, cfg.Only = selective, only
	enc, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	id := rf.key.ID()
	if err := fs.cfgKV.Put(ctx, id[:], enc); err != nil {
		return err
	}
	rf.cfg.Selective, rf.cfg.Only = selective, only
	return rf.f.Select(ctx, sel)
}

func (fs *folders) apiSelect(w http.ResponseWriter, r *http.Request) {
	var req SelectRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, err := fs.byPath(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	if err := fs.changeSelection(r.Context(), rf, req.Mode, req.Patterns); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("select in %s: %w", rf.cfg.Path, err))
		return
	}
	writeJSON(w, fs.info(r, rf))
}

func (fs *folders) apiLsRemote(w http.ResponseWriter, r *http.Request) {
	var req LsRemoteRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, rel, err := fs.locateAny(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	flt, err := rf.f.Filter()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	var recs []*index.Record
	prefix, dirFound := "", false
	if rel != "" {
		prefix = rel + "/"
		if g, err := rf.ix.Global(ctx, rel); err == nil && g != nil && !g.Deleted {
			if g.Type != index.TypeDir {
				recs = append(recs, g) // a file: itself; a directory: what it holds
			} else {
				dirFound = true
			}
		}
	}
	err = rf.ix.Globals(ctx, prefix, func(g *index.Record) error {
		if g.Deleted || (req.Depth > 0 && strings.Count(g.Path[len(prefix):], "/") >= req.Depth) {
			return nil
		}
		recs = append(recs, g)
		return nil
	})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	if rel != "" && len(recs) == 0 && !dirFound {
		httpError(w, http.StatusNotFound, fmt.Errorf("%s is not in the folder's index", rel))
		return
	}
	locals := map[string]*index.Local{}
	err = rf.ix.Locals(ctx, rel, func(p string, l *index.Local) error {
		locals[p] = l
		return nil
	})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	peers := fs.session.Peers(rf.key.ID())
	has := fs.availability(ctx, peers, recs)
	out := LsRemoteReply{Folder: rf.cfg.Path, Peers: len(peers), Entries: make([]RemoteEntry, 0, len(recs))}
	for _, g := range recs {
		e := RemoteEntry{Path: g.Path, Type: g.Type.String(), Size: g.Size, ModTime: g.Time().UTC(),
			Selected: flt.Syncs(g.Path, g.Type == index.TypeDir)}
		if c := g.Cid(); c.Defined() {
			e.Cid, e.Peers = c.String(), has[c]
		}
		if l := locals[g.Path]; l != nil && !l.Deleted {
			e.Present = true
			e.Here = !l.Changed && l.Version.Compare(g.Version) == index.Equal
		}
		out.Entries = append(out.Entries, e)
	}
	writeJSON(w, out)
}

// availability counts, per file root, the folder peers that hold it.
func (fs *folders) availability(ctx context.Context, peers []identity.NodeID, recs []*index.Record) map[cid.Cid]int {
	out := map[cid.Cid]int{}
	if len(peers) == 0 {
		return out
	}
	var roots []cid.Cid
	for _, g := range recs {
		if c := g.Cid(); c.Defined() {
			roots = append(roots, c)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	member := make(map[identity.NodeID]bool, len(peers))
	for _, p := range peers {
		member[p] = true
	}
	// Only folder peers are asked: the roots are the folder's secrets.
	got, err := fs.d.swarm.ProbeFrom(ctx, roots, func(id identity.NodeID) bool { return member[id] })
	if err != nil {
		return out
	}
	for c, ps := range got {
		for _, p := range ps {
			if member[p] {
				out[c]++
			}
		}
	}
	return out
}

func (fs *folders) apiFetch(w http.ResponseWriter, r *http.Request) {
	var req FetchRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, rel, err := fs.locateAny(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	if rel == "" {
		httpError(w, http.StatusBadRequest, fmt.Errorf("fetch names a file or directory inside %s (shoal folder select %s --all syncs all of it)", rf.cfg.Path, rf.cfg.Path))
		return
	}
	ctx := r.Context()
	reply := FetchReply{Path: filepath.Join(rf.cfg.Path, filepath.FromSlash(rel))}
	isDir, found := false, false
	if g, err := rf.ix.Global(ctx, rel); err == nil && g != nil && !g.Deleted {
		found, isDir = true, g.Type == index.TypeDir
	}
	rf.ix.Globals(ctx, rel+"/", func(g *index.Record) error {
		if !g.Deleted {
			found, isDir = true, true
		}
		return nil
	})
	if !found {
		httpError(w, http.StatusNotFound, fmt.Errorf("%s is not in the folder's index (shoal ls-remote %s lists what is)", rel, rf.cfg.Path))
		return
	}
	flt, err := rf.f.Filter()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	if flt.Ignore != nil && flt.Ignore.Ignored(rel, isDir) {
		httpError(w, http.StatusBadRequest, fmt.Errorf("%s is ignored by the folder's .shoalignore", rel))
		return
	}
	// Listen before the change, so no event of the pull is missed.
	sub := fs.bus.Subscribe(1024)
	defer sub.Close()
	if !flt.Set.Selected(rel, isDir) {
		reply.Pattern = selection.Literal(rel)
		if err := fs.changeSelection(ctx, rf, "add", []string{reply.Pattern}); err != nil {
			httpError(w, http.StatusInternalServerError, fmt.Errorf("fetch %s: %w", rel, err))
			return
		}
	} else {
		rf.f.Changed()
	}
	if err := fs.waitPulled(ctx, rf, rel, sub); err != nil {
		httpError(w, http.StatusBadGateway, fmt.Errorf("fetch %s: %w", rel, err))
		return
	}
	rf.ix.Globals(ctx, "", func(g *index.Record) error {
		if g.Type == index.TypeFile && !g.Deleted && (g.Path == rel || strings.HasPrefix(g.Path, rel+"/")) {
			reply.Files++
			reply.Bytes += g.Size
		}
		return nil
	})
	writeJSON(w, reply)
}

// waitPulled waits until nothing at or below rel is missing here, or,
// once the folder has gone idle after trying, says what could not be
// pulled. It looks again each time the folder's state changes (not at
// each file: a large subtree would cost a pass over the index each).
func (fs *folders) waitPulled(ctx context.Context, rf *runningFolder, rel string, sub *events.Sub) error {
	id := rf.key.ID().String()
	failed := map[string]string{}
	for check := true; ; {
		if check {
			miss, err := rf.f.Missing(ctx, rel)
			if err != nil {
				return err
			}
			if len(miss) == 0 {
				return nil
			}
			var parts []string
			for _, g := range miss {
				if why, ok := failed[g.Path]; ok {
					parts = append(parts, g.Path+": "+why)
				}
			}
			if len(parts) > 0 {
				return fmt.Errorf("not pulled yet (it stays selected; the folder keeps trying): %s", strings.Join(parts, "; "))
			}
			check = false
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still missing: %w", ctx.Err())
		case ev, ok := <-sub.C():
			if !ok {
				return errors.New("the daemon is stopping")
			}
			switch {
			case ev.Type == events.EventsDropped:
				check = true
			case ev.Folder != id:
			case ev.Type == events.PullError && (ev.Path == rel || strings.HasPrefix(ev.Path, rel+"/")):
				failed[ev.Path] = ev.Data
			case ev.Type == events.FolderState && strings.HasPrefix(ev.Data, "stopped"):
				return fmt.Errorf("the folder stopped: %s", ev.Data)
			case ev.Type == events.FolderState && ev.Data == "idle":
				check = true
			}
		}
	}
}
