package swarm

import (
	"sync"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Sources is a set of peers that recently sent blocks to the sessions
// sharing it (FetchOptions.Sources). A session asks those peers for the
// blocks it wants with want-blocks straight away, without asking first
// whether they have them: a peer that sent part of a DAG, or another file
// of a folder, almost always holds the rest. A block such a peer lacks
// comes back as dont-have and its request returns to the pool, for the
// peers asked with want-haves as usual. The zero Sources is empty and
// ready to use; it is safe for concurrent use.
type Sources struct {
	mu   sync.Mutex
	last map[identity.NodeID]time.Time // when each last sent a block
}

// sourceFor is how long a peer that sent a block counts as a source.
const sourceFor = 30 * time.Second

func (s *Sources) add(id identity.NodeID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[identity.NodeID]time.Time)
	}
	s.last[id] = now
	if len(s.last) > 64 {
		for q, at := range s.last {
			if now.Sub(at) > sourceFor {
				delete(s.last, q)
			}
		}
	}
}

func (s *Sources) has(id identity.NodeID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.last[id]
	return ok && now.Sub(at) <= sourceFor
}
