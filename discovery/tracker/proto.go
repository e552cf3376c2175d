package tracker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/dht/bencode"
)

// ErrMalformed marks a tracker response or request that cannot be read.
var ErrMalformed = errors.New("malformed tracker message")

// Event is an announce's event (BEP 3 / BEP 15 numbering).
type Event int32

// Events.
const (
	EventNone      Event = 0
	EventCompleted Event = 1
	EventStarted   Event = 2
	EventStopped   Event = 3
)

// Request is one announce.
type Request struct {
	InfoHash [20]byte
	PeerID   [20]byte
	Port     uint16
	Left     int64 // 0: a seeder
	Event    Event
	NumWant  int32 // -1: the tracker's default
}

// Response is what a tracker answered.
type Response struct {
	Interval time.Duration
	Peers    []netip.AddrPort
}

// BEP 15 constants.
const (
	udpMagic       uint64 = 0x41727101980
	actionConnect  uint32 = 0
	actionAnnounce uint32 = 1
	actionError    uint32 = 3
)

// maxPeers bounds the peers one response may carry.
const maxPeers = 1000

// appendConnect encodes a BEP 15 connect request.
func appendConnect(b []byte, tx uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, udpMagic)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, tx)
}

// parseUDPHeader reads action and transaction id, and a tracker's error.
func parseUDPHeader(b []byte) (action, tx uint32, err error) {
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("%w: %d-byte UDP response", ErrMalformed, len(b))
	}
	action, tx = binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if action == actionError {
		return action, tx, fmt.Errorf("tracker error: %q", clip(b[8:]))
	}
	return action, tx, nil
}

// parseConnectResponse reads a BEP 15 connect response for tx.
func parseConnectResponse(b []byte, tx uint32) (uint64, error) {
	action, got, err := parseUDPHeader(b)
	if err != nil {
		return 0, err
	}
	if action != actionConnect || got != tx || len(b) < 16 {
		return 0, fmt.Errorf("%w: connect response (action %d, %d bytes)", ErrMalformed, action, len(b))
	}
	return binary.BigEndian.Uint64(b[8:]), nil
}

// appendAnnounce encodes a BEP 15 announce request.
func appendAnnounce(b []byte, conn uint64, tx, key uint32, r Request) []byte {
	b = binary.BigEndian.AppendUint64(b, conn)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = append(b, r.InfoHash[:]...)
	b = append(b, r.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, 0)              // downloaded
	b = binary.BigEndian.AppendUint64(b, uint64(r.Left)) // left
	b = binary.BigEndian.AppendUint64(b, 0)              // uploaded
	b = binary.BigEndian.AppendUint32(b, uint32(r.Event))
	b = binary.BigEndian.AppendUint32(b, 0) // IP: the sender's
	b = binary.BigEndian.AppendUint32(b, key)
	b = binary.BigEndian.AppendUint32(b, uint32(r.NumWant))
	return binary.BigEndian.AppendUint16(b, r.Port)
}

// ParseUDPAnnounce reads a BEP 15 announce response for tx; v6 says the
// peers are 18-byte IPv6 entries (the announce went over IPv6).
func ParseUDPAnnounce(b []byte, tx uint32, v6 bool) (Response, error) {
	action, got, err := parseUDPHeader(b)
	if err != nil {
		return Response{}, err
	}
	if action != actionAnnounce || got != tx || len(b) < 20 {
		return Response{}, fmt.Errorf("%w: announce response (action %d, %d bytes)", ErrMalformed, action, len(b))
	}
	interval := binary.BigEndian.Uint32(b[8:])
	peers, err := compactPeers(b[20:], v6)
	if err != nil {
		return Response{}, err
	}
	return Response{Interval: time.Duration(interval) * time.Second, Peers: peers}, nil
}

// compactPeers reads 6-byte IPv4 or 18-byte IPv6 peer entries.
func compactPeers(b []byte, v6 bool) ([]netip.AddrPort, error) {
	n := 6
	if v6 {
		n = 18
	}
	if len(b)%n != 0 {
		return nil, fmt.Errorf("%w: %d bytes of %d-byte peers", ErrMalformed, len(b), n)
	}
	if len(b)/n > maxPeers {
		return nil, fmt.Errorf("%w: %d peers", ErrMalformed, len(b)/n)
	}
	var out []netip.AddrPort
	for i := 0; i+n <= len(b); i += n {
		a, _ := netip.AddrFromSlice(b[i : i+n-2])
		p := binary.BigEndian.Uint16(b[i+n-2:])
		if p == 0 || a.IsUnspecified() {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), p))
	}
	return out, nil
}

// appendCompact encodes peers of one family as compact entries.
func appendCompact(b []byte, peers []netip.AddrPort, v6 bool) []byte {
	for _, p := range peers {
		a := p.Addr()
		if a.Is4() == v6 {
			continue
		}
		if v6 {
			s := a.As16()
			b = append(b, s[:]...)
		} else {
			s := a.As4()
			b = append(b, s[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, p.Port())
	}
	return b
}

// httpLimits bound a bencoded tracker response.
var httpLimits = bencode.Limits{MaxDepth: 4, MaxListLen: maxPeers, MaxString: 18 * maxPeers}

// ParseHTTPResponse reads a BEP 3 announce response: compact peers (BEP
// 23), a list of peer dictionaries, and BEP 7's peers6.
func ParseHTTPResponse(b []byte) (Response, error) {
	v, err := httpLimits.Decode(b)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return Response{}, fmt.Errorf("%w: not a dictionary", ErrMalformed)
	}
	if f, ok := d["failure reason"]; ok {
		s, _ := f.(string)
		return Response{}, fmt.Errorf("tracker failure: %q", clip([]byte(s)))
	}
	var r Response
	if iv, ok := d["interval"].(int64); ok && iv > 0 && iv < 1<<31 {
		r.Interval = time.Duration(iv) * time.Second
	}
	switch p := d["peers"].(type) {
	case string:
		if r.Peers, err = compactPeers([]byte(p), false); err != nil {
			return Response{}, err
		}
	case []any:
		for _, e := range p {
			pd, ok := e.(map[string]any)
			if !ok {
				return Response{}, fmt.Errorf("%w: a peer that is not a dictionary", ErrMalformed)
			}
			ip, _ := pd["ip"].(string)
			port, _ := pd["port"].(int64)
			a, err := netip.ParseAddr(ip)
			if err != nil || port <= 0 || port > 65535 {
				continue // a host name or a bad entry: skipped
			}
			r.Peers = append(r.Peers, netip.AddrPortFrom(a.Unmap(), uint16(port)))
		}
	case nil:
	default:
		return Response{}, fmt.Errorf("%w: peers of type %T", ErrMalformed, p)
	}
	if p6, ok := d["peers6"].(string); ok {
		more, err := compactPeers([]byte(p6), true)
		if err != nil {
			return Response{}, err
		}
		r.Peers = append(r.Peers, more...)
	}
	if len(r.Peers) > maxPeers {
		return Response{}, fmt.Errorf("%w: %d peers", ErrMalformed, len(r.Peers))
	}
	return r, nil
}

// clip bounds a peer-supplied message for an error.
func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
