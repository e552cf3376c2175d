package dht

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/lookup"
	"github.com/shoal-sync/shoal/dht/routing"
)

// NodeInfo is a node's ID and UDP address.
type NodeInfo = krpc.NodeInfo

// LookupStats counts the work of one iterative lookup (Rounds, Messages,
// Responses, Failures).
type LookupStats = lookup.Stats

// BucketInfo describes one routing-table bucket and its entries.
type BucketInfo = routing.BucketInfo

// Sentinel errors.
var (
	ErrClosed   = errors.New("dht: server closed")
	ErrTimeout  = errors.New("dht: query timed out")
	ErrNoNodes  = errors.New("dht: no node answered")
	ErrNotFound = errors.New("dht: item not found")
	ErrBadItem  = errors.New("dht: invalid item")
	ErrAddress  = errors.New("dht: address not usable")
	// ErrSeqTooLow: a mutable put found a newer (or different same-seq) version stored.
	ErrSeqTooLow = errors.New("dht: sequence number less than current")
	// ErrCASMismatch: a mutable put's CAS is not the current sequence number.
	ErrCASMismatch = errors.New("dht: compare-and-swap mismatch")
)

// TableStore persists the routing table between runs.
type TableStore interface {
	// LoadNodes returns the nodes saved last (none, without error, the first time).
	LoadNodes() ([]NodeInfo, error)
	// SaveNodes replaces the saved nodes.
	SaveNodes(nodes []NodeInfo) error
}

// Config configures a Server. Only Conn is required.
type Config struct {
	// Conn is the socket: a *net.UDPConn or an in-memory PacketConn. The
	// Server owns it and closes it on Close. Source addresses it returns
	// must be *net.UDPAddr or print as IP:PORT.
	Conn net.PacketConn
	// ID is the node ID; zero picks a random one, or a BEP 42 one for
	// ExternalIP when that is set.
	ID [20]byte
	// ExternalIP is this node's public address when known (BEP 42).
	ExternalIP netip.Addr
	K          int // bucket size and replication factor; default 8
	// AnswerNodes is how many nodes a find_node or get_peers answer
	// carries per address family; default K, as BEP 5 says. A table
	// always holds nodes that have left or sit behind a NAT, and with
	// only K the dead among them hide live nodes that are among a
	// target's K closest: under simnet.Mainline conditions 2·K (416
	// bytes; clients read any number) finds the exact K closest about
	// three times as often (issue 15).
	AnswerNodes int
	Alpha       int // lookup queries in flight; default 3
	// Bootstrap lists nodes to join through.
	Bootstrap []netip.AddrPort
	Logger    *slog.Logger // default: discard
	Store     TableStore   // optional: routing table persistence
	// QueryTimeout bounds one query; default 2s.
	QueryTimeout time.Duration
	// QueryAttempts is how often a lookup asks a node that does not answer
	// before giving up on it; default 3 (so 1% loss rarely hides a node).
	QueryAttempts int
	// LookupTimeouts turn a contact's measured round trips into how long a
	// lookup's query to it waits before it counts as timed out (and is
	// sent again, and in the end given up) while the lookup moves on; a
	// contact never measured gets Unknown. Zero fields take
	// lookup.Policy's defaults (Unknown 700 ms).
	LookupTimeouts lookup.Policy
	// FindNodeVouch, when positive, lets FindNode end without the answer
	// of a queried contact that this many answering nodes returned
	// (lookup.Config.Vouch); announce, put and get always wait for the
	// answers (and tokens). Default 0: every one of the k closest answers.
	FindNodeVouch int
	// Public is set on the public internet (--global): nodes and peers at
	// loopback, private or reserved addresses are ignored and BEP 42
	// conforming nodes are preferred. Unset, loopback and LAN addresses work.
	Public bool
	// VerifyDelay is how long after a newcomer's first query the routing
	// table pings it to verify it (BEP 5: a node that only queried us is
	// questionable until it answers one of ours, and only verified nodes
	// are handed out or used as seeds). A host behind a filtering NAT
	// answers the nodes it has just sent to and nobody else, so a ping at
	// once would verify a node that others cannot reach; a ping after its
	// NAT has let the mapping go fails, and the node stays out. Zero: 2
	// minutes with Public (RFC 4787 asks NATs to keep UDP mappings at
	// least that long, many keep them 30-60 s), at once without; negative:
	// at once.
	VerifyDelay time.Duration
	// RateLimit is the packets a second accepted from one source address
	// (default 200; negative: no limit), with bursts of twice that.
	RateLimit float64
	// PeerTTL is how long an announced peer is kept; default 30 minutes.
	PeerTTL time.Duration
	// ItemTTL is how long a BEP 44 item is kept; default 2 hours.
	ItemTTL time.Duration
	// AnnounceInterval is the re-announce and re-put period of
	// KeepAnnounced and KeepPut; default 15 minutes.
	AnnounceInterval time.Duration
	// MaintainInterval is how often expiry, bucket refresh and table
	// saving run; default 1 minute.
	MaintainInterval time.Duration
	// TokenRotation is how often the token secret changes; tokens stay
	// valid for two periods. Default 5 minutes.
	TokenRotation time.Duration
	// MaxPeers bounds peers stored per infohash (default 500); MaxKeys
	// bounds infohashes and items stored (default 10000 each).
	MaxPeers, MaxKeys int
	// ReadOnly makes a short-lived client node (BEP 43): its queries carry
	// "ro" so that other nodes keep it out of their tables, and it answers
	// no queries.
	ReadOnly bool
	// Version is the client version sent in "v"; default "SH01".
	Version string
	// WriteAddr converts a node address into the net.Addr given to
	// Conn.WriteTo; default *net.UDPAddr.
	WriteAddr func(netip.AddrPort) net.Addr
}

func (c Config) withDefaults() Config {
	if c.K <= 0 {
		c.K = 8
	}
	if c.AnswerNodes <= 0 {
		c.AnswerNodes = c.K
	}
	if c.QueryAttempts <= 0 {
		c.QueryAttempts = 3
	}
	if c.Alpha <= 0 {
		c.Alpha = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 2 * time.Second
	}
	switch {
	case c.VerifyDelay == 0 && c.Public:
		c.VerifyDelay = 2 * time.Minute
	case c.VerifyDelay < 0:
		c.VerifyDelay = 0
	}
	if c.RateLimit == 0 {
		c.RateLimit = 200
	}
	if c.PeerTTL <= 0 {
		c.PeerTTL = 30 * time.Minute
	}
	if c.ItemTTL <= 0 {
		c.ItemTTL = 2 * time.Hour
	}
	if c.AnnounceInterval <= 0 {
		c.AnnounceInterval = 15 * time.Minute
	}
	if c.MaintainInterval <= 0 {
		c.MaintainInterval = time.Minute
	}
	if c.TokenRotation <= 0 {
		c.TokenRotation = 5 * time.Minute
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = 500
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 10000
	}
	if c.Version == "" {
		c.Version = "SH01"
	}
	if c.WriteAddr == nil {
		c.WriteAddr = func(a netip.AddrPort) net.Addr { return net.UDPAddrFromAddrPort(a) }
	}
	return c
}
