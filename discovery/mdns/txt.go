package mdns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Service is the DNS-SD service type shoal advertises.
const Service = "_shoal._tcp"

// Record is what a node's TXT record says.
type Record struct {
	ID      identity.NodeID
	TCPPort int
	UDPPort int // 0: none
	Version int // protocol major version
}

// TXT limits: a record we would not write is malformed.
const (
	maxTXTStrings = 16
	maxTXTString  = 255
)

// ErrMalformed marks a TXT record that cannot be read.
var ErrMalformed = errors.New("malformed shoal TXT record")

// Text returns r as TXT strings.
func (r Record) Text() []string {
	t := []string{"id=" + r.ID.String(), "tcp=" + strconv.Itoa(r.TCPPort), "v=" + strconv.Itoa(r.Version)}
	if r.UDPPort != 0 {
		t = append(t, "udp="+strconv.Itoa(r.UDPPort))
	}
	return t
}

// ParseText reads a TXT record: id, tcp and v are required, unknown keys
// are ignored, a key given twice is an error.
func ParseText(txt []string) (Record, error) {
	if len(txt) > maxTXTStrings {
		return Record{}, fmt.Errorf("%w: %d strings", ErrMalformed, len(txt))
	}
	var r Record
	seen := make(map[string]bool)
	for _, s := range txt {
		if len(s) > maxTXTString {
			return Record{}, fmt.Errorf("%w: a string of %d bytes", ErrMalformed, len(s))
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue // a boolean attribute (RFC 6763 §6.4): none of ours
		}
		if seen[k] {
			return Record{}, fmt.Errorf("%w: %q twice", ErrMalformed, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "id":
			r.ID, err = identity.ParseNodeID(v)
		case "tcp":
			r.TCPPort, err = port(v)
		case "udp":
			r.UDPPort, err = port(v)
		case "v":
			r.Version, err = strconv.Atoi(v)
			if err == nil && (r.Version < 0 || r.Version > 65535) {
				err = errors.New("out of range")
			}
		}
		if err != nil {
			return Record{}, fmt.Errorf("%w: %s=%q: %v", ErrMalformed, k, v, err)
		}
	}
	switch {
	case r.ID.IsZero():
		return Record{}, fmt.Errorf("%w: no id", ErrMalformed)
	case r.TCPPort == 0:
		return Record{}, fmt.Errorf("%w: no tcp port", ErrMalformed)
	case !seen["v"]:
		return Record{}, fmt.Errorf("%w: no version", ErrMalformed)
	}
	return r, nil
}

func port(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q is not 1-65535", s)
	}
	return int(p), nil
}

// Iface is an interface as address derivation needs it.
type Iface struct {
	Name       string
	LinkLocal6 bool // it has an IPv6 link-local address
}

// Addrs returns where a node that answered with ips listens on port.
// Loopback and unspecified addresses are dropped; an IPv6 link-local
// address comes without its zone, so it is returned once for each
// interface with IPv6 link-local addressing (the answer may have come in
// on any): the dialer dedupes by node ID.
func Addrs(ips []net.IP, port int, ifaces []Iface) []netip.AddrPort {
	var out []netip.AddrPort
	add := func(a netip.Addr) {
		ap := netip.AddrPortFrom(a, uint16(port))
		for _, o := range out {
			if o == ap {
				return
			}
		}
		out = append(out, ap)
	}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		switch {
		case a.IsLoopback(), a.IsUnspecified(), a.IsMulticast():
		case a.Is6() && (a.IsLinkLocalUnicast()):
			for _, ifc := range ifaces {
				if ifc.LinkLocal6 {
					add(a.WithZone(ifc.Name))
				}
			}
		default:
			add(a)
		}
	}
	return out
}
