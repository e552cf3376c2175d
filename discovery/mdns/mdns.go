package mdns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Peer is a node found on the LAN.
type Peer struct {
	ID    identity.NodeID
	Addrs []netip.AddrPort // TCP addresses, best first (IPv4, global IPv6, link-local)
	UDP   int              // its DHT port, 0 if none
	TTL   time.Duration    // how long the answer holds without being seen again
}

// Options configure Run. Self and Port are required.
type Options struct {
	Self    identity.NodeID
	Port    int // TCP port peers connect to
	UDPPort int // DHT port, 0 if none
	Version int // protocol major version, advertised and required of peers
	// Found is called for every answer of another shoal node, each time
	// it is seen (at least once a Round while it answers).
	Found func(Peer)
	// Round is how often the browse starts afresh, asking again. Default 15 s.
	Round time.Duration
	// Interfaces returns the interfaces to use. Default: every interface
	// that is up, multicast-capable, not loopback, with an address.
	Interfaces func() ([]net.Interface, error)
	Logger     *slog.Logger
}

// maxTTL caps how long an answer holds: the A/AAAA records' 120 s (RFC
// 6762 §10), shorter than the library's 3200 s for the service records,
// since every live peer is seen again each Round.
const maxTTL = 120 * time.Second

// maxSeen bounds the peers found on the LAN at once: anyone there can
// answer, and a flood of made-up services must not fill the dialer's
// table (mDNS candidates get in even when it is full) nor the log.
const maxSeen = 256

// Run advertises the node and browses until ctx ends.
func Run(ctx context.Context, opt Options) error {
	if opt.Round <= 0 {
		opt.Round = 15 * time.Second
	}
	if opt.Interfaces == nil {
		opt.Interfaces = Suitable
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Found == nil {
		opt.Found = func(Peer) {}
	}
	r := &runner{opt: opt, log: opt.Logger, seen: make(map[identity.NodeID]time.Time)}
	defer r.unregister()
	for ctx.Err() == nil {
		ifaces, err := opt.Interfaces()
		if err != nil || len(ifaces) == 0 {
			if r.ifaceKey != "none" {
				r.log.Info("mDNS: no suitable network interface; waiting for one", "err", err)
			}
			r.unregister()
			r.ifaceKey = "none"
			if !sleep(ctx, opt.Round) {
				return nil
			}
			continue
		}
		r.advertise(ifaces)
		r.browse(ctx, ifaces)
	}
	return nil
}

type runner struct {
	opt      Options
	log      *slog.Logger
	server   *zeroconf.Server
	ifaceKey string // interfaces and addresses the server was registered with
	seen     map[identity.NodeID]time.Time
	ignored  map[string]int // answers ignored (malformed, past maxSeen), by why
}

// ignore logs an answer ignored: of each kind the first, then one in a
// thousand.
func (r *runner) ignore(msg string, args ...any) {
	if r.ignored == nil {
		r.ignored = make(map[string]int)
	}
	if r.ignored[msg]++; r.ignored[msg]%1000 == 1 {
		r.log.Info(msg, append(args, "ignored so far", r.ignored[msg])...)
	}
}

// advertise (re)registers the service when the interfaces or their
// addresses changed.
func (r *runner) advertise(ifaces []net.Interface) {
	ips := ifaceIPs(ifaces)
	key := fmt.Sprint(names(ifaces), ips)
	if r.server != nil && key == r.ifaceKey {
		return
	}
	r.unregister()
	r.ifaceKey = key
	id := r.opt.Self.String()
	rec := Record{ID: r.opt.Self, TCPPort: r.opt.Port, UDPPort: r.opt.UDPPort, Version: r.opt.Version}
	// RegisterProxy with the addresses named: Register fills them from
	// the interface a query came in on, and sends none when it cannot
	// tell which (the answer is then useless).
	host := "shoal-" + id[len(id)-16:]
	srv, err := zeroconf.RegisterProxy(id, Service, "local.", r.opt.Port, host, ips, rec.Text(), ifaces)
	if err != nil {
		r.log.Warn("mDNS: advertise", "err", err, "interfaces", names(ifaces))
		return
	}
	r.server = srv
	r.log.Info("mDNS: advertising", "service", Service, "interfaces", names(ifaces), "addrs", ips)
}

func (r *runner) unregister() {
	if r.server != nil {
		r.server.Shutdown()
		r.server = nil
	}
}

// browse runs one round: a fresh browse (which queries at once) that
// reports every answer until the round ends.
func (r *runner) browse(ctx context.Context, ifaces []net.Interface) {
	rctx, cancel := context.WithTimeout(ctx, r.opt.Round)
	defer cancel()
	res, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifaces))
	if err != nil {
		r.log.Warn("mDNS: browse", "err", err)
		sleep(rctx, r.opt.Round)
		return
	}
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := res.Browse(rctx, Service, "local.", entries); err != nil {
		r.log.Warn("mDNS: browse", "err", err)
		sleep(rctx, r.opt.Round)
		return
	}
	zifs := zoneIfaces(ifaces)
	for e := range entries { // closed when rctx ends
		r.entry(e, zifs)
	}
}

// entry handles one answer: malformed ones and our own are dropped.
func (r *runner) entry(e *zeroconf.ServiceEntry, ifaces []Iface) {
	rec, err := ParseText(e.Text)
	if err != nil {
		r.ignore("mDNS: ignored an answer", "instance", e.Instance, "err", err)
		return
	}
	if rec.ID == r.opt.Self {
		return
	}
	if rec.Version != r.opt.Version {
		r.ignore("mDNS: ignored a peer of another protocol version", "peer", rec.ID, "version", rec.Version)
		return
	}
	addrs := Addrs(slices.Concat(e.AddrIPv4, e.AddrIPv6), rec.TCPPort, ifaces)
	if len(addrs) == 0 {
		r.ignore("mDNS: ignored an answer with no usable address", "peer", rec.ID)
		return
	}
	sortAddrs(addrs)
	ttl := min(time.Duration(e.TTL)*time.Second, maxTTL)
	if ttl <= 0 {
		ttl = maxTTL
	}
	now := time.Now()
	for id, until := range r.seen {
		if now.After(until) {
			delete(r.seen, id)
		}
	}
	if _, ok := r.seen[rec.ID]; !ok {
		if len(r.seen) >= maxSeen {
			r.ignore("mDNS: ignored a peer: too many on the LAN at once", "peer", rec.ID, "limit", maxSeen)
			return
		}
		r.log.Info("mDNS: found peer", "peer", rec.ID, "addrs", addrs)
	}
	r.seen[rec.ID] = now.Add(ttl)
	r.opt.Found(Peer{ID: rec.ID, Addrs: addrs, UDP: rec.UDPPort, TTL: ttl})
}

// sortAddrs puts IPv4 first, then global IPv6, then link-local.
func sortAddrs(as []netip.AddrPort) {
	rank := func(a netip.Addr) int {
		switch {
		case a.Is4():
			return 0
		case !a.IsLinkLocalUnicast():
			return 1
		}
		return 2
	}
	slices.SortStableFunc(as, func(x, y netip.AddrPort) int { return rank(x.Addr()) - rank(y.Addr()) })
}

// Suitable returns the interfaces mDNS runs on: up, multicast-capable,
// not loopback, with at least one address.
func Suitable() ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []net.Interface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, err := ifc.Addrs(); err == nil && len(addrs) > 0 {
			out = append(out, ifc)
		}
	}
	return out, nil
}

// ifaceIPs lists the interfaces' unicast addresses, without zones.
func ifaceIPs(ifaces []net.Interface) []string {
	var out []string
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsMulticast() {
				continue
			}
			s := ipn.IP.String()
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// zoneIfaces says which interfaces have IPv6 link-local addressing.
func zoneIfaces(ifaces []net.Interface) []Iface {
	var out []Iface
	for _, ifc := range ifaces {
		z := Iface{Name: ifc.Name}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsLinkLocalUnicast() {
				z.LinkLocal6 = true
			}
		}
		out = append(out, z)
	}
	return out
}

func names(ifaces []net.Interface) string {
	var n []string
	for _, ifc := range ifaces {
		n = append(n, ifc.Name)
	}
	return strings.Join(n, ",")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
