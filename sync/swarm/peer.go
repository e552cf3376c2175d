package swarm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// msgKind is a swarm message, mapped to sync/wire by the link.
type msgKind uint8

const (
	mWantHave msgKind = iota + 1
	mWantBlock
	mHave
	mDontHave
	mCancel
	mBlock
	mChoke
	mUnchoke
	mInterested
	mNotInterested
	mPing  // received: answered with a pong
	mError // sent: why we close
)

func (k msgKind) String() string {
	return [...]string{"?", "want-have", "want-block", "have", "dont-have", "cancel", "block",
		"choke", "unchoke", "interested", "not-interested", "ping", "error"}[min(int(k), int(mError))]
}

// msg is one swarm message: a list of CIDs, or one block.
type msg struct {
	kind  msgKind
	cids  []cid.Cid
	data  []byte     // mBlock: cids[0] and its bytes
	nonce uint64     // mPing
	reqID uint64     // mPing: echoed in the pong
	err   wire.Error // mError
}

// link frames swarm messages on one connection. readMsg is called by the
// reader goroutine only; writeMsg and flush by the writer only.
type link interface {
	readMsg() (msg, error)
	writeMsg(m msg) error // may buffer
	flush() error
	close() error
}

// outItem is one entry of a peer's send queue.
type outItem struct {
	m        msg
	serve    cid.Cid // a block to read and send (m unused)
	announce cid.Cid // send have if we now hold c and may serve it
}

// outq is a peer's send queue: control messages go first, then block
// serves in request order. Cancels remove queued serves.
type outq struct {
	mu      sync.Mutex
	ctrl    []outItem
	serves  []cid.Cid
	current cid.Cid // the serve the writer is working on (waiting for tokens)
	dropped bool    // current was cancelled meanwhile
	closed  bool
	wake    chan struct{}
}

func newOutq() *outq { return &outq{wake: make(chan struct{}, 1)} }

func (q *outq) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outq) push(it outItem) {
	q.mu.Lock()
	if !q.closed {
		q.ctrl = append(q.ctrl, it)
	}
	q.mu.Unlock()
	q.signal()
}

// maxServes bounds the block requests queued for one peer; a peer that
// asks for more before we catch up has the excess ignored (its picker
// times them out and asks elsewhere).
const maxServes = 8192

func (q *outq) pushServes(cs []cid.Cid) {
	q.mu.Lock()
	if !q.closed {
		q.serves = append(q.serves, cs[:min(len(cs), max(0, maxServes-len(q.serves)))]...)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *outq) cancel(cs []cid.Cid) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range cs {
		if c == q.current {
			q.dropped = true
		}
		for i, s := range q.serves {
			if s == c {
				q.serves = append(q.serves[:i], q.serves[i+1:]...)
				break
			}
		}
	}
}

func (q *outq) dropServes() {
	q.mu.Lock()
	q.serves = nil
	q.dropped = q.current.Defined()
	q.mu.Unlock()
}

// finish ends the writer's work on the current serve and reports whether
// it was cancelled (or the peer choked) meanwhile.
func (q *outq) finish() (cancelled bool) {
	q.mu.Lock()
	cancelled = q.dropped
	q.current, q.dropped = cid.Undef, false
	q.mu.Unlock()
	return cancelled
}

func (q *outq) close() {
	q.mu.Lock()
	q.closed = true
	q.ctrl, q.serves = nil, nil
	q.mu.Unlock()
	q.signal()
}

// serveLookahead is how far into a peer's queued serves pop looks for the
// block uploaded least often.
const serveLookahead = 64

// pop returns the next item, or ok=false when the queue is empty. Among the
// first serveLookahead queued serves it takes the one with the lowest
// uploads count (ties: the oldest request), so a seed whose leechers ask
// for the same blocks sends each of them different blocks first, and they
// trade the rest among themselves.
func (q *outq) pop(uploads func(cid.Cid) uint32) (it outItem, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return it, false, true
	case len(q.ctrl) > 0:
		it = q.ctrl[0]
		q.ctrl[0] = outItem{}
		q.ctrl = q.ctrl[1:]
		return it, true, false
	case len(q.serves) > 0:
		best, bestN := 0, uploads(q.serves[0])
		for i := 1; i < min(len(q.serves), serveLookahead) && bestN > 0; i++ {
			if n := uploads(q.serves[i]); n < bestN {
				best, bestN = i, n
			}
		}
		it.serve = q.serves[best]
		q.serves = append(q.serves[:best], q.serves[best+1:]...)
		q.current, q.dropped = it.serve, false
		return it, true, false
	}
	return it, false, false
}

// peer is one connected peer. Its counters and flags are atomics so that
// Peers can read them; the owner goroutine alone decides their values,
// except the byte counters, which the reader and writer add to.
type peer struct {
	id        identity.NodeID
	addr      string
	outbound  bool
	connected time.Time
	link      link
	out       *outq
	done      chan struct{} // closed when the reader and writer have stopped

	bytesIn, bytesOut   atomic.Int64 // block payload bytes
	blocksIn, blocksOut atomic.Int64
	amChoking           atomic.Bool // we do not serve it
	amInterested        atomic.Bool
	peerChoking         atomic.Bool
	peerInterested      atomic.Bool
	strikes             atomic.Int32
	client              string
	listenAddrs         []string
}

// reader reads messages until the connection fails, verifying blocks and
// answering want-have itself, and passes the rest to the owner.
func (s *Swarm) reader(ctx context.Context, p *peer) error {
	for {
		m, err := p.link.readMsg()
		if err != nil {
			return fmt.Errorf("read from %s: %w", p.id.Short(), err)
		}
		switch m.kind {
		case mWantHave:
			var have, dont []cid.Cid
			for _, c := range m.cids {
				if s.mayServe(ctx, p.id, c) {
					have = append(have, c)
				} else {
					dont = append(dont, c)
				}
			}
			if len(have) > 0 {
				p.out.push(outItem{m: msg{kind: mHave, cids: have}})
			}
			if len(dont) > 0 {
				p.out.push(outItem{m: msg{kind: mDontHave, cids: dont}})
				s.send(ctx, event{kind: evPeerWants, peer: p, cids: dont})
			}
		case mWantBlock:
			if !p.amChoking.Load() {
				p.out.pushServes(m.cids)
			}
		case mCancel:
			p.out.cancel(m.cids)
			s.send(ctx, event{kind: evPeerCancels, peer: p, cids: m.cids})
		case mBlock:
			if len(m.cids) != 1 {
				return fmt.Errorf("read from %s: block message without its CID", p.id.Short())
			}
			if err := s.downLimit.WaitN(ctx, len(m.data)); err != nil {
				return err
			}
			p.bytesIn.Add(int64(len(m.data)))
			p.blocksIn.Add(1)
			s.bytesIn.Add(int64(len(m.data)))
			ok := store.VerifyBlock(m.cids[0], m.data) == nil
			s.send(ctx, event{kind: evBlock, peer: p, cids: m.cids, data: m.data, ok: ok})
		case mPing:
			p.out.push(outItem{m: m})
		case mHave, mDontHave, mChoke, mUnchoke, mInterested, mNotInterested:
			s.send(ctx, event{kind: evMsg, peer: p, msg: m})
		}
	}
}

// mayServe reports whether we hold c and the policy lets p have it.
func (s *Swarm) mayServe(ctx context.Context, id identity.NodeID, c cid.Cid) bool {
	if ok, err := s.opt.Store.Has(ctx, c); err != nil || !ok {
		return false
	}
	return s.policy.MayServe(ctx, id, c)
}

// writer sends queued messages and serves requested blocks, flushing
// whenever the queue runs dry.
func (s *Swarm) writer(ctx context.Context, p *peer) error {
	dirty := false
	for {
		it, ok, closed := p.out.pop(s.uploads.count)
		if closed {
			return nil
		}
		if !ok {
			if dirty {
				if err := p.link.flush(); err != nil {
					return fmt.Errorf("write to %s: %w", p.id.Short(), err)
				}
				dirty = false
			}
			select {
			case <-p.out.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var m msg
		switch {
		case it.serve.Defined():
			data, st, err := s.serve(ctx, p, it.serve)
			if err != nil {
				return err
			}
			if st == serveSkip {
				continue // choked or cancelled while waiting for the rate limit
			}
			if st == serveNo {
				m = msg{kind: mDontHave, cids: []cid.Cid{it.serve}}
				break
			}
			m = msg{kind: mBlock, cids: []cid.Cid{it.serve}, data: data}
			s.uploads.add(it.serve)
			p.bytesOut.Add(int64(len(data)))
			p.blocksOut.Add(1)
			s.bytesOut.Add(int64(len(data)))
		case it.announce.Defined():
			if !s.mayServe(ctx, p.id, it.announce) {
				continue
			}
			m = msg{kind: mHave, cids: []cid.Cid{it.announce}}
		default:
			m = it.m
		}
		if err := p.link.writeMsg(m); err != nil {
			return fmt.Errorf("write %s to %s: %w", m.kind, p.id.Short(), err)
		}
		if m.kind == mError {
			return p.link.flush() // the last frame before closing
		}
		dirty = true
	}
}

type serveStatus uint8

const (
	serveOK   serveStatus = iota
	serveNo               // not held, or not for this peer: answer dont-have
	serveSkip             // cancelled or choked meanwhile: send nothing
)

// serve reads block c for p, waiting for upload tokens first.
func (s *Swarm) serve(ctx context.Context, p *peer, c cid.Cid) ([]byte, serveStatus, error) {
	size, err := s.opt.Store.Size(ctx, c)
	if err != nil || !s.policy.MayServe(ctx, p.id, c) {
		p.out.finish()
		return nil, serveNo, nil
	}
	if err := s.upLimit.WaitN(ctx, size); err != nil {
		p.out.finish()
		return nil, serveSkip, err
	}
	if p.out.finish() || p.amChoking.Load() {
		return nil, serveSkip, nil
	}
	data, err := s.opt.Store.Get(ctx, c)
	if err != nil {
		s.log.Warn("cannot serve block", "cid", c, "err", err)
		return nil, serveNo, nil
	}
	return data, serveOK, nil
}

// uploadCounts counts how often each block was sent, across peers. It is
// reset when it grows past a bound: it only steers the order of serves.
type uploadCounts struct {
	mu sync.Mutex
	n  map[cid.Cid]uint32
}

const maxUploadCounts = 1 << 18

func (u *uploadCounts) count(c cid.Cid) uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[c]
}

func (u *uploadCounts) add(c cid.Cid) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil || len(u.n) >= maxUploadCounts {
		u.n = make(map[cid.Cid]uint32)
	}
	u.n[c]++
}
