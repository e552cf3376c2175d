package swarm

import (
	"context"
	"errors"
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
	mExt   // an Extension's message, either way
)

func (k msgKind) String() string {
	return [...]string{"?", "want-have", "want-block", "have", "dont-have", "cancel", "block",
		"choke", "unchoke", "interested", "not-interested", "ping", "error", "extension"}[min(int(k), int(mExt))]
}

// msg is one swarm message: a list of CIDs, or one block.
type msg struct {
	kind   msgKind
	cids   []cid.Cid
	data   []byte       // mBlock: cids[0] and its bytes
	pooled bool         // mBlock: data is from the swarm's recvBufs
	nonce  uint64       // mPing
	reqID  uint64       // mPing: echoed in the pong
	err    wire.Error   // mError
	ext    wire.Message // mExt
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
	serve    cid.Cid   // a block to read and send (m unused)
	job      *serveJob // set by pop for a serve
	announce []cid.Cid // send have for those we now hold and may serve
}

// serveJob is a requested block being read (and, for a reference,
// re-hashed) while the writer sends the blocks before it. Its fields are
// set before done is closed; dropped is guarded by the outq's mutex.
type serveJob struct {
	c       cid.Cid
	done    chan struct{}
	data    []byte
	st      serveStatus
	err     error
	pooled  bool // data is from the swarm's bufPool
	dropped bool // cancelled or choked meanwhile
}

func (j *serveJob) ready() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
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
	failed    chan error    // Conn.Fail: the first error an extension found

	bytesIn, bytesOut   atomic.Int64 // block payload bytes
	blocksIn, blocksOut atomic.Int64
	amChoking           atomic.Bool // we do not serve it
	amInterested        atomic.Bool
	peerChoking         atomic.Bool
	peerInterested      atomic.Bool
	strikes             atomic.Int32
	unasked             atomic.Int64 // block bytes it sent that we never asked for

	askedMu sync.Mutex
	asked   map[cid.Cid]time.Time // want-blocks sent to it, not yet answered or withdrawn

	client      string
	minor       uint16 // the protocol minor version its Hello said
	listenAddrs []string
	exporter    []byte    // TLS exporter value, for extensions
	ext         *Conn     // the peer as extensions see it
	active      time.Time // when block bytes last moved either way; owner only
}

// reader reads messages until the connection fails, answering want-have
// itself, and passes the rest to the owner, blocks verified.
func (s *Swarm) reader(ctx context.Context, p *peer) error {
	// Events for the owner go through a second goroutine, in order, which
	// hashes blocks while this one reads and decrypts the next.
	evs := make(chan event, verifyAhead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range evs {
			if ev.kind == evBlock {
				ev.ok = store.VerifyBlock(ev.cids[0], ev.data) == nil
			}
			s.send(ctx, ev)
		}
	}()
	defer func() {
		close(evs)
		<-done // all passed on before the peer is removed
	}()
	toOwner := func(ev event) {
		select {
		case evs <- ev:
		case <-ctx.Done():
		}
	}
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
				toOwner(event{kind: evPeerWants, peer: p, cids: dont})
			}
			if p.out.overflowed() {
				// The writer may be stuck on a peer that does not read:
				// closing the connection frees it.
				return fmt.Errorf("read from %s: %w", p.id.Short(), errOverflow)
			}
		case mWantBlock:
			if !p.amChoking.Load() {
				p.out.pushServes(m.cids)
			}
		case mCancel:
			p.out.cancel(m.cids)
			toOwner(event{kind: evPeerCancels, peer: p, cids: m.cids})
		case mBlock:
			if len(m.cids) != 1 {
				return fmt.Errorf("read from %s: block message without its CID", p.id.Short())
			}
			if !p.take(m.cids[0]) {
				// Not asked for (or withdrawn): not worth hashing.
				s.dupBytes.Add(int64(len(m.data)))
				if m.pooled {
					s.recvBufs.put(m.data)
				}
				if err := p.unaskedBlock(len(m.data)); err != nil {
					return fmt.Errorf("read from %s: %w", p.id.Short(), err)
				}
				continue
			}
			if err := s.downLimit.WaitN(ctx, len(m.data)); err != nil {
				return err
			}
			p.bytesIn.Add(int64(len(m.data)))
			p.blocksIn.Add(1)
			s.bytesIn.Add(int64(len(m.data)))
			s.blocksIn.Add(1)
			toOwner(event{kind: evBlock, peer: p, cids: m.cids, data: m.data, owned: m.pooled})
		case mPing:
			p.out.push(outItem{m: m})
		case mExt:
			if e := s.extensionFor(m.ext.Type()); e != nil {
				if err := e.Handle(p.ext, m.ext); err != nil {
					return fmt.Errorf("read from %s: %s: %w", p.id.Short(), m.ext.Type(), err)
				}
			}
		case mHave, mDontHave, mChoke, mUnchoke, mInterested, mNotInterested:
			toOwner(event{kind: evMsg, peer: p, msg: m})
		}
	}
}

// verifyAhead is how many messages a peer's reader reads ahead of the
// goroutine that verifies blocks and passes them to the owner.
const verifyAhead = 16

// mayServe reports whether we hold c and the policy lets p have it, or a
// running fetch's Seeder has it (public content, served to anyone).
func (s *Swarm) mayServe(ctx context.Context, id identity.NodeID, c cid.Cid) bool {
	if ok, err := s.opt.Store.Has(ctx, c); err == nil && ok && s.policy.MayServe(ctx, id, c) {
		return true
	}
	return s.seeders.holder(c) != nil
}

// maxServeAhead is how many requested blocks a peer's writer reads (and
// re-hashes, for references) ahead of the one it is sending, so that
// reading overlaps encrypting and sending. With an upload limit the tokens
// are the bottleneck: blocks are taken one at a time, each just before it
// goes, so that the choice among queued requests (least uploaded first)
// sees what was sent to other peers meanwhile.
const (
	maxServeAhead        = 8
	maxServeAheadLimited = 1
)

// writer sends queued messages and serves requested blocks in request
// order, reading the next few blocks concurrently, and flushes whenever it
// has nothing ready to send.
func (s *Swarm) writer(ctx context.Context, p *peer) error {
	ahead := maxServeAhead
	if s.upLimit != nil {
		ahead = maxServeAheadLimited
	}
	loads := newLoaders(func(j *serveJob) { s.load(ctx, p, j) }, ahead)
	defer loads.close()     // after pending is drained below
	var pending []*serveJob // in request order
	defer func() {
		for _, j := range pending {
			<-j.done // no store reads after the swarm is closed
			s.release(j)
		}
	}()
	// Written since the last flush: anything (dirty), anything but blocks.
	dirty, urgent := false, false
	write := func(m msg) error {
		if err := p.link.writeMsg(m); err != nil {
			return fmt.Errorf("write %s to %s: %w", m.kind, p.id.Short(), err)
		}
		dirty, urgent = true, urgent || m.kind != mBlock
		return nil
	}
	for {
		for len(pending) > 0 && pending[0].ready() {
			j := pending[0]
			pending[0] = nil
			pending = pending[1:]
			m, send, err := s.served(p, j)
			if err == nil && send && m.kind == mDontHave {
				// A want-block we cannot answer is a want as a want-have
				// is (it came unasked from a session presuming we hold
				// the block): the peer is told when we get the block.
				s.send(ctx, event{kind: evPeerWants, peer: p, cids: m.cids})
			}
			if err == nil && send {
				if m.kind == mBlock {
					p.out.sent(len(m.data))
				}
				err = write(m) // copies or sends m.data: done with it after
			}
			s.release(j)
			if err != nil {
				return err
			}
		}
		it, ok, closed := p.out.pop(s.uploads.count, len(pending) < ahead)
		if closed {
			return nil
		}
		if !ok {
			// Flush before waiting, unless only blocks are buffered and we
			// wait for the next one being read without an upload limit: it
			// follows in a moment, and a flush per block would end each in
			// a short TLS record.
			if dirty && (urgent || len(pending) == 0 || s.upLimit != nil) {
				if err := p.link.flush(); err != nil {
					return fmt.Errorf("write to %s: %w", p.id.Short(), err)
				}
				dirty, urgent = false, false
			}
			var head <-chan struct{}
			if len(pending) > 0 {
				head = pending[0].done
			}
			select {
			case <-p.out.wake:
			case <-head:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		var m msg
		switch {
		case it.job != nil:
			s.uploads.add(it.serve) // now, so other peers' pops see it
			pending = append(pending, it.job)
			loads.start(it.job)
			continue
		case len(it.announce) > 0:
			var have []cid.Cid
			for _, c := range it.announce {
				if s.mayServe(ctx, p.id, c) {
					have = append(have, c)
				}
			}
			if len(have) == 0 {
				continue
			}
			s.send(ctx, event{kind: evAnnounced, peer: p, cids: have})
			for len(have) > maxCids {
				if err := write(msg{kind: mHave, cids: have[:maxCids]}); err != nil {
					return err
				}
				have = have[maxCids:]
			}
			m = msg{kind: mHave, cids: have}
		default:
			m = it.m
		}
		if err := write(m); err != nil {
			return err
		}
		if m.kind == mError { // the last frame before closing
			if err := p.link.flush(); err != nil {
				return err
			}
			return fmt.Errorf("sent %s: %w", p.id.Short(), m.err)
		}
	}
}

type serveStatus uint8

const (
	serveOK   serveStatus = iota
	serveNo               // not held, or not for this peer: answer dont-have
	serveSkip             // cancelled or choked meanwhile: send nothing
)

// load reads block j.c for p, waiting for upload tokens first, and closes
// j.done. A block read through a reference is re-hashed unless its file
// is unchanged since it was hashed (the peer hashes every block it gets);
// a Seeder verifies what it returns. A block the store lacks, or the policy keeps from
// p, is read from a running fetch's Seeder if one has it.
func (s *Swarm) load(ctx context.Context, p *peer, j *serveJob) {
	defer close(j.done)
	var sd Seeder
	if !s.policy.MayServe(ctx, p.id, j.c) {
		if sd = s.seeders.holder(j.c); sd == nil {
			j.st = serveNo
			return
		}
	}
	if s.upLimit != nil && sd == nil {
		// Tokens before reading: the size without reading the block.
		size, err := s.opt.Store.Size(ctx, j.c)
		if errors.Is(err, store.ErrNotFound) {
			sd = s.seeders.holder(j.c)
		}
		if sd == nil {
			if err != nil {
				j.st = serveNo
				return
			}
			if err := s.upLimit.WaitN(ctx, size); err != nil {
				j.st, j.err = serveSkip, err
				return
			}
		}
	}
	if p.out.isDropped(j) || p.amChoking.Load() {
		j.st = serveSkip
		return
	}
	var data []byte
	err := store.ErrNotFound
	if sd == nil {
		data, err = s.readStore(ctx, j)
		if errors.Is(err, store.ErrNotFound) {
			sd = s.seeders.holder(j.c)
		}
	}
	if sd != nil {
		buf := s.bufs.get()
		if data, err = sd.GetBlock(ctx, j.c, buf); err != nil {
			s.bufs.put(buf)
		}
		j.pooled = true
		if err == nil && s.upLimit != nil {
			if err := s.upLimit.WaitN(ctx, len(data)); err != nil {
				s.bufs.put(data)
				j.st, j.err = serveSkip, err
				return
			}
		}
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("cannot serve block", "cid", j.c, "err", err)
		}
		j.st = serveNo
		return
	}
	j.data, j.st = data, serveOK
}

// readStore reads block j.c from the store, into a pooled buffer when the
// store can.
func (s *Swarm) readStore(ctx context.Context, j *serveJob) ([]byte, error) {
	get := s.opt.Store.Get
	var into func(context.Context, cid.Cid, []byte) ([]byte, error)
	if g, ok := s.opt.Store.(peerGetter); ok {
		into = g.GetForPeer // the peer hashes what it gets
	} else if g, ok := s.opt.Store.(intoGetter); ok {
		into = g.GetInto
	}
	if into == nil {
		return get(ctx, j.c)
	}
	buf := s.bufs.get()
	data, err := into(ctx, j.c, buf)
	if err != nil {
		s.bufs.put(buf)
		return nil, err
	}
	j.pooled = true
	return data, nil
}

// release recycles j's buffer once nothing uses its data any more.
func (s *Swarm) release(j *serveJob) {
	if j.pooled && j.data != nil {
		s.bufs.put(j.data)
	}
	j.data = nil
}

// served turns a finished job into the message to send, if any: the
// block, unless it was cancelled or the peer choked meanwhile, or
// dont-have.
func (s *Swarm) served(p *peer, j *serveJob) (m msg, send bool, err error) {
	cancelled := p.out.finish(j)
	if j.st == serveOK && (cancelled || p.amChoking.Load()) {
		j.st = serveSkip
	}
	switch j.st {
	case serveNo:
		s.uploads.undo(j.c)
		return msg{kind: mDontHave, cids: []cid.Cid{j.c}}, true, nil
	case serveSkip:
		s.uploads.undo(j.c)
		return msg{}, false, j.err
	}
	n := int64(len(j.data))
	p.bytesOut.Add(n)
	p.blocksOut.Add(1)
	s.bytesOut.Add(n)
	s.blocksOut.Add(1)
	return msg{kind: mBlock, cids: []cid.Cid{j.c}, data: j.data}, true, nil
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

// undo takes back an add for a block that was not sent after all.
func (u *uploadCounts) undo(c cid.Cid) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[c] > 0 {
		u.n[c]--
	}
}
