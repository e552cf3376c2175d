package krpc

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/shoal-sync/shoal/dht/bencode"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// ErrMalformed is wrapped by decoding errors on datagrams that are bencode
// but not a valid KRPC message.
var ErrMalformed = errors.New("krpc: malformed message")

// Error codes of BEP 5 and BEP 44.
const (
	CodeGeneric     = 201 // generic error
	CodeServer      = 202 // server error
	CodeProtocol    = 203 // malformed packet, invalid arguments or bad token
	CodeMethod      = 204 // method unknown
	CodeTooBig      = 205 // BEP 44 value too big
	CodeBadSig      = 206 // BEP 44 invalid signature
	CodeSaltTooBig  = 207 // BEP 44 salt too big
	CodeCASMismatch = 301 // BEP 44 compare-and-swap mismatch
	CodeSeqTooLow   = 302 // BEP 44 sequence number less than current
)

// Query method names.
const (
	Ping         = "ping"
	FindNode     = "find_node"
	GetPeers     = "get_peers"
	AnnouncePeer = "announce_peer"
	Get          = "get"
	Put          = "put"
)

// Error is a KRPC error message's payload.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("krpc error %d: %s", e.Code, e.Msg) }

// Args are a query's arguments; which are set depends on the method.
type Args struct {
	ID          nodeid.ID
	Target      nodeid.ID // find_node, get
	InfoHash    nodeid.ID // get_peers, announce_peer
	Port        int       // announce_peer
	ImpliedPort bool      // announce_peer: use the packet's source port
	Token       string    // announce_peer, put
	Want        []string  // "n4", "n6"
	V           bencode.Raw
	K           []byte // put: 32-byte ed25519 public key (mutable)
	Salt        []byte
	Seq         *int64 // put: mutable sequence; get: only newer than this
	CAS         *int64
	Sig         []byte // put: 64-byte signature (mutable)
}

// Return is a response's payload.
type Return struct {
	ID     nodeid.ID
	Nodes  []NodeInfo
	Nodes6 []NodeInfo
	Values []netip.AddrPort
	Token  string
	V      bencode.Raw
	K      []byte
	Seq    *int64
	Sig    []byte
}

// Msg is one KRPC message: a query (Y "q"), response ("r") or error ("e").
type Msg struct {
	T  string // transaction ID
	Y  string
	Q  string // query method
	A  *Args
	R  *Return
	E  *Error
	V  string         // client version
	IP netip.AddrPort // BEP 42: the receiver's address as the sender sees it
	RO bool           // BEP 43: sender is read-only, do not add it to tables
}

// Limits bounds the bencode inside a KRPC datagram.
var limits = bencode.Limits{MaxDepth: 8, MaxListLen: 256, MaxString: 4096}

// Encode returns the bencoded datagram of m.
func (m *Msg) Encode() ([]byte, error) {
	d := map[string]any{"t": m.T, "y": m.Y}
	if m.V != "" {
		d["v"] = m.V
	}
	if m.IP.IsValid() {
		d["ip"] = string(AppendCompactAddr(nil, m.IP))
	}
	if m.RO {
		d["ro"] = 1
	}
	switch m.Y {
	case "q":
		if m.A == nil {
			return nil, fmt.Errorf("encode query %q: no arguments", m.Q)
		}
		d["q"] = m.Q
		d["a"] = m.A.dict()
	case "r":
		if m.R == nil {
			return nil, errors.New("encode response: no return values")
		}
		d["r"] = m.R.dict()
	case "e":
		if m.E == nil {
			return nil, errors.New("encode error: no error")
		}
		d["e"] = []any{int64(m.E.Code), m.E.Msg}
	default:
		return nil, fmt.Errorf("encode message: bad type %q", m.Y)
	}
	return bencode.Encode(d)
}

func (a *Args) dict() map[string]any {
	d := map[string]any{"id": string(a.ID[:])}
	var zero nodeid.ID
	if a.Target != zero {
		d["target"] = string(a.Target[:])
	}
	if a.InfoHash != zero {
		d["info_hash"] = string(a.InfoHash[:])
	}
	if a.Port != 0 {
		d["port"] = int64(a.Port)
	}
	if a.ImpliedPort {
		d["implied_port"] = int64(1)
	}
	if a.Token != "" {
		d["token"] = a.Token
	}
	if len(a.Want) > 0 {
		d["want"] = a.Want
	}
	if a.V != nil {
		d["v"] = a.V
	}
	putBytes(d, "k", a.K)
	putBytes(d, "salt", a.Salt)
	putBytes(d, "sig", a.Sig)
	if a.Seq != nil {
		d["seq"] = *a.Seq
	}
	if a.CAS != nil {
		d["cas"] = *a.CAS
	}
	return d
}

func (r *Return) dict() map[string]any {
	d := map[string]any{"id": string(r.ID[:])}
	if len(r.Nodes) > 0 {
		d["nodes"] = EncodeNodes(r.Nodes, false)
	}
	if len(r.Nodes6) > 0 {
		d["nodes6"] = EncodeNodes(r.Nodes6, true)
	}
	if len(r.Values) > 0 {
		vals := make([]any, len(r.Values))
		for i, v := range r.Values {
			vals[i] = AppendCompactAddr(nil, v)
		}
		d["values"] = vals
	}
	if r.Token != "" {
		d["token"] = r.Token
	}
	if r.V != nil {
		d["v"] = r.V
	}
	putBytes(d, "k", r.K)
	putBytes(d, "sig", r.Sig)
	if r.Seq != nil {
		d["seq"] = *r.Seq
	}
	return d
}

func putBytes(d map[string]any, k string, b []byte) {
	if len(b) > 0 {
		d[k] = b
	}
}
