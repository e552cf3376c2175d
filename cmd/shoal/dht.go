package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/bencode"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/discovery/providers"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/daemon"
)

// globalRouters are the public mainline DHT's well-known entry points,
// used only with --global.
var globalRouters = []string{
	"router.bittorrent.com:6881",
	"dht.transmissionbt.com:6881",
	"router.utorrent.com:6881",
}

// dhtCommands are the subcommands of `shoal dht`.
func dhtCommands() []command {
	return []command{
		{"serve", "dht serve [--listen ADDR] [--bootstrap ADDR]...  run a DHT node until interrupted", nil},
		{"ping", "dht ping ADDR                                  ask a node for its ID", nil},
		{"find-node", "dht find-node HEX40 --bootstrap ADDR           print the 8 closest nodes to HEX40", nil},
		{"get-peers", "dht get-peers HEX40 --bootstrap ADDR           print peers of an infohash, one IP:PORT a line", nil},
		{"providers", "dht providers CID --bootstrap ADDR             print the peers that announced CID (daemons announce their pins)", nil},
		{"announce", "dht announce HEX40 --port N --bootstrap ADDR   announce a peer on port N", nil},
		{"put", "dht put [--key FILE | --seed HEX64] [--salt S] [--seq N] [--cas N] VALUE --bootstrap ADDR  store a BEP 44 item (immutable without a key)", nil},
		{"get", "dht get HEX40 | get --pubkey HEX64 [--salt S] --bootstrap ADDR  fetch a BEP 44 item and print its value", nil},
		{"table", "dht table [--bootstrap ADDR]...                join and print the routing table", nil},
	}
}

// dhtTimeout bounds a one-shot dht subcommand when --timeout is not given.
const dhtTimeout = time.Minute

// dhtMain runs `shoal dht SUBCOMMAND ...`. args excludes "dht".
func dhtMain(ctx context.Context, e *env, args []string) error {
	sub, err := subcommand(e, "dht", args)
	if err != nil {
		return err
	}
	args = args[1:]
	c := &dhtCmd{home: e.home, stdout: e.stdout, stderr: e.stderr, verbose: e.verbose}
	fs := newFlags("dht "+sub, e)
	c.commonFlags(fs, sub)
	var run func(ctx context.Context, fs *flag.FlagSet) error
	switch sub {
	case "serve":
		c.serving = true
		run = c.serve
	case "ping":
		run = c.ping
	case "find-node":
		run = c.findNode
	case "get-peers":
		run = c.getPeers
	case "providers":
		run = c.providers
	case "announce":
		fs.IntVar(&c.port, "port", 0, "port to announce")
		fs.BoolVar(&c.impliedPort, "implied-port", false, "announce the DHT socket's port instead")
		run = c.announce
	case "put":
		fs.StringVar(&c.keyFile, "key", "", "ed25519 key file (hex seed; created when missing) for a mutable item")
		fs.StringVar(&c.seedHex, "seed", "", "ed25519 seed, 64 hex digits, for a mutable item")
		fs.StringVar(&c.salt, "salt", "", "salt of a mutable item")
		fs.StringVar(&c.seq, "seq", "", "sequence number (default: current + 1)")
		fs.StringVar(&c.cas, "cas", "", "store only if the current sequence number is this")
		run = c.put
	case "get":
		fs.StringVar(&c.pubHex, "pubkey", "", "ed25519 public key, 64 hex digits, of a mutable item")
		fs.StringVar(&c.salt, "salt", "", "salt of a mutable item")
		run = c.get
	case "table":
		run = c.table
	}
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if sub != "serve" && e.timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dhtTimeout)
		defer cancel()
	}
	return run(ctx, fs)
}

// parseInterspersed parses flags that may come after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagError(fs, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

type dhtCmd struct {
	home           string
	stdout, stderr io.Writer

	serving     bool // a long-lived node (serve), not a one-shot client
	listen      string
	bootstrap   multiFlag
	global      bool
	verbose     bool // -v: log DHT traffic
	port        int
	impliedPort bool
	keyFile     string
	seedHex     string
	pubHex      string
	salt        string
	seq, cas    string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *dhtCmd) commonFlags(fs *flag.FlagSet, sub string) {
	listen := "0.0.0.0:0"
	if sub == "serve" {
		listen = "0.0.0.0:6881"
	}
	fs.StringVar(&c.listen, "listen", listen, "UDP `ADDR` to listen on")
	fs.Var(&c.bootstrap, "bootstrap", "node to join through, `HOST:PORT` (repeatable)")
	fs.BoolVar(&c.global, "global", false, "join the public mainline DHT through its well-known routers")
}

// start opens the socket and runs a server; needBootstrap joins the DHT.
func (c *dhtCmd) start(ctx context.Context, needBootstrap bool) (*dht.Server, error) {
	var boot []netip.AddrPort
	addrs := append([]string(nil), c.bootstrap...)
	if c.global {
		addrs = append(addrs, globalRouters...)
	}
	for _, a := range addrs {
		ap, err := resolveAddr(ctx, a)
		if err != nil {
			if c.global {
				fmt.Fprintf(c.stderr, "skipping bootstrap %s: %v\n", a, err)
				continue
			}
			return nil, err
		}
		boot = append(boot, ap)
	}
	if needBootstrap && len(boot) == 0 {
		return nil, errors.New("dht: no bootstrap node: give --bootstrap HOST:PORT or --global")
	}
	la, err := net.ResolveUDPAddr("udp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("dht: listen address %q: %w", c.listen, err)
	}
	network := "udp"
	if la.IP == nil || la.IP.To4() != nil {
		network = "udp4"
	}
	conn, err := net.ListenUDP(network, la)
	if err != nil {
		return nil, fmt.Errorf("dht: listen on %s: %w", c.listen, err)
	}
	logger := slog.New(slog.DiscardHandler)
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := dht.Config{Conn: conn, Bootstrap: boot, Logger: logger, Public: c.global, ReadOnly: !c.serving}
	if c.serving && c.home != "" && filepath.IsAbs(c.home) {
		cfg.Store = dht.FileStore{Path: filepath.Join(c.home, "dht", "nodes")}
	}
	s, err := dht.New(cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	go s.Serve(ctx)
	if needBootstrap {
		if err := s.Bootstrap(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func resolveAddr(ctx context.Context, hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dht: address %q: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dht: port of %q: %w", hostport, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("dht: resolve %q: %w", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

func (c *dhtCmd) args(fs *flag.FlagSet, n int, what string) ([]string, error) {
	if fs.NArg() != n {
		return nil, fmt.Errorf("%s: want %s", strings.TrimPrefix(fs.Name(), "shoal "), what)
	}
	return fs.Args(), nil
}

func (c *dhtCmd) serve(ctx context.Context, fs *flag.FlagSet) error {
	if _, err := c.args(fs, 0, "no arguments"); err != nil {
		return err
	}
	s, err := c.start(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(c.stdout, "dht node %s listening on %s\n", nodeid.String(s.ID()), s.Addr())
	if len(c.bootstrap) > 0 || c.global {
		if err := s.Bootstrap(ctx); err != nil {
			fmt.Fprintf(c.stderr, "bootstrap: %v (serving anyway)\n", err)
		} else {
			fmt.Fprintf(c.stdout, "joined: %d nodes in table\n", len(s.Nodes()))
		}
	}
	<-ctx.Done()
	return nil
}

func (c *dhtCmd) ping(ctx context.Context, fs *flag.FlagSet) error {
	a, err := c.args(fs, 1, "ADDR")
	if err != nil {
		return err
	}
	addr, err := resolveAddr(ctx, a[0])
	if err != nil {
		return err
	}
	s, err := c.start(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	n, err := s.Ping(ctx, addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s %s %s\n", nodeid.String(n.ID), n.Addr, time.Since(start).Round(time.Microsecond))
	return nil
}

func (c *dhtCmd) target(fs *flag.FlagSet) (nodeid.ID, error) {
	a, err := c.args(fs, 1, "HEX40")
	if err != nil {
		return nodeid.ID{}, err
	}
	return nodeid.Parse(a[0])
}

func (c *dhtCmd) stats(st dht.LookupStats) {
	fmt.Fprintf(c.stderr, "rounds %d, messages %d, answers %d, failures %d\n", st.Rounds, st.Messages, st.Responses, st.Failures)
}

func (c *dhtCmd) findNode(ctx context.Context, fs *flag.FlagSet) error {
	target, err := c.target(fs)
	if err != nil {
		return err
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	nodes, st, err := s.FindNode(ctx, target)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		fmt.Fprintf(c.stdout, "%s %s\n", nodeid.String(n.ID), n.Addr)
	}
	c.stats(st)
	return nil
}

func (c *dhtCmd) getPeers(ctx context.Context, fs *flag.FlagSet) error {
	ih, err := c.target(fs)
	if err != nil {
		return err
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	peers, st, err := s.GetPeers(ctx, ih)
	if err != nil {
		return err
	}
	for _, p := range peers {
		fmt.Fprintln(c.stdout, p)
	}
	c.stats(st)
	return nil
}

// providers prints the peers that announced a CID under its provider key.
func (c *dhtCmd) providers(ctx context.Context, fs *flag.FlagSet) error {
	a, err := c.args(fs, 1, "CID")
	if err != nil {
		return err
	}
	id, err := cid.Decode(a[0])
	if err != nil {
		return fmt.Errorf("dht providers: %q: %w", a[0], err)
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	peers, st, err := s.GetPeers(ctx, providers.Key(id))
	if err != nil {
		return err
	}
	for _, p := range peers {
		fmt.Fprintln(c.stdout, p)
	}
	c.stats(st)
	return nil
}

func (c *dhtCmd) announce(ctx context.Context, fs *flag.FlagSet) error {
	ih, err := c.target(fs)
	if err != nil {
		return err
	}
	if !c.impliedPort && (c.port <= 0 || c.port > 65535) {
		return errors.New("dht announce: --port N (1-65535) is required")
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Announce(ctx, ih, c.port, c.impliedPort)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "announced to %d nodes\n", res.Stored)
	c.stats(res.Stats)
	return nil
}

// key returns the ed25519 key from --seed or --key, or nil for none.
func (c *dhtCmd) key() (ed25519.PrivateKey, error) {
	seedHex := c.seedHex
	if c.keyFile != "" {
		b, err := os.ReadFile(c.keyFile)
		if errors.Is(err, os.ErrNotExist) {
			seed := make([]byte, ed25519.SeedSize)
			rand.Read(seed)
			if err := os.WriteFile(c.keyFile, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("dht put: create key file: %w", err)
			}
			b = []byte(hex.EncodeToString(seed))
		} else if err != nil {
			return nil, fmt.Errorf("dht put: read key file: %w", err)
		}
		seedHex = strings.TrimSpace(string(b))
	}
	if seedHex == "" {
		return nil, nil
	}
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("dht put: key seed must be %d hex digits", 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (c *dhtCmd) put(ctx context.Context, fs *flag.FlagSet) error {
	a, err := c.args(fs, 1, "VALUE")
	if err != nil {
		return err
	}
	v, _ := bencode.Encode(a[0])
	priv, err := c.key()
	if err != nil {
		return err
	}
	var opts dht.PutOptions
	if c.cas != "" {
		cas, err := strconv.ParseInt(c.cas, 10, 64)
		if err != nil {
			return fmt.Errorf("dht put: --cas: %w", err)
		}
		opts.CAS = &cas
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	var item dht.Item
	if priv == nil {
		if item, err = dht.ImmutableItem(v); err != nil {
			return err
		}
	} else {
		seq := int64(1)
		if c.seq != "" {
			if seq, err = strconv.ParseInt(c.seq, 10, 64); err != nil {
				return fmt.Errorf("dht put: --seq: %w", err)
			}
		} else {
			pub := priv.Public().(ed25519.PublicKey)
			cur, _, err := s.Get(ctx, dht.MutableTarget(pub, []byte(c.salt)), dht.GetOptions{Salt: []byte(c.salt)})
			if err == nil {
				seq = cur.Seq + 1
			} else if !errors.Is(err, dht.ErrNotFound) {
				return err
			}
		}
		if item, err = dht.SignItem(priv, []byte(c.salt), seq, v); err != nil {
			return err
		}
	}
	res, err := s.Put(ctx, item, opts)
	if err != nil {
		return err
	}
	t := item.Target()
	fmt.Fprintln(c.stdout, nodeid.String(t))
	if item.Mutable() {
		fmt.Fprintf(c.stderr, "pubkey %x seq %d\n", item.K, item.Seq)
	}
	fmt.Fprintf(c.stderr, "stored on %d nodes\n", res.Stored)
	return nil
}

func (c *dhtCmd) get(ctx context.Context, fs *flag.FlagSet) error {
	var target nodeid.ID
	var opts dht.GetOptions
	if c.pubHex != "" {
		if fs.NArg() != 0 {
			return errors.New("dht get: give HEX40 or --pubkey, not both")
		}
		pub, err := hex.DecodeString(c.pubHex)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("dht get: --pubkey must be %d hex digits", 2*ed25519.PublicKeySize)
		}
		opts.Salt = []byte(c.salt)
		target = dht.MutableTarget(pub, opts.Salt)
	} else {
		var err error
		if target, err = c.target(fs); err != nil {
			return err
		}
	}
	s, err := c.start(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	item, st, err := s.Get(ctx, target, opts)
	if err != nil {
		return err
	}
	if v, err := bencode.Decode(item.V); err == nil {
		if str, ok := v.(string); ok {
			fmt.Fprintln(c.stdout, str)
		} else {
			fmt.Fprintln(c.stdout, string(item.V))
		}
	}
	if item.Mutable() {
		fmt.Fprintf(c.stderr, "seq %d\n", item.Seq)
	}
	c.stats(st)
	return nil
}

func (c *dhtCmd) table(ctx context.Context, fs *flag.FlagSet) error {
	if _, err := c.args(fs, 0, "no arguments"); err != nil {
		return err
	}
	var t daemon.TableInfo
	if client, err := api.Connect(ctx, c.home); err == nil && len(c.bootstrap) == 0 && !c.global {
		// A daemon runs on this home: show its node's table.
		if err := client.Call(ctx, "dht/table", &t); err != nil {
			return err
		}
	} else {
		s, err := c.start(ctx, len(c.bootstrap) > 0 || c.global)
		if err != nil {
			return err
		}
		defer s.Close()
		t = daemon.NewTableInfo(s, time.Now())
	}
	fmt.Fprintf(c.stdout, "node %s on %s\n", t.ID, t.Addr)
	for _, b := range t.Buckets {
		fmt.Fprintf(c.stdout, "bucket %3d: %d good, %d questionable, %d bad, %d replacements\n",
			b.Index, b.Good, b.Questionable, b.Bad, b.Replacements)
		for _, e := range b.Nodes {
			fmt.Fprintf(c.stdout, "  %s %-21s %s\n", e.ID, e.Addr, e.State)
		}
	}
	return nil
}
