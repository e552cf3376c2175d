package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/discovery/mdns"
	"github.com/shoal-sync/shoal/discovery/pex"
	"github.com/shoal-sync/shoal/discovery/providers"
	"github.com/shoal-sync/shoal/discovery/rendezvous"
	"github.com/shoal-sync/shoal/discovery/tracker"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// startDialer starts the one dialer every discovery source feeds, fed
// the swarm's connects and drops, with the --peer addresses as static
// candidates.
func (d *Daemon) startDialer(ctx context.Context, peers []transport.PeerAddr) error {
	id := d.node.Identity()
	d.dialer = dialer.New(dialer.Options{
		Self:        id.ID(),
		Dial:        d.dialPeer,
		Store:       peerStore{kv: d.node.Store().(*badgerstore.Store).KV("peers")},
		MaxPeers:    d.opt.MaxPeers,
		BannedUntil: d.swarm.BannedUntil,
		// Its dial to us is the one the swarm keeps (inbound preferred).
		Yield:  func(peer identity.NodeID) bool { return transport.Prefer(id.ID(), peer, false) },
		Logger: d.log.With("part", "dialer"),
	})
	evs, stop := d.swarm.SubscribePeers()
	d.goRun(func() error {
		defer stop()
		for ev := range evs {
			d.dialer.Event(dialer.Event{Connected: ev.Connected, ID: ev.ID, Addr: ev.Addr, Outbound: ev.Outbound, ListenAddrs: ev.ListenAddrs})
		}
		return nil
	})
	d.goRun(func() error { return d.dialer.Run(ctx) })
	for _, addr := range peers {
		d.dialer.Add(dialer.Candidate{Addr: addr.HostPort, ID: addr.ID, Source: dialer.Static})
	}
	return nil
}

// startMDNS advertises the node on the LAN and hands the peers found
// there to the dialer, with the node ID their TXT record names as the one
// expected: a certificate of another node is refused.
func (d *Daemon) startMDNS(ctx context.Context) {
	port := d.ln.Addr().(*net.TCPAddr).Port
	udp := 0
	if d.dht != nil {
		udp = d.dht.Addr().(*net.UDPAddr).Port
	}
	d.goRun(func() error {
		return mdns.Run(ctx, mdns.Options{
			Self: d.node.Identity().ID(), Port: port, UDPPort: udp, Version: wire.ProtocolMajor,
			Found: func(p mdns.Peer) {
				cands := make([]dialer.Candidate, len(p.Addrs))
				for i, a := range p.Addrs {
					cands[i] = dialer.Candidate{Addr: a.String(), ID: p.ID, Source: dialer.MDNS, TTL: p.TTL}
				}
				d.dialer.Add(cands...)
			},
			Logger: d.log.With("part", "mdns"),
		})
	})
}

// startTrackers keeps the pins' provider keys, the roots of fetches under
// way and the folders' rendezvous keys announced to every --tracker, and
// hands the peers they return to the dialer.
func (d *Daemon) startTrackers(ctx context.Context) error {
	for _, u := range d.opt.Trackers {
		if err := tracker.CheckURL(u); err != nil {
			return err
		}
	}
	d.tracker = tracker.NewAnnouncer(tracker.AnnouncerOptions{
		URLs:   d.opt.Trackers,
		Port:   uint16(d.ln.Addr().(*net.TCPAddr).Port),
		Keys:   d.trackerKeys,
		Rescan: trackerRescan,
		Found: func(_ [20]byte, peers []netip.AddrPort, ttl time.Duration) {
			cands := make([]dialer.Candidate, len(peers))
			for i, p := range peers {
				cands[i] = dialer.Candidate{Addr: p.String(), Source: dialer.Tracker, TTL: ttl}
			}
			d.dialer.Add(cands...)
		},
		Logger: d.log.With("part", "tracker"),
	})
	d.goRun(func() error {
		d.tracker.Run(ctx)
		return nil
	})
	return nil
}

// trackerRescan is how often the keys announced to trackers are read
// again (new pins); a fetch that starts asks at once.
const trackerRescan = 5 * time.Second

// extensions are the protocols carried on the swarm's connections.
func (d *Daemon) extensions() []swarm.Extension {
	exts := []swarm.Extension{d.folders.session}
	if !d.opt.NoPEX {
		exts = append(exts, d.newPex())
	}
	return exts
}

// newPex makes the peer exchange the swarm runs on every connection.
func (d *Daemon) newPex() *pex.Exchange {
	d.pex = pex.New(pex.Options{
		Self:       d.node.Identity().ID(),
		Dialer:     pexDialer{d},
		PublicKeys: d.publicKeys,
		Folders:    d.opt.SharedFolders,
		Logger:     d.log.With("part", "pex"),
	})
	return d.pex
}

// startPex runs the exchange, and tells it and the trackers of every new
// pin and fetch at once.
func (d *Daemon) startPex(ctx context.Context) {
	d.backend.onFetch = func() {
		d.pex.Kick()
		if d.tracker != nil {
			d.tracker.Kick()
		}
	}
	d.goRun(func() error {
		d.pex.Run(ctx)
		return nil
	})
}

// pexDialer hands what peer exchange learns to the daemon's dialer.
type pexDialer struct{ d *Daemon }

func (p pexDialer) Add(c ...dialer.Candidate)        { p.d.dialer.Add(c...) }
func (p pexDialer) Remove(s dialer.Source, a string) { p.d.dialer.Remove(s, a) }

// publicKeys are the provider keys of every pin and every fetch under way.
func (d *Daemon) publicKeys(ctx context.Context) ([][20]byte, error) {
	pins, err := d.node.Store().Pins(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[[20]byte]bool)
	var keys [][20]byte
	add := func(k [20]byte) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, p := range pins {
		add(providers.Key(p.Cid))
	}
	for _, c := range d.backend.fetchingRoots() {
		add(providers.Key(c))
	}
	return keys, nil
}

// trackerKeys are the keys announced to trackers: every pin's and every
// fetch's provider key, and the folders' rendezvous keys.
func (d *Daemon) trackerKeys(ctx context.Context) ([][20]byte, error) {
	keys, err := d.publicKeys(ctx)
	if err != nil || d.opt.Folders == nil {
		return keys, err
	}
	folders, err := d.opt.Folders(ctx)
	if err != nil {
		return keys, fmt.Errorf("folders to announce: %w", err)
	}
	now := time.Now()
	for _, f := range folders {
		keys = append(keys, rendezvous.Keys(f, now)...)
	}
	return keys, nil
}

// startRendezvous keeps the folders' rendezvous keys announced and looked
// up on the DHT, and dials the peers found under them.
func (d *Daemon) startRendezvous(ctx context.Context) {
	d.rdv = rendezvous.New(rendezvous.Options{
		DHT:     d.dht,
		Folders: d.opt.Folders,
		Found: func(_ []byte, peers []netip.AddrPort) {
			cands := make([]dialer.Candidate, len(peers))
			for i, p := range peers {
				cands[i] = dialer.Candidate{Addr: p.String(), Source: dialer.DHT, TTL: rendezvousTTL}
			}
			d.dialer.Add(cands...)
		},
		Logger: d.log.With("part", "rendezvous"),
	})
	d.goRun(func() error {
		d.rdv.Run(ctx)
		return nil
	})
}

// rendezvousTTL is how long a peer found under a folder's key stays a
// candidate: two announce intervals.
const rendezvousTTL = 30 * time.Minute

// watchFolders tells discovery of the folder engine's changes as they
// happen, from its events: a folder started (its first state) has its
// rendezvous key announced and looked up and its tracker announce made at
// once, not at the next rescan; a peer that proved a folder, or stopped
// sharing one, has peer exchange send the folder's members at once, not
// on a tick.
func (d *Daemon) watchFolders(ctx context.Context) {
	sub := d.events.Subscribe(256)
	d.goRun(func() error {
		defer sub.Close()
		started := make(map[string]bool)
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-sub.C():
				switch ev.Type {
				case events.FolderState:
					if !started[ev.Folder] {
						started[ev.Folder] = true
						d.KickFolders()
					}
				case events.FolderPeer:
					if d.pex != nil {
						d.pex.FoldersChanged()
					}
				case events.EventsDropped: // what was missed may be either
					d.KickFolders()
					if d.pex != nil {
						d.pex.FoldersChanged()
					}
				}
			}
		}
	})
}

// KickFolders tells discovery that the folders changed (one added).
func (d *Daemon) KickFolders() {
	if d.rdv != nil {
		d.rdv.Kick()
	}
	if d.tracker != nil {
		d.tracker.Kick()
	}
}

// dialPeer connects to a candidate and hands the connection to the swarm.
// Static peers are protected: the swarm never lets them go as idle.
func (d *Daemon) dialPeer(ctx context.Context, a dialer.Attempt) (identity.NodeID, error) {
	conn, err := transport.Dial(ctx, transport.PeerAddr{ID: a.ID, HostPort: a.Addr}, d.node.Identity())
	if errors.Is(err, transport.ErrSelf) {
		return d.node.Identity().ID(), fmt.Errorf("%w: %w", dialer.ErrSelf, err)
	}
	if errors.Is(err, transport.ErrPeerIDMismatch) {
		d.log.Warn("refused a peer whose certificate is not the node its source named", "addr", a.Addr, "want", a.ID, "source", a.Source)
	}
	if err != nil {
		return identity.NodeID{}, err
	}
	id := conn.RemoteID()
	if a.Source == dialer.Static {
		d.swarm.Protect(id)
	}
	if err := d.swarm.AddConn(conn); err != nil && !errors.Is(err, swarm.ErrDuplicatePeer) {
		return id, err
	}
	return id, nil
}

// PeerInfo is a connected peer as `shoal peers` shows it.
type PeerInfo struct {
	swarm.PeerStats
	Source dialer.Source `json:"Source"`
}

// PeerInfos returns the connected peers with how each was found.
func (d *Daemon) PeerInfos() []PeerInfo {
	src := d.dialer.Sources()
	var out []PeerInfo
	for _, p := range d.swarm.Peers() {
		s, ok := src[p.ID]
		if !ok {
			s = dialer.Inbound
		}
		out = append(out, PeerInfo{PeerStats: p, Source: s})
	}
	return out
}

// PeerAddRequest is the body of /api/v0/peers/add and /api/v0/peers/rm.
type PeerAddRequest struct {
	Addr string `json:"addr"`
}

// handlers are the daemon's API endpoints beyond api.Extra's own: the
// folders' and discovery's.
func (d *Daemon) handlers() map[string]http.HandlerFunc {
	h := d.folders.handlers()
	for route, fn := range d.folders.selectHandlers() {
		h[route] = fn
	}
	h["POST /api/v0/peers/candidates"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, d.dialer.Candidates())
	}
	h["POST /api/v0/peers/add"] = d.apiPeerEdit(func(ctx context.Context, a transport.PeerAddr) error {
		if d.isOwnAddr(a.HostPort) || a.ID == d.node.Identity().ID() {
			return fmt.Errorf("%s is this node's own address", a.HostPort)
		}
		return d.dialer.AddStatic(ctx, a.HostPort, a.ID)
	})
	h["POST /api/v0/peers/rm"] = d.apiPeerEdit(func(ctx context.Context, a transport.PeerAddr) error {
		return d.dialer.RemoveStatic(ctx, a.HostPort)
	})
	return h
}

// isOwnAddr reports whether hostport is where this node listens: its
// port, at the address it listens on or, listening on all, at a loopback
// address or one of this host's.
func (d *Daemon) isOwnAddr(hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	ln, ok := d.ln.Addr().(*net.TCPAddr)
	if err != nil || !ok || int(ap.Port()) != ln.Port {
		return false
	}
	ip := ap.Addr().Unmap()
	if lip, ok := netip.AddrFromSlice(ln.IP); ok && !lip.Unmap().IsUnspecified() {
		return ip == lip.Unmap()
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if hip, ok := netip.AddrFromSlice(n.IP); ok && hip.Unmap() == ip.WithZone("") {
				return true
			}
		}
	}
	return false
}

// apiPeerEdit serves peers/add and peers/rm.
func (d *Daemon) apiPeerEdit(fn func(context.Context, transport.PeerAddr) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req PeerAddRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("bad request: %w", err))
			return
		}
		a, err := transport.ParseAddr(req.Addr)
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		if err := fn(r.Context(), a); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, struct{}{})
	}
}

// peerStore keeps the dialer's addresses in the node's database, one key
// an address.
type peerStore struct {
	kv *badgerstore.KV
}

func (s peerStore) LoadPeers(ctx context.Context) ([]dialer.Record, error) {
	var out []dialer.Record
	err := s.kv.Iterate(ctx, nil, func(k, v []byte) error {
		var r dialer.Record
		if err := json.Unmarshal(v, &r); err != nil || r.Addr != string(k) {
			return nil // a record we cannot read is skipped, not fatal
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load peers: %w", err)
	}
	return out, nil
}

func (s peerStore) SavePeer(ctx context.Context, r dialer.Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.kv.Put(ctx, []byte(r.Addr), v); err != nil {
		return fmt.Errorf("save peer %s: %w", r.Addr, err)
	}
	return nil
}

func (s peerStore) DeletePeer(ctx context.Context, addr string) error {
	if err := s.kv.Delete(ctx, []byte(addr)); err != nil {
		return fmt.Errorf("forget peer %s: %w", addr, err)
	}
	return nil
}
