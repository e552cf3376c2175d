package dht

import (
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

// maxValues bounds the peers returned in one get_peers answer so that it
// fits a datagram.
const maxValues = 100

// peerStore keeps announced peers per infohash until they expire.
type peerStore struct {
	m map[nodeid.ID]map[netip.AddrPort]time.Time // expiry
}

func (p *peerStore) add(ih nodeid.ID, a netip.AddrPort, expires time.Time, maxPeers, maxKeys int) bool {
	set, ok := p.m[ih]
	if !ok {
		if len(p.m) >= maxKeys {
			return false
		}
		set = map[netip.AddrPort]time.Time{}
		p.m[ih] = set
	}
	if _, ok := set[a]; !ok && len(set) >= maxPeers {
		return false
	}
	set[a] = expires
	return true
}

// get returns up to maxValues unexpired peers of ih.
func (p *peerStore) get(ih nodeid.ID, now time.Time) []netip.AddrPort {
	var out []netip.AddrPort
	for a, exp := range p.m[ih] {
		if now.Before(exp) {
			out = append(out, a)
			if len(out) == maxValues {
				break
			}
		}
	}
	return out
}

func (p *peerStore) expire(now time.Time) {
	for ih, set := range p.m {
		for a, exp := range set {
			if !now.Before(exp) {
				delete(set, a)
			}
		}
		if len(set) == 0 {
			delete(p.m, ih)
		}
	}
}

type storedItem struct {
	Item
	expires time.Time
}

// itemStore keeps BEP 44 items by target until they expire.
type itemStore struct {
	m map[nodeid.ID]storedItem
}

func (s *itemStore) get(target nodeid.ID, now time.Time) (Item, bool) {
	it, ok := s.m[target]
	if !ok || !now.Before(it.expires) {
		return Item{}, false
	}
	return it.Item, true
}

func (s *itemStore) expire(now time.Time) {
	for t, it := range s.m {
		if !now.Before(it.expires) {
			delete(s.m, t)
		}
	}
}
