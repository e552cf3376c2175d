package daemon

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/diskfree"
	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/history"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/session"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/swarm/walk"
	"github.com/shoal-sync/shoal/sync/wire"
)

// folderFloor is the free space kept on a folder's disk.
func folderFloor() diskfree.Floor { return diskfree.Floor{Percent: diskfree.DefaultPercent} }

// folderConfig is a folder as the daemon remembers it across restarts.
type folderConfig struct {
	Path  string    `json:"path"`
	Key   string    `json:"key"` // the printed key: a secret, kept in the home like the node key
	Added time.Time `json:"added"`
	// History is the folder's versioning and retention (folders_retain.go).
	History history.Settings `json:"history,omitzero"`
	// Selective: only the paths Only selects are synced (folders_select.go).
	Selective bool     `json:"selective,omitempty"`
	Only      []string `json:"only,omitempty"`
}

// runningFolder is one folder the daemon syncs.
type runningFolder struct {
	cfg    folderConfig
	key    identity.FolderKey
	ix     *index.Index
	f      *folder.Folder
	cancel context.CancelFunc
	done   chan struct{}

	pol atomic.Pointer[history.Policy] // parsed from settings

	mu       sync.Mutex
	peers    map[identity.NodeID]bool
	settings history.Settings // as last set
	selMu    sync.Mutex       // one selection or settings change at a time

	blocks  knownBlocks   // blocks the index said are the folder's
	sources swarm.Sources // peers that sent this folder's pulls blocks lately
}

// folders is the daemon's set of folders: the session's Model, and the
// swarm policy that serves folder blocks to peers that proved the folder.
type folders struct {
	d       *Daemon
	log     *slog.Logger
	cfgKV   *badgerstore.KV
	session *session.Session
	bus     *events.Bus
	ctx     context.Context

	mu sync.Mutex
	m  map[identity.FolderID]*runningFolder
}

func newFolders(d *Daemon, bus *events.Bus) *folders {
	st := d.node.Store().(*badgerstore.Store)
	fs := &folders{d: d, log: d.log.With("part", "folders"), cfgKV: st.KV("folders"), bus: bus,
		m: make(map[identity.FolderID]*runningFolder)}
	fs.session = session.New(session.Options{Self: d.node.Identity().ID(), Model: fs, Logger: fs.log})
	return fs
}

// deviceID is this node's short device ID in version vectors.
func deviceID(id identity.NodeID) uint64 {
	b := id.Bytes()
	v := binary.BigEndian.Uint64(b[len(b)-8:])
	if v == 0 {
		v = 1
	}
	return v
}

// start runs the folders remembered in the store.
func (fs *folders) start(ctx context.Context) error {
	fs.ctx = ctx
	var cfgs []folderConfig
	err := fs.cfgKV.Iterate(ctx, nil, func(_, v []byte) error {
		var c folderConfig
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		cfgs = append(cfgs, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read folder list: %w", err)
	}
	for _, c := range cfgs {
		k, err := identity.ParseFolderKey(c.Key)
		if err != nil {
			fs.log.Warn("skipping a remembered folder", "path", c.Path, "err", err)
			continue
		}
		if _, err := fs.run(c, k); err != nil {
			fs.log.Warn("folder", "path", c.Path, "err", err)
		}
	}
	fs.d.node.Store().AddRoots("folders", fs.roots)
	fs.d.goRun(func() error { return fs.session.Run(ctx) })
	fs.d.goRun(func() error { return fs.retainLoop(ctx) })
	return nil
}

func (fs *folders) roots(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	for _, rf := range fs.list() {
		rs, err := rf.ix.Roots(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func (fs *folders) list() []*runningFolder {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]*runningFolder, 0, len(fs.m))
	for _, rf := range fs.m {
		out = append(out, rf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cfg.Path < out[j].cfg.Path })
	return out
}

// running appends the running folders to dst, in no order: for the
// block policy, which asks for every block served (list sorts, for output).
func (fs *folders) running(dst []*runningFolder) []*runningFolder {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, rf := range fs.m {
		dst = append(dst, rf)
	}
	return dst
}

func (fs *folders) get(id identity.FolderID) *runningFolder {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[id]
}

func (fs *folders) byPath(path string) (*runningFolder, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	for _, rf := range fs.list() {
		if rf.cfg.Path == abs {
			return rf, nil
		}
	}
	return nil, fmt.Errorf("%s is not a shared folder (shoal folders lists them)", path)
}

// add starts syncing key's folder at path and remembers it; with only,
// just the paths those patterns select.
func (fs *folders) add(path string, key identity.FolderKey, only ...string) (*runningFolder, error) {
	return fs.addWith(path, key, nil, only...)
}

// addWith is add with the folder's versioning and retention settings
// (key=value words).
func (fs *folders) addWith(path string, key identity.FolderKey, settings []string, only ...string) (*runningFolder, error) {
	var hs history.Settings
	if err := hs.SetWords(settings); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	for _, rf := range fs.list() {
		switch {
		case rf.key.ID() == key.ID() && rf.cfg.Path == abs && rf.key.Writable() == key.Writable():
			if len(only) > 0 && !slices.Equal(only, rf.f.Selection().Patterns()) {
				return nil, fmt.Errorf("%s is joined already: shoal folder select changes what it syncs", abs)
			}
			return rf, nil // joined already: a foreground join run again
		case rf.key.ID() == key.ID():
			return nil, fmt.Errorf("this daemon syncs that folder already, at %s", rf.cfg.Path)
		case rf.cfg.Path == abs:
			return nil, fmt.Errorf("%s is shared already (folder %s)", abs, rf.key.ID().String()[:8])
		case strings.HasPrefix(abs, rf.cfg.Path+string(filepath.Separator)) || strings.HasPrefix(rf.cfg.Path, abs+string(filepath.Separator)):
			return nil, fmt.Errorf("%s and the shared folder %s would overlap", abs, rf.cfg.Path)
		}
	}
	if info, err := os.Stat(abs); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", abs)
	}
	if _, err := parseSelection(abs, len(only) > 0, only); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	if err := folder.Init(abs); err != nil {
		return nil, fmt.Errorf("create the folder marker in %s: %w", abs, err)
	}
	cfg := folderConfig{Path: abs, Key: key.Text(), Added: time.Now().UTC(), History: hs, Selective: len(only) > 0, Only: only}
	enc, _ := json.Marshal(cfg)
	id := key.ID()
	if err := fs.cfgKV.Put(context.Background(), id[:], enc); err != nil {
		return nil, err
	}
	rf, err := fs.run(cfg, key)
	if err != nil {
		return nil, err
	}
	fs.session.AddFolder(key.RO())
	return rf, nil
}

func (fs *folders) run(cfg folderConfig, key identity.FolderKey) (*runningFolder, error) {
	st := fs.d.node.Store()
	id := key.ID()
	opt := index.Options{
		KV:     st.(*badgerstore.Store).KV("folder:" + id.String()),
		Folder: id,
		Pub:    key.SigningPublicKey(),
		Device: deviceID(fs.d.node.Identity().ID()),
		Wins:   conflict.Wins,
	}
	if rw, ok := key.RW(); ok {
		opt.Key = rw.SigningKey()
	}
	ix, err := index.Open(opt)
	if err != nil {
		return nil, err
	}
	rf := &runningFolder{cfg: cfg, key: key, ix: ix, peers: make(map[identity.NodeID]bool), done: make(chan struct{}), settings: cfg.History}
	pol := fs.policyOf(cfg)
	rf.pol.Store(&pol)
	ix.SetRetention(pol.Versions, pol.MaxAge)
	sel, err := parseSelection(cfg.Path, cfg.Selective, cfg.Only)
	if err != nil {
		return nil, err
	}
	rf.f, err = folder.New(folder.Options{
		Key: key, Root: cfg.Path, Store: st, Index: ix, Fetch: fetcher{sw: fs.d.swarm, st: st, peers: fs.sharing(id), sources: &rf.sources}, Device: fs.d.node.Identity().ID(),
		Push: func(recs []index.Signed) {
			fs.session.Push(id, toWire(recs))
			fs.d.swarm.ServableChanged() // the new files' blocks may be what peers asked for
		},
		Servable: fs.d.swarm.ServableChanged,
		Events:   fs.bus,
		// Syncthing's minDiskFree for the folder's disk: a pull that would
		// go below it stops cleanly and is tried again later.
		Space:   func(n int64) error { return diskfree.Check(cfg.Path, uint64(max(n, 0)), folderFloor()) },
		Select:  sel,
		History: rf.policy,
		Logger:  fs.log.With("path", cfg.Path),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(fs.ctx)
	rf.cancel = cancel
	fs.mu.Lock()
	fs.m[id] = rf
	fs.mu.Unlock()
	go func() {
		defer close(rf.done)
		rf.f.Run(ctx)
	}()
	fs.log.Info("folder started", "path", cfg.Path, "folder", id.String()[:8], "writable", key.Writable())
	return rf, nil
}

// leave stops syncing the folder at path; its files stay.
func (fs *folders) leave(path string) error {
	rf, err := fs.byPath(path)
	if err != nil {
		return err
	}
	id := rf.key.ID()
	rf.cancel()
	<-rf.done
	fs.session.RemoveFolder(id)
	fs.mu.Lock()
	delete(fs.m, id)
	fs.mu.Unlock()
	return fs.cfgKV.Delete(context.Background(), id[:])
}

func (fs *folders) stop() {
	for _, rf := range fs.list() {
		rf.cancel()
		<-rf.done
	}
}

// ids returns the IDs of the folders synced, for their rendezvous keys.
func (fs *folders) ids(context.Context) ([][]byte, error) {
	var out [][]byte
	for _, rf := range fs.list() {
		id := rf.key.ID()
		out = append(out, id[:])
	}
	return out, nil
}

// SharedFolders returns the folders peer proved on its connection and we
// hold: peer exchange runs in them.
func (fs *folders) SharedFolders(peer identity.NodeID) [][]byte {
	var out [][]byte
	for _, rf := range fs.list() {
		if id := rf.key.ID(); fs.session.Shares(peer, id) {
			out = append(out, id[:])
		}
	}
	return out
}

// fetcher fetches a folder's blocks through the swarm, asking only the
// peers that proved the folder: its CIDs never reach anyone else.
type fetcher struct {
	sw      *swarm.Swarm
	st      walk.Getter // the node store, looked in first
	peers   func(identity.NodeID) bool
	sources *swarm.Sources // shared by the folder's pulls, one per file
}

func (f fetcher) Fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error {
	return fetchDAG(ctx, f.sw, f.st, root, sink, swarm.FetchOptions{Peers: f.peers, Sources: f.sources})
}

// sharing admits the peers that proved folder id on a connection now.
func (fs *folders) sharing(id identity.FolderID) func(identity.NodeID) bool {
	return func(peer identity.NodeID) bool { return fs.session.Shares(peer, id) }
}

func toWire(recs []index.Signed) []wire.SignedRecord {
	out := make([]wire.SignedRecord, len(recs))
	for i, r := range recs {
		out[i] = wire.SignedRecord{Data: r.Data, Sig: r.Sig}
	}
	return out
}

// The session's Model.

func (fs *folders) Keys() []identity.ROKey {
	var out []identity.ROKey
	for _, rf := range fs.list() {
		out = append(out, rf.key.RO())
	}
	return out
}

func (fs *folders) Summary(ctx context.Context, f identity.FolderID) ([]wire.Mark, error) {
	rf := fs.get(f)
	if rf == nil {
		return nil, errors.New("no such folder")
	}
	ms, err := rf.ix.Marks(ctx)
	out := make([]wire.Mark, len(ms))
	for i, m := range ms {
		out[i] = wire.Mark{Origin: m.Origin, Seq: m.Seq}
	}
	return out, err
}

func (fs *folders) Since(ctx context.Context, f identity.FolderID, theirs []wire.Mark, fn func(wire.SignedRecord) error) ([]wire.Mark, error) {
	rf := fs.get(f)
	if rf == nil {
		return nil, errors.New("no such folder")
	}
	ms := make([]index.Mark, len(theirs))
	for i, m := range theirs {
		ms[i] = index.Mark{Origin: m.Origin, Seq: m.Seq}
	}
	complete, err := rf.ix.Since(ctx, ms, func(s index.Signed) error { return fn(wire.SignedRecord{Data: s.Data, Sig: s.Sig}) })
	out := make([]wire.Mark, len(complete))
	for i, m := range complete {
		out[i] = wire.Mark{Origin: m.Origin, Seq: m.Seq}
	}
	return out, err
}

func (fs *folders) Records(ctx context.Context, peer identity.NodeID, f identity.FolderID, recs []wire.SignedRecord, complete []wire.Mark) error {
	rf := fs.get(f)
	if rf == nil {
		return nil
	}
	in := make([]index.Signed, len(recs))
	for i, r := range recs {
		in[i] = index.Signed{Data: r.Data, Sig: r.Sig}
	}
	var ms []index.Mark
	for _, m := range complete {
		ms = append(ms, index.Mark{Origin: m.Origin, Seq: m.Seq})
	}
	applied, bad, err := rf.ix.ApplyRemote(ctx, in, ms, fs.log.With("peer", peer.Short()))
	if err != nil {
		return fmt.Errorf("store records: %w", err)
	}
	if bad > 0 {
		fs.log.Warn("peer sent records that do not verify", "peer", peer.Short(), "bad", bad)
		if bad == len(recs) && bad > 16 {
			return fmt.Errorf("%w: %d records that do not verify", wire.ErrMalformed, bad)
		}
	}
	if len(applied) > 0 {
		// Blocks the folder's pulls wait for come behind the index on
		// the connection. Only new records count: a peer replaying old
		// ones does not hold back the pulls' stall checks.
		rf.f.Receiving()
		// Relay what is new to our other peers at once: the rumour
		// spreads to peers the author never meets.
		fwd := make([]wire.SignedRecord, len(applied))
		for i, a := range applied {
			fwd[i] = wire.SignedRecord{Data: a.Signed.Data, Sig: a.Signed.Sig}
		}
		fs.session.Relay(ctx, f, fwd, peer)
		rf.f.Changed()
	}
	return nil
}

func (fs *folders) PeerChanged(f identity.FolderID, peer identity.NodeID, up bool) {
	rf := fs.get(f)
	if rf == nil {
		return
	}
	rf.mu.Lock()
	if up {
		rf.peers[peer] = true
	} else {
		delete(rf.peers, peer)
	}
	rf.mu.Unlock()
	fs.d.swarm.PeersChanged() // folder fetches ask this peer from now on, or no more
	state := "down"
	if up {
		state = "up"
		rf.f.Changed() // a new peer may have what we need
		// Blocks this peer was told we lack before it proved the folder
		// are servable to it now: the swarm tells it so (have).
		fs.d.swarm.ServableChanged()
	}
	fs.bus.Publish(events.Event{Type: events.FolderPeer, Folder: f.String(), Peer: peer.String(), Data: state})
}

// folderPolicy serves a block to a peer when a pin makes it public or it
// belongs to a folder the peer proved on its connection.
type folderPolicy struct {
	pins swarm.Policy
	fs   *folders
}

func (p folderPolicy) MayServe(ctx context.Context, peer identity.NodeID, c cid.Cid) bool {
	if p.pins.MayServe(ctx, peer, c) {
		return true
	}
	mh := c.Hash()
	var buf [4]*runningFolder
	for _, rf := range p.fs.running(buf[:0]) {
		if !p.fs.session.Shares(peer, rf.key.ID()) {
			continue
		}
		known := rf.blocks.has(mh)
		if !known && rf.ix.HasBlock(ctx, mh) {
			rf.blocks.add(mh)
			known = true
		}
		if known {
			if c.Type() == unixfs.CodecDagPB {
				// Known from its parent's links, or from the index:
				// its own links are the folder's too.
				rf.blocks.addLinks(ctx, p.fs.d.node.Store(), c)
			}
			return true
		}
	}
	return false
}
