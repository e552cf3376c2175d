package dht

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// rawClient speaks KRPC by hand to one server.
type rawClient struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	id   nodeid.ID
	n    int
}

func newRawClient(t *testing.T, s *Server) *rawClient {
	return &rawClient{t: t, conn: listen(t), to: s.Addr().(*net.UDPAddr), id: nodeid.Random()}
}

func (c *rawClient) addr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// send writes raw bytes and returns the decoded answer, or nil after 2s.
func (c *rawClient) roundTrip(b []byte) *krpc.Msg {
	c.t.Helper()
	if b != nil {
		if _, err := c.conn.WriteTo(b, c.to); err != nil {
			c.t.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := c.conn.ReadFrom(buf)
	if err != nil {
		return nil
	}
	m, err := krpc.Decode(buf[:n])
	if err != nil {
		c.t.Fatalf("server sent undecodable %q: %v", buf[:n], err)
	}
	if m.Y == "q" { // the server checks on us: answer like a node, read on
		b, _ := (&krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: c.id}}).Encode()
		c.conn.WriteTo(b, c.to)
		return c.roundTrip(nil)
	}
	return m
}

func (c *rawClient) query(q string, a *krpc.Args) *krpc.Msg {
	c.t.Helper()
	c.n++
	a.ID = c.id
	b, err := (&krpc.Msg{T: string(rune('a' + c.n%26)), Y: "q", Q: q, A: a}).Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	m := c.roundTrip(b)
	if m == nil {
		c.t.Fatalf("%s: no answer", q)
	}
	return m
}

func wantCode(t *testing.T, what string, m *krpc.Msg, code int) {
	t.Helper()
	if code == 0 {
		if m.Y != "r" {
			t.Errorf("%s: got %+v, want a response", what, m.E)
		}
		return
	}
	if m.Y != "e" || m.E.Code != code {
		t.Errorf("%s: got y=%q e=%+v, want error %d", what, m.Y, m.E, code)
	}
}

func TestWireQueries(t *testing.T) {
	s := startServer(t, Config{})
	c := newRawClient(t, s)

	m := c.query(krpc.Ping, &krpc.Args{})
	wantCode(t, "ping", m, 0)
	if m.R.ID != s.ID() || m.IP != c.addr() {
		t.Errorf("ping answer id %x ip %v, want %x %v", m.R.ID, m.IP, s.ID(), c.addr())
	}
	wantCode(t, "unknown method", c.query("frobnicate", &krpc.Args{}), krpc.CodeMethod)
	wantCode(t, "find_node without target", c.roundTrip([]byte("d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe")), krpc.CodeProtocol)
	wantCode(t, "announce without port", c.roundTrip([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:abcdefghij01234567895:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe")), krpc.CodeProtocol)

	// The server pinged the client to verify it; once it answered, it is
	// in the table and find_node returns it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		m = c.query(krpc.FindNode, &krpc.Args{Target: c.id})
		if len(m.R.Nodes) == 1 && m.R.Nodes[0].ID == c.id && m.R.Nodes[0].Addr == c.addr() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("find_node nodes = %v, want the client", m.R.Nodes)
		}
	}

	ih := nodeid.Random()
	wantCode(t, "announce with a bad token", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 7000, Token: "forged"}), krpc.CodeProtocol)
	m = c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih})
	if m.R.Token == "" || len(m.R.Values) != 0 {
		t.Fatalf("get_peers before announce: token %q values %v", m.R.Token, m.R.Values)
	}
	// A token given to another address is refused.
	other := newRawClient(t, s)
	wantCode(t, "announce with another's token", other.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 7000, Token: m.R.Token}), 0)
	wantCode(t, "announce", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 7000, Token: m.R.Token}), 0)
	wantCode(t, "announce implied", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, ImpliedPort: true, Token: m.R.Token}), 0)
	m = c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih})
	want := map[netip.AddrPort]bool{netip.MustParseAddrPort("127.0.0.1:7000"): true, c.addr(): true}
	if len(m.R.Values) != 2 || !want[m.R.Values[0]] || !want[m.R.Values[1]] {
		t.Errorf("get_peers values = %v, want %v", m.R.Values, want)
	}
}

func TestWireTokenIsPerAddress(t *testing.T) {
	s := startServer(t, Config{})
	a, b := newRawClient(t, s), newRawClient(t, s)
	ih := nodeid.Random()
	tok := a.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}).R.Token
	// Tokens are bound to the IP (both clients are 127.0.0.1), as BEP 5 does;
	// a different IP must get a different token.
	s.mu.Lock()
	other := s.tokens.issue(netip.MustParseAddr("127.0.0.2"), time.Now())
	s.mu.Unlock()
	if other == tok {
		t.Error("tokens of two IPs are equal")
	}
	wantCode(t, "same IP", b.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 1, Token: tok}), 0)
}

func TestWirePutErrors(t *testing.T) {
	s := startServer(t, Config{})
	c := newRawClient(t, s)
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	salt := []byte("s")
	target := krpc.MutableTarget(priv.Public().(ed25519.PublicKey), salt)
	tok := c.query(krpc.Get, &krpc.Args{Target: target}).R.Token

	put := func(seq int64, v string, cas *int64, mangle func(*krpc.Args)) *krpc.Msg {
		sig := ed25519.Sign(priv, krpc.SignedBytes(salt, seq, []byte(v)))
		k := []byte(priv.Public().(ed25519.PublicKey))
		a := &krpc.Args{Token: tok, V: []byte(v), K: k, Salt: salt, Sig: sig, Seq: &seq, CAS: cas}
		if mangle != nil {
			mangle(a)
		}
		return c.query(krpc.Put, a)
	}
	one, nine := int64(1), int64(9)
	wantCode(t, "put seq 2", put(2, "1:a", nil, nil), 0)
	wantCode(t, "same seq, same value", put(2, "1:a", nil, nil), 0)
	wantCode(t, "older seq", put(1, "1:b", nil, nil), krpc.CodeSeqTooLow)
	wantCode(t, "same seq, new value", put(2, "1:b", nil, nil), krpc.CodeSeqTooLow)
	wantCode(t, "cas mismatch", put(3, "1:c", &one, nil), krpc.CodeCASMismatch)
	wantCode(t, "bad signature", put(3, "1:c", nil, func(a *krpc.Args) { a.Sig[0] ^= 1 }), krpc.CodeBadSig)
	wantCode(t, "salt too big", put(3, "1:c", nil, func(a *krpc.Args) { a.Salt = make([]byte, 65) }), krpc.CodeSaltTooBig)
	big := "1000:" + strings.Repeat("x", 1000)
	wantCode(t, "value too big", put(3, big, nil, nil), krpc.CodeTooBig)
	wantCode(t, "bad token", put(3, "1:c", nil, func(a *krpc.Args) { a.Token = "nope" }), krpc.CodeProtocol)
	seq2 := int64(2)
	wantCode(t, "cas match", put(3, "1:c", &seq2, nil), 0)

	m := c.query(krpc.Get, &krpc.Args{Target: target})
	if m.R.Seq == nil || *m.R.Seq != 3 || string(m.R.V) != "1:c" {
		t.Errorf("get after puts: seq %v v %q", m.R.Seq, m.R.V)
	}
	// With seq given, an item no newer is not sent again.
	m = c.query(krpc.Get, &krpc.Args{Target: target, Seq: &nine})
	if m.R.V != nil {
		t.Errorf("get with seq 9 returned v %q", m.R.V)
	}

	// Immutable: stored under the SHA-1 of v.
	v := []byte("5:hello")
	wantCode(t, "immutable put", c.query(krpc.Put, &krpc.Args{Token: tok, V: v}), 0)
	m = c.query(krpc.Get, &krpc.Args{Target: krpc.ImmutableTarget(v)})
	if string(m.R.V) != "5:hello" {
		t.Errorf("immutable get = %q", m.R.V)
	}
}

func TestRandomPacketsLeaveNodeServing(t *testing.T) {
	s := startServer(t, Config{RateLimit: -1})
	c := newRawClient(t, s)
	valid := [][]byte{
		[]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"),
		[]byte("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"),
		[]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:abcdefghij01234567895:nodes26:abcdefghij0123456789\x7f\x00\x00\x01\x1a\xe1e1:t2:aa1:y1:re"),
		[]byte("d1:eli201e5:errore1:t2:aa1:y1:ee"),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10000 {
		var b []byte
		switch i % 3 {
		case 0: // pure noise
			b = make([]byte, rng.IntN(200))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		default: // a valid message with bytes flipped, cut or repeated
			b = append([]byte(nil), valid[rng.IntN(len(valid))]...)
			for range 1 + rng.IntN(4) {
				switch j := rng.IntN(len(b)); rng.IntN(3) {
				case 0:
					b[j] = byte(rng.Uint32())
				case 1:
					b = b[:j]
				default:
					b = append(b[:j], append([]byte("l"), b[j:]...)...)
				}
				if len(b) == 0 {
					break
				}
			}
		}
		if _, err := c.conn.WriteTo(b, c.to); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel drops datagrams while the backlog drains, so the probe
	// from a fresh socket is retried; the node must answer one of them.
	p := newRawClient(t, s)
	ping := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:pp1:y1:qe")
	answered := false
	buf := make([]byte, 2048)
	for range 20 {
		p.conn.WriteTo(ping, p.to)
		p.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		m, err := krpc.Decode(buf[:n])
		if err != nil || m.Y != "r" || m.T != "pp" || m.R.ID != s.ID() {
			t.Fatalf("answer to ping: %+v %v", m, err)
		}
		answered = true
		break
	}
	if !answered {
		t.Fatal("no answer to ping after 10000 random packets")
	}
	st := s.Stats()
	if st.Malformed == 0 {
		t.Errorf("stats %+v: no packet counted malformed", st)
	}
	t.Logf("stats after noise: %+v", st)
}

func TestFloodIsRateLimited(t *testing.T) {
	s := startServer(t, Config{RateLimit: 20})
	c := newRawClient(t, s)
	ping := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	for range 2000 {
		c.conn.WriteTo(ping, c.to)
	}
	// Count answers until the socket stays quiet.
	answers := 0
	buf := make([]byte, 2048)
	for {
		c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := c.conn.ReadFrom(buf); err != nil {
			break
		}
		answers++
	}
	if answers == 0 || answers > 200 {
		t.Errorf("%d of 2000 flooded pings answered, want between 1 and 200", answers)
	}
	if s.Stats().RateLimited == 0 {
		t.Error("nothing counted as rate limited")
	}
	// Another source is still served.
	wantCode(t, "ping from another source", newRawClient(t, s).query(krpc.Ping, &krpc.Args{}), 0)
}

func TestUsableAddresses(t *testing.T) {
	tests := []struct {
		addr         string
		open, public bool
	}{
		{"127.0.0.1:6881", true, false},
		{"127.0.0.1:0", false, false},
		{"0.0.0.0:6881", false, false},
		{"10.1.2.3:6881", true, false},
		{"192.168.1.5:6881", true, false},
		{"100.64.1.1:6881", true, false},
		{"203.0.113.9:6881", true, false},
		{"224.0.0.1:6881", false, false},
		{"8.8.8.8:6881", true, true},
		{"8.8.8.8:0", false, false},
		{"[2001:4860::1]:6881", true, true},
		{"[::1]:6881", true, false},
		{"[fe80::1]:6881", true, false},
		{"[fd00::1]:6881", true, false},
	}
	open := &Server{cfg: Config{}}
	pub := &Server{cfg: Config{Public: true}}
	for _, tt := range tests {
		a := netip.MustParseAddrPort(tt.addr)
		if got := open.usable(a); got != tt.open {
			t.Errorf("usable(%s) = %v, want %v", tt.addr, got, tt.open)
		}
		if got := pub.usable(a); got != tt.public {
			t.Errorf("public usable(%s) = %v, want %v", tt.addr, got, tt.public)
		}
	}
}

// A reply that lists nodes at port 0 (or, when public, at private
// addresses) must not put them into the routing table.
func TestRepliedNodesAreFiltered(t *testing.T) {
	s := startServer(t, Config{})
	fake := listen(t)
	good := krpc.NodeInfo{ID: nodeid.Random(), Addr: netip.MustParseAddrPort("127.0.0.1:9")}
	zero := krpc.NodeInfo{ID: nodeid.Random(), Addr: netip.MustParseAddrPort("127.0.0.1:0")}
	fakeID := nodeid.Random()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := fake.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := krpc.Decode(buf[:n])
			if err != nil || m.Y != "q" {
				continue
			}
			r := &krpc.Return{ID: fakeID}
			if m.Q == krpc.FindNode {
				r.Nodes = []krpc.NodeInfo{good, zero}
			}
			b, _ := (&krpc.Msg{T: m.T, Y: "r", R: r}).Encode()
			fake.WriteTo(b, from)
		}
	}()
	ctx := t.Context()
	if _, err := s.Ping(ctx, fake.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	s.FindNode(ctx, nodeid.Random())
	nodes := s.Nodes()
	ids := map[nodeid.ID]bool{}
	for _, n := range nodes {
		ids[n.ID] = true
	}
	if !ids[fakeID] {
		t.Error("the answering node is not in the table")
	}
	if ids[zero.ID] {
		t.Error("a node at port 0 entered the table")
	}
}

// With Public set, a node ignores packets from loopback and private
// addresses entirely.
func TestPublicIgnoresLoopback(t *testing.T) {
	s := startServer(t, Config{Public: true})
	c := newRawClient(t, s)
	c.conn.WriteTo([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), c.to)
	c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c.conn.ReadFrom(make([]byte, 100)); err == nil {
		t.Error("a public node answered a loopback ping")
	}
	if s.Stats().Dropped == 0 {
		t.Error("the packet was not counted as dropped")
	}
	if _, err := s.Ping(t.Context(), c.addr()); !errors.Is(err, ErrAddress) {
		t.Errorf("public node pinging loopback: %v, want ErrAddress", err)
	}
}
