package swarm

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// A Seeder is a Sink that can hand back the blocks it took. dag.TreeWriter
// is one: `shoal get -o` writes blocks into files, not into the store, and
// reads them back from there. While a fetch into a Seeder runs (its
// Session has FetchOptions.Serve, see SinkOptions), the swarm
// serves its blocks to any peer that asks, as a BitTorrent client serves
// the pieces it has while it downloads: content fetched by CID is public.
// A sink of private blocks (folder sync) must not be a Seeder.
//
// The swarm keeps the Seeders of running fetches in a set: a Seeder must
// be comparable, as a pointer is.
type Seeder interface {
	Sink
	// HasBlock reports whether GetBlock can return c.
	HasBlock(c cid.Cid) bool
	// GetBlock returns block c, checked against its hash, in buf when it
	// fits; store.ErrNotFound when it does not have it.
	GetBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// PrivateSeeder is a Seeder whose blocks are only its own fetch's (a
// resumed pull into a synced folder): a DAG walk takes what it holds instead
// of asking peers, but nothing of it is served while the fetch runs.
type PrivateSeeder interface {
	Seeder
	Private()
}

func isPrivate(sd Seeder) bool {
	_, ok := sd.(PrivateSeeder)
	return ok
}

// seeders are the Seeder sinks of the fetches running now.
type seeders struct {
	mu  sync.Mutex
	set map[Seeder]int // a sink may serve several fetches at once
}

func (s *seeders) add(sd Seeder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = make(map[Seeder]int)
	}
	s.set[sd]++
}

func (s *seeders) remove(sd Seeder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set[sd]--; s.set[sd] <= 0 {
		delete(s.set, sd)
	}
}

// holder returns a running fetch's sink that has c, or nil.
func (s *seeders) holder(c cid.Cid) Seeder {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sd := range s.set {
		if sd.HasBlock(c) {
			return sd
		}
	}
	return nil
}
