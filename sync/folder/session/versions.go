package session

import (
	"context"
	"sync"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/wire"
)

// VersionHolder is what a Model implements to answer version queries:
// which of roots, versions of the file at path in folder f, it holds
// whole. A Model without it answers that it holds none.
type VersionHolder interface {
	HeldVersions(ctx context.Context, f identity.FolderID, path string, roots [][]byte) []bool
}

// queries are the version queries this node has sent, by nonce.
type queries struct {
	mu    sync.Mutex
	next  uint64
	reply map[uint64]chan versionReply
}

type versionReply struct {
	conn *swarm.Conn
	have []byte
}

// AskVersions asks every peer sharing f which of roots (versions of the
// file at path) it holds whole, and returns, per root, how many of them
// do. It waits for every answer or for ctx to end; a peer that has not
// answered by then counts as not holding them.
func (s *Session) AskVersions(ctx context.Context, f identity.FolderID, path string, roots [][]byte) []int {
	counts := make([]int, len(roots))
	peers := s.peersOf(f)
	if len(peers) == 0 || len(roots) == 0 {
		return counts
	}
	s.q.mu.Lock()
	if s.q.reply == nil {
		s.q.reply = map[uint64]chan versionReply{}
	}
	s.q.next++
	nonce := s.q.next
	ch := make(chan versionReply, len(peers))
	s.q.reply[nonce] = ch
	s.q.mu.Unlock()
	defer func() {
		s.q.mu.Lock()
		delete(s.q.reply, nonce)
		s.q.mu.Unlock()
	}()
	waiting := map[*swarm.Conn]bool{}
	for _, c := range peers {
		if c.Send(wire.VersionQuery{Folder: f[:], Nonce: nonce, Path: path, Roots: roots}) == nil {
			waiting[c] = true
		}
	}
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			return counts
		case r := <-ch:
			if !waiting[r.conn] {
				continue // a second answer from one peer counts once
			}
			delete(waiting, r.conn)
			for i := range roots {
				if wire.HaveBit(r.have, i) {
					counts[i]++
				}
			}
		}
	}
	return counts
}

// versionQuery answers a peer's query, if it proved the folder.
func (s *Session) versionQuery(ctx context.Context, c *swarm.Conn, m wire.VersionQuery) error {
	f, err := s.proved(c, m.Folder)
	if err != nil {
		return err // refused: the folder was not proved on this connection
	}
	var have []byte
	if vh, ok := s.opt.Model.(VersionHolder); ok {
		for i, h := range vh.HeldVersions(ctx, f, m.Path, m.Roots) {
			if h && i < len(m.Roots) {
				have = wire.SetHaveBit(have, i)
			}
		}
	}
	return ignoreClosed(c.Send(wire.VersionHave{Folder: f[:], Nonce: m.Nonce, Have: have}))
}

// versionHave hands an answer to the query waiting for it.
func (s *Session) versionHave(c *swarm.Conn, m wire.VersionHave) error {
	if _, err := s.proved(c, m.Folder); err != nil {
		return err
	}
	s.q.mu.Lock()
	ch := s.q.reply[m.Nonce]
	s.q.mu.Unlock()
	if ch != nil {
		select {
		case ch <- versionReply{conn: c, have: m.Have}:
		default: // more answers than peers asked: dropped
		}
	}
	return nil
}
