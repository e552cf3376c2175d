package wire

import (
	"fmt"
	"net/netip"
)

// Peer exchange limits, per message (BEP 11's 50 added and 50 dropped).
const (
	MaxPexAdded   = 50
	MaxPexDropped = 50
	// MaxPexAddrs bounds the addresses given for one peer.
	MaxPexAddrs = 4

	pexScopeKeyLen    = 20 // a public root's provider key
	pexScopeFolderLen = 32 // a folder ID, only where both proved the folder
	pexMaxAddrLen     = 64
	pexNodeIDLen      = 34 // sha2-256 multihash, as sync/identity
)

// PexPeer is a peer and where it accepts connections.
type PexPeer struct {
	_     struct{} `cbor:",toarray"`
	ID    []byte   // its node ID (multihash); the certificate must match
	Addrs []string // "IP:PORT", at most MaxPexAddrs
}

// PeerExchange tells a peer who else takes part in a scope, as a delta
// against what was said before on this connection. The scope is the
// 20-byte provider key of a public root, or a folder's 32-byte ID on a
// connection where both sides proved the folder's key. A message with
// neither added nor dropped peers says the sender takes part in the scope.
type PeerExchange struct {
	Scope   []byte    `cbor:"1,keyasint"`
	Added   []PexPeer `cbor:"2,keyasint,omitempty"`
	Dropped []PexPeer `cbor:"3,keyasint,omitempty"`
}

func (PeerExchange) Type() MsgType { return TypePeerExchange }

// decodePex decodes a PeerExchange; ok is false for other types.
func decodePex(f Frame) (m Message, ok bool, err error) {
	if f.Type != TypePeerExchange {
		return nil, false, nil
	}
	msg, err := decodeCBOR[PeerExchange](f.Payload)
	m, err = check(f.Type, msg, err)
	return m, true, err
}

func validatePex(msg Message) error {
	m, ok := msg.(PeerExchange)
	if !ok {
		return nil
	}
	if n := len(m.Scope); n != pexScopeKeyLen && n != pexScopeFolderLen {
		return fmt.Errorf("%w: peer exchange scope of %d bytes", ErrMalformed, n)
	}
	if len(m.Added) > MaxPexAdded || len(m.Dropped) > MaxPexDropped {
		return fmt.Errorf("%w: peer exchange of %d added and %d dropped, limits %d and %d",
			ErrMalformed, len(m.Added), len(m.Dropped), MaxPexAdded, MaxPexDropped)
	}
	for _, list := range [][]PexPeer{m.Added, m.Dropped} {
		for _, p := range list {
			if len(p.ID) != pexNodeIDLen {
				return fmt.Errorf("%w: peer exchange node ID of %d bytes", ErrMalformed, len(p.ID))
			}
			if len(p.Addrs) > MaxPexAddrs {
				return fmt.Errorf("%w: %d addresses for one peer, limit %d", ErrMalformed, len(p.Addrs), MaxPexAddrs)
			}
			for _, a := range p.Addrs {
				ap, err := netip.ParseAddrPort(a)
				if len(a) > pexMaxAddrLen || err != nil || ap.Port() == 0 || ap.String() != a {
					return fmt.Errorf("%w: peer exchange address %.64q", ErrMalformed, a)
				}
			}
		}
	}
	return nil
}
