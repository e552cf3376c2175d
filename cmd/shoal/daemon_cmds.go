package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/shoal-sync/shoal/store/diskfree"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/daemon"
	"github.com/shoal-sync/shoal/sync/swarm"
)

func cmdDaemon(ctx context.Context, e *env, args []string) error {
	fs := newFlags("daemon", e)
	listen := fs.String("listen", daemon.DefaultListen, "`ADDR` (HOST:PORT) for peers, on TCP (the DHT uses the same port on UDP); port 0 picks one")
	apiAddr := fs.String("api", daemon.DefaultAPI, "loopback `ADDR` of the local HTTP API; port 0 picks one")
	var peers, bootstrap multiFlag
	fs.Var(&peers, "peer", "`PEER` to keep connected, HOST:PORT or NODEID@HOST:PORT (repeatable)")
	fs.Var(&bootstrap, "bootstrap", "DHT node to join through, `HOST:PORT` (repeatable)")
	global := fs.Bool("global", false, "join the public mainline DHT through its well-known routers")
	noDHT := fs.Bool("no-dht", false, "do not run a DHT node")
	noMDNS := fs.Bool("no-mdns", false, "do not advertise this node nor look for peers on the LAN (mDNS)")
	noPEX := fs.Bool("no-pex", false, "do not learn peers' addresses from other peers (peer exchange)")
	var trackers multiFlag
	fs.Var(&trackers, "tracker", "BitTorrent tracker `URL` to announce to and find peers through, udp://HOST:PORT or http://HOST:PORT/announce (repeatable)")
	up := fs.String("max-upload-rate", "0", "cap on block upload, `BYTES` per second (e.g. 16MiB); 0: none")
	down := fs.String("max-download-rate", "0", "cap on block download, `BYTES` per second (e.g. 50MiB); 0: none")
	maxPeers := fs.Int("max-peers", 128, "`N` peers kept connected: past it idle ones are let go, at twice it new ones refused (--peer ones always kept)")
	minFree := fs.String("min-disk-free", "", "free space kept on the home's disk, `FLOOR` such as 1%, 5GiB or 1%,5GiB (default 1%,96MiB)")
	memLimit := fs.String("memory-limit", fmt.Sprintf("%dMiB", daemon.DefaultMemoryLimit>>20), "soft limit on the daemon's heap, `BYTES`: near it memory is collected more often; 0: none (GOMEMLIMIT overrides)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	memory, err := swarm.ParseRate(*memLimit)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if memory == 0 {
		memory = -1
	}
	var floor diskfree.Floor
	if *minFree != "" {
		f, err := diskfree.ParseFloor(*minFree)
		if err != nil {
			return fmt.Errorf("--min-disk-free: %w", err)
		}
		floor = f
	}
	upRate, err := swarm.ParseRate(*up)
	if err != nil {
		return fmt.Errorf("--max-upload-rate: %w", err)
	}
	downRate, err := swarm.ParseRate(*down)
	if err != nil {
		return fmt.Errorf("--max-download-rate: %w", err)
	}
	if *global {
		bootstrap = append(bootstrap, globalRouters...)
	}
	boot, err := resolveAll(ctx, bootstrap)
	if err != nil {
		return err
	}
	log := daemonLogger(e.stderr, e.verbose)
	d, err := daemon.Start(ctx, daemon.Options{
		Home: e.home, Listen: *listen, API: *apiAddr, Peers: peers,
		MaxUploadRate: upRate, MaxDownloadRate: downRate, MaxPeers: *maxPeers,
		NoDHT: *noDHT, Bootstrap: boot, Global: *global, MinFree: floor, MemoryLimit: memory,
		MDNS: !*noMDNS, NoPEX: *noPEX, Trackers: trackers,
		Version: shortVersion(), Logger: log,
	})
	if err != nil {
		return err
	}
	in := d.Info()
	fmt.Fprintf(e.stdout, "shoal daemon running\nnode ID  %s\npeers    %s\n", in.ID, in.Listen)
	if in.DHT != "" {
		fmt.Fprintf(e.stdout, "dht      udp %s\n", in.DHT)
	}
	fmt.Fprintf(e.stdout, "api      %s\n", in.API)
	return d.Wait(ctx)
}

// resolveAll turns HOST:PORT strings into addresses (resolveAddr).
func resolveAll(ctx context.Context, addrs []string) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		ap, err := resolveAddr(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		out = append(out, ap)
	}
	return out, nil
}

// connectDaemon returns a client of the daemon on the home, for commands
// that need one.
func connectDaemon(ctx context.Context, e *env, what string) (*api.Client, error) {
	c, err := api.Connect(ctx, e.home)
	if errors.Is(err, api.ErrNoDaemon) {
		return nil, fmt.Errorf("%s: no daemon runs on %s (start one with `shoal daemon`)", what, e.home)
	}
	return c, err
}

func cmdID(ctx context.Context, e *env, args []string) error {
	fs := newFlags("id", e)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if c, err := api.Connect(ctx, e.home); err == nil {
		var in daemon.Info
		if err := c.Call(ctx, "id", &in); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", in.ID)
		for _, a := range in.Addrs {
			fmt.Fprintf(e.stdout, "  %s\n", a)
		}
		return nil
	}
	n, err := openNode(e)
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(e.stdout, "%s\n  (no daemon running: no listen addresses)\n", n.Identity().ID())
	return nil
}

func cmdPeers(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && (args[0] == "add" || args[0] == "rm") {
		return cmdPeersEdit(ctx, e, args[0], args[1:])
	}
	fs := newFlags("peers", e)
	all := fs.Bool("a", false, "list every candidate address, not only those not connected")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, err := connectDaemon(ctx, e, "peers")
	if err != nil {
		return err
	}
	var peers []daemon.PeerInfo
	if err := c.Call(ctx, "peers", &peers); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSOURCE\tDIR\tIN\tOUT\tUS→THEM\tTHEM→US")
	for _, p := range peers {
		dir := "in"
		if p.Outbound {
			dir = "out"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Addr, p.Source, dir,
			humanize.IBytes(uint64(p.BytesIn)), humanize.IBytes(uint64(p.BytesOut)),
			state(p.AmChoking, p.PeerInterested), state(p.PeerChoking, p.AmInterested))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printCandidates(ctx, e, c, *all); err != nil {
		return err
	}
	var bans []swarm.Ban
	if err := c.Call(ctx, "bans", &bans); err != nil {
		return err
	}
	if len(bans) > 0 {
		fmt.Fprintln(e.stdout, "\nbanned for sending bad blocks:")
		tw = tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tUNTIL")
		for _, b := range bans {
			fmt.Fprintf(tw, "%s\t%s\n", b.Peer, b.Until.Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
	return nil
}

// state prints one direction's choke and interest, as BitTorrent clients
// do: whether the uploader chokes, and whether the downloader is interested.
func state(choking, interested bool) string {
	s := "unchoked"
	if choking {
		s = "choked"
	}
	if interested {
		s += ",interested"
	}
	return s
}
