package transport

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ErrBadAddr is returned when a peer address cannot be parsed.
var ErrBadAddr = errors.New("invalid peer address")

// PeerAddr is where to dial a peer and, optionally, which node must answer.
type PeerAddr struct {
	// ID is the node expected at the address; zero accepts any node.
	ID identity.NodeID
	// HostPort is "host:port" as net.Dial takes it (IPv6 in brackets).
	HostPort string
}

// String returns "NODEID@HOST:PORT", or "HOST:PORT" when no ID is set.
func (a PeerAddr) String() string {
	if a.ID.IsZero() {
		return a.HostPort
	}
	return a.ID.String() + "@" + a.HostPort
}

// ParseAddr parses "HOST:PORT" or "NODEID@HOST:PORT". The port must be 1-65535.
func ParseAddr(s string) (PeerAddr, error) {
	var a PeerAddr
	hostport := s
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		id, err := identity.ParseNodeID(s[:at])
		if err != nil {
			return PeerAddr{}, fmt.Errorf("%w %q: %w", ErrBadAddr, s, err)
		}
		a.ID = id
		hostport = s[at+1:]
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return PeerAddr{}, fmt.Errorf("%w %q: want HOST:PORT or NODEID@HOST:PORT: %v", ErrBadAddr, s, err)
	}
	if host == "" {
		return PeerAddr{}, fmt.Errorf("%w %q: empty host", ErrBadAddr, s)
	}
	if strings.ContainsAny(host, "@/ ") {
		return PeerAddr{}, fmt.Errorf("%w %q: bad host %q", ErrBadAddr, s, host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return PeerAddr{}, fmt.Errorf("%w %q: port %q is not 1-65535", ErrBadAddr, s, port)
	}
	a.HostPort = net.JoinHostPort(host, port)
	return a, nil
}
