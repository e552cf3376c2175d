package strategy

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ChokerConfig tunes a Choker. The zero value gives the defaults.
type ChokerConfig struct {
	// Slots is the number of regular unchoke slots. Default 4.
	Slots int
	// Interval is how often the swarm calls Rechoke. Default 10 s.
	Interval time.Duration
	// OptimisticInterval is how long one optimistic unchoke lasts. Default 30 s.
	OptimisticInterval time.Duration
	// NewPeer is how long a peer counts as new: new peers are three times
	// as likely to be picked for the optimistic unchoke. Default 30 s.
	NewPeer time.Duration
	// Seed seeds the optimistic pick.
	Seed uint64
}

func (c ChokerConfig) withDefaults() ChokerConfig {
	if c.Slots <= 0 {
		c.Slots = 4
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.OptimisticInterval <= 0 {
		c.OptimisticInterval = 30 * time.Second
	}
	if c.NewPeer <= 0 {
		c.NewPeer = 30 * time.Second
	}
	return c
}

// PeerStat is what the choker knows of one connected peer.
type PeerStat struct {
	ID identity.NodeID
	// Interested: the peer wants blocks from us.
	Interested bool
	// Gave is the payload bytes it sent us over the last 20 s.
	Gave int64
	// Took is the payload bytes we sent it over the last 20 s.
	Took int64
	// Connected is when the connection started.
	Connected time.Time
}

// Choker decides which peers we upload to: the Slots interested peers that
// gave us the most over the last 20 s (tit-for-tat; when we are only
// seeding, those we uploaded to fastest, as BitTorrent seeds do), plus one
// optimistic unchoke rotated every OptimisticInterval. It does no I/O and
// is not safe for concurrent use.
type Choker struct {
	cfg        ChokerConfig
	rng        *rand.Rand
	salt       uint64
	regular    []identity.NodeID
	optimistic identity.NodeID
	optAt      time.Time
}

// NewChoker returns a Choker with every peer choked.
func NewChoker(cfg ChokerConfig) *Choker {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))
	return &Choker{cfg: cfg, rng: rng, salt: rng.Uint64()}
}

// Config returns the configuration in use, defaults filled in.
func (c *Choker) Config() ChokerConfig { return c.cfg }

// Optimistic returns the current optimistic unchoke (zero if none).
func (c *Choker) Optimistic() identity.NodeID { return c.optimistic }

// tieKey orders peers of equal rate: a per-choker random order, so that
// nodes do not all favour the same peers (as sorting by ID would) and leave
// the same others choked everywhere.
func (c *Choker) tieKey(id identity.NodeID) uint64 {
	h := fnv.New64a()
	var salt [8]byte
	binary.LittleEndian.PutUint64(salt[:], c.salt)
	h.Write(salt[:])
	h.Write(id.Bytes())
	return h.Sum64()
}

// rank sorts interested peers best first.
func (c *Choker) rank(peers []PeerStat, seeding bool) []PeerStat {
	var out []PeerStat
	for _, p := range peers {
		if p.Interested {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b PeerStat) int {
		ra, rb := a.Gave, b.Gave
		if seeding {
			ra, rb = a.Took, b.Took
		}
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return cmp.Compare(c.tieKey(a.ID), c.tieKey(b.ID))
	})
	return out
}

// Rechoke makes the full decision at now (every Interval): the best Slots
// interested peers by rate, and the optimistic unchoke, rotated when it is
// OptimisticInterval old, gone, no longer interested, or now regular.
// seeding says we have nothing to download. It returns the unchoked peers.
func (c *Choker) Rechoke(now time.Time, peers []PeerStat, seeding bool) []identity.NodeID {
	ranked := c.rank(peers, seeding)
	c.regular = c.regular[:0]
	for _, p := range ranked {
		if len(c.regular) == c.cfg.Slots {
			break
		}
		c.regular = append(c.regular, p.ID)
	}
	keep := false
	if !c.optimistic.IsZero() && now.Sub(c.optAt) < c.cfg.OptimisticInterval && !slices.Contains(c.regular, c.optimistic) {
		for _, p := range ranked {
			if p.ID == c.optimistic {
				keep = true
			}
		}
	}
	if !keep {
		c.pickOptimistic(now, ranked)
	}
	return c.unchoked()
}

// Fill adds interested peers to free slots without reconsidering those
// already unchoked (for a peer that just became interested, so it need not
// wait for the next Rechoke). It returns the unchoked peers.
func (c *Choker) Fill(now time.Time, peers []PeerStat, seeding bool) []identity.NodeID {
	ranked := c.rank(peers, seeding)
	interested := func(id identity.NodeID) bool {
		return slices.ContainsFunc(ranked, func(p PeerStat) bool { return p.ID == id })
	}
	c.regular = slices.DeleteFunc(c.regular, func(id identity.NodeID) bool { return !interested(id) })
	if !c.optimistic.IsZero() && !interested(c.optimistic) {
		c.optimistic = identity.NodeID{}
	}
	for _, p := range ranked {
		if len(c.regular) == c.cfg.Slots {
			break
		}
		if !slices.Contains(c.regular, p.ID) && p.ID != c.optimistic {
			c.regular = append(c.regular, p.ID)
		}
	}
	if c.optimistic.IsZero() {
		c.pickOptimistic(now, ranked)
	}
	return c.unchoked()
}

// pickOptimistic picks at random among interested peers not regularly
// unchoked, new peers weighted three times.
func (c *Choker) pickOptimistic(now time.Time, ranked []PeerStat) {
	c.optimistic = identity.NodeID{}
	total := 0
	weight := func(p PeerStat) int {
		if slices.Contains(c.regular, p.ID) {
			return 0
		}
		if now.Sub(p.Connected) < c.cfg.NewPeer {
			return 3
		}
		return 1
	}
	for _, p := range ranked {
		total += weight(p)
	}
	if total == 0 {
		return
	}
	r := c.rng.IntN(total)
	for _, p := range ranked {
		if r -= weight(p); r < 0 {
			c.optimistic, c.optAt = p.ID, now
			return
		}
	}
}

func (c *Choker) unchoked() []identity.NodeID {
	out := slices.Clone(c.regular)
	if !c.optimistic.IsZero() {
		out = append(out, c.optimistic)
	}
	return out
}
