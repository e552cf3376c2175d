package daemon

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shoal-sync/shoal/sync/folder/history"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/session"
	"github.com/shoal-sync/shoal/sync/identity"
)

// HistoryRequest asks for the versions of a file, or restores one.
type HistoryRequest struct {
	Path    string `json:"path"`              // the file, absolute
	Version int    `json:"version,omitempty"` // restore: 1 is the oldest kept
	At      string `json:"at,omitempty"`      // restore: the version current at this RFC 3339 time
	Out     string `json:"out,omitempty"`     // restore there instead of into the folder
	DryRun  bool   `json:"dry_run,omitempty"` // a tree restore: list what would change
}

// TreeChange is one path a tree restore changes.
type TreeChange struct {
	Path   string `json:"path"`
	Action string `json:"action"` // "restore" (a version comes back) or "remove" (it did not exist then)
	Size   int64  `json:"size,omitempty"`
}

// restoreTree restores every path under rel (a directory, "" the whole
// folder) to what it was at the time req.At names.
func (fs *folders) restoreTree(w http.ResponseWriter, r *http.Request, rf *runningFolder, rel string, req HistoryRequest) {
	if req.At == "" || req.Version != 0 || req.Out != "" {
		httpError(w, http.StatusBadRequest, fmt.Errorf("a directory is restored with --at TIME (no --version, no -o)"))
		return
	}
	ctx := r.Context()
	prefix := rel
	if prefix != "" {
		prefix += "/"
	}
	paths := map[string]bool{}
	err := rf.ix.Globals(ctx, prefix, func(g *index.Record) error { paths[g.Path] = true; return nil })
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	want := map[string]*index.Record{}
	var changes []TreeChange
	now := time.Now()
	existed := false // some path had a version then
	var oldest time.Time
	for p := range paths {
		recs, err := rf.ix.History(ctx, p)
		if err != nil {
			httpError(w, http.StatusInternalServerError, err)
			return
		}
		vs := make([]Version, len(recs)) // times are all a pick needs
		for i, r := range recs {
			vs[i].Time = r.Time().UTC()
		}
		cur, _ := rf.ix.Global(ctx, p)
		i, err := pickVersion(vs, 0, req.At, now)
		var then *index.Record
		if len(vs) > 0 && (oldest.IsZero() || vs[0].Time.Before(oldest)) {
			oldest = vs[0].Time
		}
		switch {
		case err == nil:
			then = recs[i]
			existed = existed || !then.Deleted
		case strings.Contains(err.Error(), "oldest known"):
			// The path did not exist then.
		default:
			httpError(w, http.StatusBadRequest, err)
			return
		}
		if cur == nil || cur.Type == index.TypeDir || then != nil && then.Type == index.TypeDir {
			continue // directories come back with their files
		}
		switch {
		case then == nil || then.Deleted:
			if !cur.Deleted {
				want[p] = nil
				changes = append(changes, TreeChange{Path: p, Action: "remove"})
			}
		case cur.Deleted || !then.SameContent(cur):
			want[p] = then
			changes = append(changes, TreeChange{Path: p, Action: "restore", Size: then.Size})
		}
	}
	if !existed {
		httpError(w, http.StatusBadRequest, fmt.Errorf("%s held nothing at %s that the index knows of (the oldest version known is from %s): nothing to restore",
			req.Path, req.At, oldest.Format(time.RFC3339)))
		return
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	if !req.DryRun && len(want) > 0 {
		if err := rf.f.RestoreTree(ctx, want); err != nil {
			httpError(w, http.StatusBadGateway, fmt.Errorf("restore %s: %w", req.Path, err))
			return
		}
	}
	if changes == nil {
		changes = []TreeChange{}
	}
	writeJSON(w, changes)
}

// Version is one version of a file, for `shoal history`.
type Version struct {
	Version int       `json:"version"`
	Time    time.Time `json:"time"`
	Size    int64     `json:"size"`
	Device  string    `json:"device"`
	Cid     string    `json:"cid,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
	Current bool      `json:"current,omitempty"`
	Here    bool      `json:"here"`  // this machine keeps it whole (the file, or a kept version)
	Peers   int       `json:"peers"` // how many of the folder's peers connected now do
}

// locate finds the folder holding the file at abs and its path in it.
func (fs *folders) locate(p string) (*runningFolder, string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, "", err
	}
	for _, rf := range fs.list() {
		if rel, err := filepath.Rel(rf.cfg.Path, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			rel = filepath.ToSlash(rel)
			if err := index.ValidatePath(rel); err != nil {
				return nil, "", err
			}
			return rf, rel, nil
		}
	}
	return nil, "", fmt.Errorf("%s is not inside a shared folder (shoal folders lists them)", p)
}

// peerAskTimeout bounds how long history waits for peers to say which
// versions they hold.
const peerAskTimeout = 3 * time.Second

// versions lists the versions of rel the index knows, oldest first, and
// whether each is here; with ask, also how many connected peers hold it.
func (fs *folders) versions(ctx context.Context, rf *runningFolder, rel string, ask bool) ([]Version, []*index.Record, error) {
	recs, err := rf.ix.History(ctx, rel)
	if err != nil {
		return nil, nil, err
	}
	cur, _ := rf.ix.Global(ctx, rel)
	here, err := heldRoots(ctx, rf, rel)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Version, len(recs))
	var roots [][]byte
	var at []int
	seen := map[string]int{}
	for i, r := range recs {
		v := Version{Version: i + 1, Time: r.Time().UTC(), Size: r.Size, Device: fmt.Sprintf("%016x", r.Origin)[:7],
			Deleted: r.Deleted, Current: cur != nil && r.Origin == cur.Origin && r.Seq == cur.Seq}
		if c := r.Cid(); c.Defined() {
			v.Cid = c.String()
			v.Here = here[string(r.Root)]
			if j, ok := seen[string(r.Root)]; ok {
				at = append(at, j)
			} else {
				seen[string(r.Root)] = len(roots)
				at = append(at, len(roots))
				roots = append(roots, r.Root)
			}
		} else {
			at = append(at, -1)
		}
		out[i] = v
	}
	if ask && len(roots) > 0 {
		actx, cancel := context.WithTimeout(ctx, peerAskTimeout)
		counts := fs.session.AskVersions(actx, rf.key.ID(), rel, roots)
		cancel()
		for i := range out {
			if at[i] >= 0 {
				out[i].Peers = counts[at[i]]
			}
		}
	}
	return out, recs, nil
}

// heldRoots returns the content roots of rel this machine holds whole:
// the file on disk (as last scanned or pulled) and the versions it keeps.
func heldRoots(ctx context.Context, rf *runningFolder, rel string) (map[string]bool, error) {
	out := map[string]bool{}
	if l, err := rf.ix.Local(ctx, rel); err != nil {
		return nil, err
	} else if l != nil && !l.Deleted && l.Type == index.TypeFile && !l.Changed {
		out[string(l.Root)] = true
	}
	err := rf.ix.KeptVersions(ctx, rel, false, func(k index.Kept) error {
		if len(k.Root) > 0 {
			out[string(k.Root)] = true
		}
		return nil
	})
	return out, err
}

// HeldVersions answers a peer's version query (the session has checked
// that it proved the folder): which of roots, versions of path, are kept
// here whole.
func (fs *folders) HeldVersions(ctx context.Context, f identity.FolderID, path string, roots [][]byte) []bool {
	out := make([]bool, len(roots))
	rf := fs.get(f)
	if rf == nil || index.ValidatePath(path) != nil {
		return out
	}
	here, err := heldRoots(ctx, rf, path)
	if err != nil {
		return out
	}
	for i, r := range roots {
		out[i] = here[string(r)]
	}
	return out
}

func (fs *folders) apiHistory(w http.ResponseWriter, r *http.Request) {
	var req HistoryRequest
	if !readJSON(w, r, &req) {
		return
	}
	rf, rel, err := fs.locate(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	vs, _, err := fs.versions(r.Context(), rf, rel, true)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	if len(vs) == 0 {
		httpError(w, http.StatusNotFound, fmt.Errorf("%s: the folder has no record of it", req.Path))
		return
	}
	writeJSON(w, vs)
}

func (fs *folders) apiRestore(w http.ResponseWriter, r *http.Request) {
	var req HistoryRequest
	if !readJSON(w, r, &req) {
		return
	}
	if rf, err := fs.byPath(req.Path); err == nil {
		fs.restoreTree(w, r, rf, "", req)
		return
	}
	rf, rel, err := fs.locate(req.Path)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	if g, _ := rf.ix.Global(r.Context(), rel); g != nil && g.Type == index.TypeDir {
		fs.restoreTree(w, r, rf, rel, req)
		return
	}
	vs, recs, err := fs.versions(r.Context(), rf, rel, false)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	pick, err := pickVersion(vs, req.Version, req.At, time.Now())
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("%s: %w", req.Path, err))
		return
	}
	rec := recs[pick]
	if rec.Deleted || rec.Type != index.TypeFile {
		httpError(w, http.StatusBadRequest, fmt.Errorf("%s: version %d is not a file (deleted, or a %s)", req.Path, pick+1, rec.Type))
		return
	}
	if err := rf.f.Restore(r.Context(), rec, req.Out); err != nil {
		httpError(w, http.StatusBadGateway, fmt.Errorf("restore %s version %d: %w", req.Path, pick+1, err))
		return
	}
	writeJSON(w, vs[pick])
}

// pickVersion chooses among vs (oldest first) by number, or the last one
// at or before at (RFC 3339, or a duration back from now such as 2h).
func pickVersion(vs []Version, n int, at string, now time.Time) (int, error) {
	switch {
	case len(vs) == 0:
		return 0, fmt.Errorf("no versions known")
	case n != 0 && at != "":
		return 0, fmt.Errorf("give --version or --at, not both")
	case n != 0:
		if n < 1 || n > len(vs) {
			return 0, fmt.Errorf("no version %d: versions 1 to %d are known", n, len(vs))
		}
		return n - 1, nil
	case at != "":
		t, err := parseAt(at, now)
		if err != nil {
			return 0, err
		}
		best := -1
		for i, v := range vs {
			if !v.Time.After(t) {
				best = i
			}
		}
		if best < 0 {
			return 0, fmt.Errorf("no version at %s: the oldest known is from %s", t.Format(time.RFC3339), vs[0].Time.Format(time.RFC3339))
		}
		return best, nil
	}
	return 0, fmt.Errorf("give --version N or --at TIME (shoal history lists the versions)")
}

// parseAt reads --at: an RFC 3339 time, or a duration back from now
// (2h, 3d); a time in the future is refused.
func parseAt(at string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		d, derr := history.ParseAge(at)
		if derr != nil || d < 0 || at == "0" {
			return time.Time{}, fmt.Errorf("--at %q: want an RFC 3339 time (2026-12-01T09:30:00Z) or a duration back from now (2h, 3d)", at)
		}
		t = now.Add(-d)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--at %s is in the future", t.Format(time.RFC3339))
	}
	return t, nil
}

// The folders answer peers' version queries.
var _ session.VersionHolder = (*folders)(nil)
