package krpc

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

// NodeInfo is a node's ID and UDP address, as compact node info carries it.
type NodeInfo struct {
	ID   nodeid.ID
	Addr netip.AddrPort
}

// String formats the node as HEXID@IP:PORT.
func (n NodeInfo) String() string { return nodeid.String(n.ID) + "@" + n.Addr.String() }

// AppendCompactAddr appends the 6- or 18-byte compact form of a.
func AppendCompactAddr(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().Unmap()
	b = append(b, ip.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, a.Port())
}

// ParseCompactAddr reads a 6-byte (IPv4) or 18-byte (IPv6) compact address.
func ParseCompactAddr(b []byte) (netip.AddrPort, error) {
	if len(b) != 6 && len(b) != 18 {
		return netip.AddrPort{}, fmt.Errorf("%w: compact address of %d bytes", ErrMalformed, len(b))
	}
	ip, _ := netip.AddrFromSlice(b[:len(b)-2])
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[len(b)-2:])), nil
}

// EncodeNodes returns the compact node info of the nodes whose address is
// of the family selected by v6 (26 bytes each for IPv4, 38 for IPv6).
func EncodeNodes(nodes []NodeInfo, v6 bool) []byte {
	var b []byte
	for _, n := range nodes {
		if is6(n.Addr) != v6 {
			continue
		}
		b = append(b, n.ID[:]...)
		b = AppendCompactAddr(b, n.Addr)
	}
	return b
}

func is6(a netip.AddrPort) bool { ip := a.Addr(); return ip.Is6() && !ip.Is4In6() }

// DecodeNodes parses compact node info with 4- or 16-byte addresses.
func DecodeNodes(b []byte, v6 bool) ([]NodeInfo, error) {
	size := 26
	if v6 {
		size = 38
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("%w: compact nodes of %d bytes", ErrMalformed, len(b))
	}
	var out []NodeInfo
	for i := 0; i < len(b); i += size {
		var n NodeInfo
		copy(n.ID[:], b[i:i+20])
		n.Addr, _ = ParseCompactAddr(b[i+20 : i+size])
		out = append(out, n)
	}
	return out, nil
}
