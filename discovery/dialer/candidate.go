package dialer

import (
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Source is where a candidate address came from.
type Source string

// The sources, best first: when one address comes from several, the best
// names it, and the dialer tries better sources' fresh candidates first.
const (
	Static     Source = "static"     // --peer, shoal peers add
	Remembered Source = "remembered" // worked in an earlier run
	MDNS       Source = "mdns"
	PEX        Source = "pex"
	DHT        Source = "dht"
	Tracker    Source = "tracker"
	Inbound    Source = "inbound" // the peer dialed us; no candidate named it
)

// rank orders sources, lower better.
func (s Source) rank() int {
	switch s {
	case Static:
		return 0
	case Remembered:
		return 1
	case MDNS:
		return 2
	case PEX:
		return 3
	case DHT:
		return 4
	case Tracker:
		return 5
	}
	return 6
}

// Candidate is an address a source found.
type Candidate struct {
	// Addr is "host:port" as net.Dial takes it.
	Addr string
	// ID is the node expected there, when the source knows it; the TLS
	// certificate decides, so a differing node is refused.
	ID     identity.NodeID
	Source Source
	// TTL is how long the source vouches for the address; zero: until it
	// is removed (static) or, for other sources, DefaultTTL.
	TTL time.Duration
}

// DefaultTTL is how long a candidate from a source other than Static is
// kept without being seen again.
const DefaultTTL = 30 * time.Minute

// Event is a connection or a drop the swarm reports.
type Event struct {
	Connected   bool
	ID          identity.NodeID
	Addr        string // remote address of the connection
	Outbound    bool
	ListenAddrs []string // what the peer says it accepts on
}

// Info describes one candidate, for `shoal peers`.
type Info struct {
	Addr    string          `json:"addr"`
	ID      identity.NodeID `json:"id,omitzero"`
	Sources []Source        `json:"sources"`
	State   string          `json:"state"` // connected, dialing, waiting, self
	Fails   int             `json:"fails,omitempty"`
	Next    time.Time       `json:"next,omitzero"` // next attempt, when waiting
	LastOK  time.Time       `json:"last_ok,omitzero"`
	LastErr string          `json:"last_err,omitempty"`
}

// PeerSource says how a connected peer was found.
type PeerSource struct {
	ID     identity.NodeID `json:"id"`
	Source Source          `json:"source"`
}
