package strategy

import (
	"cmp"
	"slices"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ConnLimits bound how many peers stay connected, as a connection manager
// does (libp2p's, a BitTorrent client's global limit). The zero value
// gives the defaults.
type ConnLimits struct {
	// High is the count above which idle peers are disconnected, down to
	// Low. Defaults 128 and 96.
	High, Low int
	// Grace is how long a new peer, or one that moved block bytes, is
	// spared. Default 30 s.
	Grace time.Duration
}

// WithDefaults fills in the zero fields.
func (c ConnLimits) WithDefaults() ConnLimits {
	if c.High <= 0 {
		c.High = 128
	}
	if c.Low <= 0 || c.Low > c.High {
		c.Low = c.High * 3 / 4
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	return c
}

// ConnStat is what the trimmer knows of one connected peer.
type ConnStat struct {
	ID        identity.NodeID
	Connected time.Time // when the connection started
	Active    time.Time // when block bytes last moved either way (zero: never)
	Protected bool      // a peer the user asked to keep (--peer)
}

// Trim returns the peers to disconnect: none while at most High are
// connected; past that, the peers neither protected nor within Grace of
// connecting or of moving block bytes, those idle longest first, until Low
// remain or none is left to pick.
func Trim(now time.Time, peers []ConnStat, lim ConnLimits) []identity.NodeID {
	lim = lim.WithDefaults()
	if len(peers) <= lim.High {
		return nil
	}
	var idle []ConnStat
	for _, p := range peers {
		if !p.Protected && now.Sub(p.Connected) >= lim.Grace && now.Sub(p.Active) >= lim.Grace {
			idle = append(idle, p)
		}
	}
	// Idle longest first; among equals, the longest connected.
	slices.SortFunc(idle, func(a, b ConnStat) int {
		la, lb := lastUse(a), lastUse(b)
		if c := la.Compare(lb); c != 0 {
			return c
		}
		return cmp.Or(a.Connected.Compare(b.Connected), a.ID.Compare(b.ID))
	})
	n := min(len(peers)-lim.Low, len(idle))
	out := make([]identity.NodeID, n)
	for i := range n {
		out[i] = idle[i].ID
	}
	return out
}

// lastUse is when a peer was last of use: its last activity, or its
// connecting if it never moved a block.
func lastUse(p ConnStat) time.Time {
	if p.Active.After(p.Connected) {
		return p.Active
	}
	return p.Connected
}
