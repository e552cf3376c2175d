package swarm

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// helloTimeout bounds the hello exchange on a new connection.
const helloTimeout = 10 * time.Second

// wireLink frames swarm messages with sync/wire on a transport.Conn.
type wireLink struct {
	conn *transport.Conn
	r    *bufio.Reader
	fr   *wire.Reader // frames from r into one reused buffer
	w    *bufio.Writer
	bufs *recvPool // what received block data is copied into
}

// newWireLink frames on conn. Its reader's buffer is small: block payloads
// larger than it are read past it, straight into the frame buffer.
func newWireLink(conn *transport.Conn, bufs *recvPool) *wireLink {
	r := bufio.NewReaderSize(conn, 4<<10)
	return &wireLink{conn: conn, r: r, fr: wire.NewReader(r, 0), w: bufio.NewWriterSize(conn, 256<<10), bufs: bufs}
}

// hello sends ours and reads the peer's, checking its version.
func (l *wireLink) hello(h wire.Hello) (wire.Hello, error) {
	l.conn.SetDeadline(time.Now().Add(helloTimeout))
	defer l.conn.SetDeadline(time.Time{})
	if err := wire.WriteMessage(l.w, h, 0); err != nil {
		return wire.Hello{}, err
	}
	if err := l.w.Flush(); err != nil {
		return wire.Hello{}, fmt.Errorf("send hello: %w", err)
	}
	f, err := wire.ReadFrame(l.r)
	if err != nil {
		return wire.Hello{}, fmt.Errorf("read hello: %w", err)
	}
	m, err := wire.Decode(f)
	if err != nil {
		return wire.Hello{}, fmt.Errorf("read hello: %w", err)
	}
	if e, ok := m.(wire.Error); ok {
		return wire.Hello{}, fmt.Errorf("read hello: %w: %w", errPeerError, e)
	}
	theirs, ok := m.(wire.Hello)
	if !ok {
		return wire.Hello{}, fmt.Errorf("read hello: got %s first: %w", f.Type, wire.ErrMalformed)
	}
	if err := wire.CheckHello(theirs); err != nil {
		l.sendError(err)
		return wire.Hello{}, err
	}
	return theirs, nil
}

// refuse answers the peer's hello with e instead of ours, best effort.
// Reading its hello first lets the connection close cleanly, so that the
// peer reads e rather than a reset.
func (l *wireLink) refuse(e wire.Error) {
	l.conn.SetDeadline(time.Now().Add(helloTimeout))
	if _, err := wire.ReadFrame(l.r); err != nil {
		return
	}
	l.sendError(e)
}

// sendError tells the peer why we close, best effort.
func (l *wireLink) sendError(err error) {
	l.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if wire.WriteMessage(l.w, wire.ErrorFor(err), 0) == nil {
		l.w.Flush()
	}
}

// errPeerError wraps the Error a peer sent before closing.
var errPeerError = errors.New("peer sent error")

// readMsg reads the next swarm message. A block's data is read straight
// into a buffer from l.bufs (msg.pooled); decoded CIDs are copies, so
// nothing refers to the reader's reused buffers.
func (l *wireLink) readMsg() (msg, error) {
	for {
		f, b, err := l.fr.ReadFrameAlloc(l.bufs.get)
		if err != nil {
			return msg{}, err
		}
		if f.Type == wire.TypeBlock {
			c, err := cid.Cast(b.CID)
			if err != nil {
				l.bufs.put(b.Data)
				return msg{}, fmt.Errorf("block CID: %w: %v", wire.ErrMalformed, err)
			}
			return msg{kind: mBlock, cids: []cid.Cid{c}, data: b.Data, pooled: true}, nil
		}
		if f.Type.Reserved() {
			continue // folder sync and peer exchange: not ours
		}
		m, err := wire.Decode(f)
		if err != nil {
			return msg{}, err
		}
		switch m := m.(type) {
		case wire.WantHave:
			return wantsMsg(mWantHave, m.Wants)
		case wire.WantBlock:
			return wantsMsg(mWantBlock, m.Wants)
		case wire.Have:
			return cidsMsg(mHave, m.CIDs)
		case wire.DontHave:
			return cidsMsg(mDontHave, m.CIDs)
		case wire.Cancel:
			return cidsMsg(mCancel, m.CIDs)
		case wire.Interested:
			return msg{kind: mInterested}, nil
		case wire.NotInterested:
			return msg{kind: mNotInterested}, nil
		case wire.Choke:
			return msg{kind: mChoke}, nil
		case wire.Unchoke:
			return msg{kind: mUnchoke}, nil
		case wire.Ping:
			return msg{kind: mPing, nonce: m.Nonce, reqID: f.ReqID}, nil
		case wire.Error:
			return msg{}, fmt.Errorf("%w: %w", errPeerError, m)
		case wire.Hello:
			return msg{}, fmt.Errorf("second hello: %w", wire.ErrMalformed)
		case wire.FolderProof, wire.IndexSummary, wire.IndexRecords, wire.IndexAck, wire.PeerExchange, wire.VersionQuery, wire.VersionHave:
			return msg{kind: mExt, ext: m}, nil
		}
		// Pong and anything else this version decodes but the swarm does not use.
	}
}

func wantsMsg(kind msgKind, ws []wire.Want) (msg, error) {
	m := msg{kind: kind, cids: make([]cid.Cid, 0, len(ws))}
	for _, w := range ws {
		c, err := cid.Cast(w.CID)
		if err != nil {
			return msg{}, fmt.Errorf("%s CID: %w: %v", kind, wire.ErrMalformed, err)
		}
		m.cids = append(m.cids, c)
	}
	return m, nil
}

func cidsMsg(kind msgKind, bs [][]byte) (msg, error) {
	m := msg{kind: kind, cids: make([]cid.Cid, 0, len(bs))}
	for _, b := range bs {
		c, err := cid.Cast(b)
		if err != nil {
			return msg{}, fmt.Errorf("%s CID: %w: %v", kind, wire.ErrMalformed, err)
		}
		m.cids = append(m.cids, c)
	}
	return m, nil
}

func cidBytes(cs []cid.Cid) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Bytes()
	}
	return out
}

func wants(cs []cid.Cid) []wire.Want {
	out := make([]wire.Want, len(cs))
	for i, c := range cs {
		out[i] = wire.Want{CID: c.Bytes(), Flags: wire.SendDontHave}
	}
	return out
}

func (l *wireLink) writeMsg(m msg) error {
	var wm wire.Message
	switch m.kind {
	case mWantHave:
		wm = wire.WantHave{Wants: wants(m.cids)}
	case mWantBlock:
		wm = wire.WantBlock{Wants: wants(m.cids)}
	case mHave:
		wm = wire.Have{CIDs: cidBytes(m.cids)}
	case mDontHave:
		wm = wire.DontHave{CIDs: cidBytes(m.cids)}
	case mCancel:
		wm = wire.Cancel{CIDs: cidBytes(m.cids)}
	case mBlock:
		return wire.WriteBlock(l.w, 0, m.cids[0].Bytes(), m.data)
	case mInterested:
		wm = wire.Interested{}
	case mNotInterested:
		wm = wire.NotInterested{}
	case mChoke:
		wm = wire.Choke{}
	case mUnchoke:
		wm = wire.Unchoke{}
	case mPing:
		wm = wire.Pong{Nonce: m.nonce}
	case mExt:
		wm = m.ext
	case mError:
		// The last frame: to a peer that does not read, not for long.
		l.conn.SetWriteDeadline(time.Now().Add(time.Second))
		wm = m.err
	default:
		return fmt.Errorf("write: unknown swarm message %d", m.kind)
	}
	return wire.WriteMessage(l.w, wm, m.reqID)
}

func (l *wireLink) flush() error { return l.w.Flush() }
func (l *wireLink) close() error { return l.conn.Close() }
