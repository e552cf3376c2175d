package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/discovery/pex"
	"github.com/shoal-sync/shoal/discovery/rendezvous"
	"github.com/shoal-sync/shoal/discovery/tracker"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/diskfree"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/gateway"
	"github.com/shoal-sync/shoal/sync/metrics"
	"github.com/shoal-sync/shoal/sync/node"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/swarm/strategy"
	"github.com/shoal-sync/shoal/sync/transport"
)

// DefaultListen and DefaultAPI are the addresses a daemon uses when none
// is given.
const (
	DefaultListen = "0.0.0.0:4777"
	DefaultAPI    = "127.0.0.1:4778"
)

// Options configures a daemon. Home is required.
type Options struct {
	Home string
	// Listen is the TCP address for peers; the DHT uses the same port on
	// UDP. Port 0 picks a free port.
	Listen string
	// API is the HTTP API address; it must be a loopback address.
	API string
	// Peers are dialed at start and redialed with backoff when they drop.
	Peers []string
	// MaxUploadRate and MaxDownloadRate cap block payload bytes per second
	// across all peers; 0 means unlimited.
	MaxUploadRate, MaxDownloadRate int64
	// MaxPeers is the number of connected peers past which idle ones are
	// let go (down to three quarters of it); twice it, new peers are
	// refused. Peers named in Peers are always kept. Default 128.
	MaxPeers int
	// NoDHT turns the DHT node off.
	NoDHT bool
	// Bootstrap lists DHT nodes to join through; Global joins the public
	// mainline DHT (its routers are added to Bootstrap by the caller).
	Bootstrap []netip.AddrPort
	Global    bool
	// MinFree is the free space kept on the home's filesystem: writes
	// that would go below it fail with "no space left on device". Zero:
	// badgerstore.DefaultMinFree.
	MinFree diskfree.Floor
	// MemoryLimit is the soft limit on the Go heap the daemon sets
	// (debug.SetMemoryLimit): near it the collector runs more often, so
	// that bursts of short-lived garbage (a scan or sync of 100,000 files,
	// badger's table builds) do not double the process's memory. Zero:
	// DefaultMemoryLimit; negative: none. GOMEMLIMIT, when set, wins.
	MemoryLimit int64
	// MDNS advertises the node and finds peers on the LAN.
	MDNS bool
	// NoPEX turns peer exchange off: the node learns of no peers from
	// its peers (a chain of machines stays a chain).
	NoPEX bool
	// Trackers are BitTorrent tracker URLs (udp:// or http://) to
	// announce to and find peers through.
	Trackers []string
	// Folders, if set, returns the IDs of the folders this node serves
	// (set by the folder engine): their rendezvous keys are announced and
	// looked up on the DHT and announced to the trackers, and the peers
	// found are dialed (they must still prove the folder's key).
	Folders func(ctx context.Context) ([][]byte, error)
	// SharedFolders, if set, says which folders a peer proved on its
	// connection; peer exchange then runs in those folders too (set by
	// the folder engine).
	SharedFolders pex.Folders
	Version       string
	Logger        *slog.Logger
}

// Daemon is a running node.
type Daemon struct {
	opt     Options
	log     *slog.Logger
	node    *node.Node
	swarm   *swarm.Swarm
	ln      *transport.Listener
	dht     *dht.Server
	apiLn   net.Listener
	http    *http.Server
	dialer  *dialer.Dialer
	content *contentRouter // nil without a DHT
	backend *backend
	tracker *tracker.Announcer // nil without --tracker
	pex     *pex.Exchange
	rdv     *rendezvous.Rendezvous // nil without a DHT or folders
	events  *events.Bus
	folders *folders

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
	once   sync.Once
}

// ErrRunning means a daemon already runs on the home.
var ErrRunning = errors.New("a daemon already runs on this home")

// Start opens the home and starts every service. It returns once they all
// listen; Wait blocks until the daemon stops. Options are checked before
// anything is opened, and a start that fails closes what it opened and
// leaves no endpoint files behind.
func Start(ctx context.Context, opt Options) (*Daemon, error) {
	if opt.Listen == "" {
		opt.Listen = DefaultListen
	}
	if opt.API == "" {
		opt.API = DefaultAPI
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	peers, err := opt.check()
	if err != nil {
		return nil, err
	}
	if c, err := api.Connect(ctx, opt.Home); err == nil {
		return nil, fmt.Errorf("%w (%s, API on %s)", ErrRunning, opt.Home, c.Addr())
	}
	d := &Daemon{opt: opt, log: opt.Logger, errc: make(chan error, 4)}
	if err := d.start(ctx, peers); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// check validates the options that need no socket or file, so that a bad
// flag is refused before anything is opened; it returns the parsed peers.
func (opt Options) check() ([]transport.PeerAddr, error) {
	if err := checkLoopback(opt.API); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(opt.Listen); err != nil {
		return nil, fmt.Errorf("listen address %q: %w", opt.Listen, err)
	}
	peers := make([]transport.PeerAddr, 0, len(opt.Peers))
	for _, p := range opt.Peers {
		addr, err := transport.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("--peer: %w", err)
		}
		peers = append(peers, addr)
	}
	return peers, nil
}

// DefaultMemoryLimit is Options.MemoryLimit's default. A sync of
// 100,000 files keeps about 80 MiB of heap live at its peak (badger's
// table builders, most of it); with 160 MiB the heap grew to 130-140 MiB
// between collections and the process's peak RSS reached 201-205 MiB.
// At 128 MiB it peaked at 166-171 MiB with no loss of speed (2,964
// files/s against 2,760-3,415 with 160). A larger folder whose live heap
// nears the limit has the collector run more often, never a failure.
const DefaultMemoryLimit = 128 << 20

func (d *Daemon) start(ctx context.Context, peers []transport.PeerAddr) error {
	opt := d.opt
	if limit := cmp.Or(opt.MemoryLimit, DefaultMemoryLimit); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
	ctx, d.cancel = context.WithCancel(ctx)
	var err error
	if d.node, err = node.Open(opt.Home, node.Options{Logger: opt.Logger, MinFree: opt.MinFree}); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) { // badger's directory lock
			return fmt.Errorf("%w (%s: its store is in use by another shoal process)", ErrRunning, opt.Home)
		}
		return err
	}
	id := d.node.Identity()
	d.events = events.New()
	d.folders = newFolders(d, d.events)
	if d.opt.Folders == nil {
		d.opt.Folders = d.folders.ids // rendezvous and trackers find the folders' peers
	}
	if d.opt.SharedFolders == nil {
		d.opt.SharedFolders = d.folders // peer exchange within proved folders
	}
	// Daemons on this host (loopback) are not one party to bound: fifty
	// of them must all connect.
	if d.ln, err = transport.Listen(ctx, opt.Listen, id, transport.Options{TrustLoopback: true}); err != nil {
		return listenError("peers", opt.Listen, "--listen", err)
	}
	d.swarm, err = swarm.New(swarm.Options{
		Store:           d.node.Store(),
		MaxUploadRate:   opt.MaxUploadRate,
		MaxDownloadRate: opt.MaxDownloadRate,
		Self:            id.ID(),
		ListenAddrs:     []string{d.ln.Addr().String()},
		Version:         opt.Version,
		Logger:          opt.Logger.With("part", "swarm"),
		BanStore:        banStore{kv: d.node.Store().(*badgerstore.Store).KV("swarm")},
		Conns:           strategy.ConnLimits{High: opt.MaxPeers},
		Policy:          folderPolicy{pins: &swarm.PinPolicy{Store: d.node.Store()}, fs: d.folders},
		Extensions:      d.extensions(),
	})
	if err != nil {
		return err
	}
	if err := d.folders.start(ctx); err != nil {
		return err
	}
	if !opt.NoDHT {
		if err := d.startDHT(ctx); err != nil {
			return err
		}
	}
	if err := d.startDialer(ctx, peers); err != nil {
		return err
	}
	if opt.MDNS {
		d.startMDNS(ctx)
	}
	if d.dht != nil {
		d.content = d.startContentRouting(ctx)
	}
	if err := d.startAPI(ctx); err != nil {
		return err
	}
	if len(opt.Trackers) > 0 {
		if err := d.startTrackers(ctx); err != nil {
			return err
		}
	}
	if d.pex != nil {
		d.startPex(ctx)
	}
	if d.dht != nil && d.opt.Folders != nil { // d.opt: Folders was filled in above, after opt was copied
		d.startRendezvous(ctx)
	}
	d.watchFolders(ctx)
	d.goRun(func() error { return d.acceptLoop(ctx) })
	d.goRun(func() error { return d.trimWhenIdle(ctx) })
	if err := d.writeAddrs(); err != nil {
		return err
	}
	d.log.Info("daemon started", "node", id.ID(), "listen", d.ln.Addr(), "api", d.apiLn.Addr())
	return nil
}

// listenError says which listener failed and why in one line (the
// transport and net errors both repeat the address), with a hint for a
// port in use.
func listenError(what, addr, flag string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen for %s on %s: %w (another daemon? pick a free port with %s)", what, addr, err, flag)
	}
	return fmt.Errorf("listen for %s on %s: %w", what, addr, err)
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("API address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("API address %q: must be a loopback address (127.0.0.1 or ::1)", addr)
	}
	return nil
}

func (d *Daemon) goRun(fn func() error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := fn(); err != nil {
			select {
			case d.errc <- err:
			default:
			}
		}
	}()
}

func (d *Daemon) startDHT(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(d.ln.Addr().String())
	host, _, _ := net.SplitHostPort(d.opt.Listen)
	udp, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
	if err != nil {
		return listenError("the DHT", "udp "+net.JoinHostPort(host, port), "--listen or --no-dht", err)
	}
	srv, err := dht.New(dht.Config{
		Conn:      udp,
		Bootstrap: d.opt.Bootstrap,
		Public:    d.opt.Global,
		Logger:    d.log.With("part", "dht"),
		Store:     tableStore{kv: d.node.Store().(*badgerstore.Store).KV("dht")},
	})
	if err != nil {
		udp.Close()
		return fmt.Errorf("start DHT: %w", err)
	}
	d.dht = srv
	d.goRun(func() error {
		err := srv.Serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	})
	// Join through the bootstrap nodes and the nodes saved by the last run.
	d.goRun(func() error {
		err := srv.Bootstrap(ctx)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, dht.ErrNoNodes) && len(d.opt.Bootstrap) == 0:
			d.log.Info("DHT: no bootstrap nodes and no saved node answered; waiting for others to join")
		default:
			d.log.Warn("DHT bootstrap", "err", err)
		}
		return nil
	})
	return nil
}

func (d *Daemon) startAPI(ctx context.Context) error {
	token, err := api.NewToken()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.opt.API)
	if err != nil {
		return listenError("the API", d.opt.API, "--api", err)
	}
	d.apiLn = ln
	m, err := metrics.New(metrics.Options{
		Version: d.opt.Version,
		Swarm:   d.swarm,
		Store:   d.node.Store(),
		DHT:     d.dht, // nil with --no-dht: no DHT metrics
		Logger:  d.log.With("part", "metrics"),
	})
	if err != nil {
		ln.Close()
		return err
	}
	if err := m.Registry().Register(newFolderCollector(d.folders)); err != nil {
		ln.Close()
		return err
	}
	b := newBackend(d.node, d.swarm)
	d.backend = b
	b.beforeGC = d.folders.gcFirst
	b.content = d.content
	b.log = d.log.With("part", "api")
	st := d.node.Store()
	gwLog := d.log.With("part", "gateway")
	srv := api.NewServer(b, token, api.Extra{
		Gateway: gateway.New(gatewaySource{b}, gateway.Options{Logger: gwLog}),
		PublicGateway: gateway.New(publicSource{gateway.Public{
			Local:  gateway.Local{Store: st},
			Policy: &swarm.PinPolicy{Store: st},
		}}, gateway.Options{Logger: gwLog}),
		Metrics:  m,
		Info:     func(context.Context) (any, error) { return d.Info(), nil },
		Peers:    func(context.Context) (any, error) { return d.PeerInfos(), nil },
		Bans:     func(context.Context) (any, error) { return d.swarm.Bans(), nil },
		Handlers: d.handlers(),
		DHTTable: func(context.Context) (any, error) {
			if d.dht == nil {
				return nil, errors.New("this daemon runs no DHT node (--no-dht)")
			}
			return NewTableInfo(d.dht, time.Now()), nil
		},
	}, d.log.With("part", "api"))
	d.http = api.HTTPServer(srv, api.DefaultTimeouts())
	// Requests run under the daemon's context: when it stops, a get
	// waiting for peers ends at once instead of holding Shutdown for its
	// grace period.
	d.http.BaseContext = func(net.Listener) context.Context { return ctx }
	if err := api.WriteEndpoint(d.opt.Home, ln.Addr().String(), token); err != nil {
		return err
	}
	d.goRun(func() error {
		if err := d.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("API: %w", err)
		}
		return nil
	})
	return nil
}

func (d *Daemon) acceptLoop(ctx context.Context) error {
	for {
		conn, err := d.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			id, addr := conn.RemoteID(), conn.RemoteAddr()
			if err := d.swarm.AddConn(conn); err != nil {
				d.log.Info("inbound peer refused", "peer", id, "err", err)
				return
			}
			d.log.Info("peer connected", "peer", id, "addr", addr, "dir", "in")
		}()
	}
}

// AddrsFile, in the home, lists a running daemon's addresses, one a line:
// "peers NODEID@HOST:PORT", "dht HOST:PORT" and "api HOST:PORT".
const AddrsFile = "addrs"

func (d *Daemon) writeAddrs() error {
	in := d.Info()
	text := "peers " + in.Addrs[0] + "\n"
	if in.DHT != "" {
		text += "dht " + in.DHT + "\n"
	}
	text += "api " + in.API + "\n"
	path := filepath.Join(d.opt.Home, AddrsFile)
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Info is what `shoal id` prints.
type Info struct {
	ID     string   `json:"id"`
	Listen string   `json:"listen"`
	API    string   `json:"api"`
	DHT    string   `json:"dht,omitempty"`
	Addrs  []string `json:"addrs"`
}

// Info returns the daemon's identity and addresses.
func (d *Daemon) Info() Info {
	in := Info{ID: d.node.Identity().ID().String(), Listen: d.ln.Addr().String(), API: d.apiLn.Addr().String()}
	if d.dht != nil {
		in.DHT = d.dht.Addr().String()
	}
	in.Addrs = []string{in.ID + "@" + in.Listen}
	return in
}

// Peers returns the connected peers.
func (d *Daemon) Peers() []swarm.PeerStats { return d.swarm.Peers() }

// ListenAddr is the TCP address peers connect to.
func (d *Daemon) ListenAddr() net.Addr { return d.ln.Addr() }

// APIAddr is the HTTP API's address.
func (d *Daemon) APIAddr() net.Addr { return d.apiLn.Addr() }

// Node returns the daemon's node.
func (d *Daemon) Node() *node.Node { return d.node }

// Swarm returns the daemon's swarm.
func (d *Daemon) Swarm() *swarm.Swarm { return d.swarm }

// Wait blocks until ctx ends or a service fails, then closes the daemon.
func (d *Daemon) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-d.errc:
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops every service and closes the store.
func (d *Daemon) Close() error {
	var err error
	d.once.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		if d.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = d.http.Shutdown(ctx)
			cancel()
			api.RemoveEndpoint(d.opt.Home)
			os.Remove(filepath.Join(d.opt.Home, AddrsFile))
		}
		if d.ln != nil {
			d.ln.Close()
		}
		if d.folders != nil {
			d.folders.stop()
		}
		if d.swarm != nil {
			d.swarm.Close()
		}
		if d.dht != nil {
			d.dht.Close()
		}
		d.wg.Wait()
		if d.node != nil {
			err = d.node.Close()
		}
		if d.apiLn != nil { // it had started
			d.log.Info("daemon stopped", "node", d.node.Identity().ID())
		}
	})
	return err
}
