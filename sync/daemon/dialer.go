package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
)

// dialer keeps connections to static peers: it dials each, and redials
// with exponential backoff (1 s to 1 min) whenever the peer is not
// connected, except while the swarm bans it for having sent bad blocks.
// Static peers are protected: the swarm never lets them go as idle.
type dialer struct {
	d *Daemon
}

func newDialer(d *Daemon) *dialer { return &dialer{d: d} }

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	checkEvery = 2 * time.Second
)

// keep dials addr now and whenever it is found disconnected.
func (dl *dialer) keep(ctx context.Context, addr transport.PeerAddr) {
	dl.d.goRun(func() error {
		backoff := minBackoff
		known := addr.ID
		for {
			wait := checkEvery
			if until, banned := dl.d.swarm.BannedUntil(known); banned && !known.IsZero() {
				wait = max(time.Until(until), checkEvery) // it lied to us: not before the ban ends
			} else if known.IsZero() || !dl.connected(known) {
				id, err := dl.dial(ctx, addr)
				switch {
				case err == nil || errors.Is(err, swarm.ErrDuplicatePeer):
					known, backoff = id, minBackoff
					dl.d.swarm.Protect(id) // a peer the user named: never trimmed
				case errors.Is(err, swarm.ErrBanned):
					known = id
				default:
					if ctx.Err() != nil {
						return nil
					}
					dl.d.log.Info("dial peer", "addr", addr, "err", err, "retry in", backoff)
					wait = backoff
					backoff = min(backoff*2, maxBackoff)
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	})
}

func (dl *dialer) dial(ctx context.Context, addr transport.PeerAddr) (identity.NodeID, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(dctx, addr, dl.d.node.Identity())
	if err != nil {
		return identity.NodeID{}, err
	}
	id := conn.RemoteID()
	if dl.connected(id) {
		conn.Close()
		return id, nil
	}
	if err := dl.d.swarm.AddConn(conn); err != nil {
		return id, err
	}
	dl.d.log.Info("peer connected", "peer", id, "addr", addr, "dir", "out")
	return id, nil
}

func (dl *dialer) connected(id identity.NodeID) bool {
	for _, p := range dl.d.swarm.Peers() {
		if p.ID == id {
			return true
		}
	}
	return false
}
