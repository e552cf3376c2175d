package dht

import (
	"context"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/routing"
)

// armMaintain schedules the next maintenance run MaintainInterval from now;
// a timer, not a waiting goroutine, holds it.
func (s *Server) armMaintain() {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return
	}
	s.maintT = time.AfterFunc(s.cfg.MaintainInterval, func() {
		s.goBackground(func(ctx context.Context) {
			s.maintain(ctx)
			s.armMaintain()
		})
	})
}

// maintain runs the periodic work once: expiry of peers and items, refresh
// of idle buckets and saving the table every five minutes.
func (s *Server) maintain(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	s.peers.expire(now)
	s.items.expire(now)
	s.tokens.rotate(now)
	stale := s.table.Stale(now)
	for _, i := range stale {
		s.table.Refreshed(i, now)
	}
	s.mu.Unlock()
	for _, i := range stale {
		if ctx.Err() != nil {
			return
		}
		target := nodeid.RandomInBucket(s.id, i)
		if _, err := s.lookup(ctx, target, krpc.FindNode, nil); err != nil {
			s.log.Debug("refresh bucket", "bucket", i, "err", err)
		}
	}
	if now.Sub(s.lastSave) >= 5*time.Minute {
		s.lastSave = now
		s.save()
	}
}

// save writes the table's usable nodes to the Store.
func (s *Server) save() {
	if s.cfg.Store == nil {
		return
	}
	s.mu.Lock()
	var nodes []NodeInfo
	now := time.Now()
	for _, e := range s.table.Entries() {
		if e.State(now) != routing.Bad {
			nodes = append(nodes, e.NodeInfo)
		}
	}
	s.mu.Unlock()
	if err := s.cfg.Store.SaveNodes(nodes); err != nil {
		s.log.Warn("save routing table", "err", err)
	}
}
