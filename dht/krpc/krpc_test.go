package krpc

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

var (
	idA = nodeid.ID([]byte("abcdefghij0123456789"))
	idB = nodeid.ID([]byte("mnopqrstuvwxyz123456"))
)

// BEP 5's own examples, byte for byte.
func TestBEP5Examples(t *testing.T) {
	tests := []struct {
		wire string
		msg  Msg
	}{
		{"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
			Msg{T: "aa", Y: "q", Q: Ping, A: &Args{ID: idA}}},
		{"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
			Msg{T: "aa", Y: "r", R: &Return{ID: idB}}},
		{"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
			Msg{T: "aa", Y: "e", E: &Error{Code: 201, Msg: "A Generic Error Ocurred"}}},
		{"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
			Msg{T: "aa", Y: "q", Q: FindNode, A: &Args{ID: idA, Target: idB}}},
		{"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
			Msg{T: "aa", Y: "q", Q: GetPeers, A: &Args{ID: idA, InfoHash: idB}}},
		{"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
			Msg{T: "aa", Y: "q", Q: AnnouncePeer, A: &Args{ID: idA, InfoHash: idB, Port: 6881, ImpliedPort: true, Token: "aoeusnth"}}},
		{"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
			Msg{T: "aa", Y: "r", R: &Return{ID: idA, Token: "aoeusnth", Values: []netip.AddrPort{
				netip.MustParseAddrPort("97.120.106.101:11893"), netip.MustParseAddrPort("105.100.104.116:28269")}}}},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.wire))
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.wire, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.msg) {
			t.Errorf("Decode(%q) =\n %+v, want\n %+v", tt.wire, got, tt.msg)
		}
		enc, err := tt.msg.Encode()
		if err != nil || string(enc) != tt.wire {
			t.Errorf("Encode = %q, %v\nwant %q", enc, err, tt.wire)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	seq, cas := int64(4), int64(3)
	nodes := []NodeInfo{
		{ID: idA, Addr: netip.MustParseAddrPort("1.2.3.4:5")},
		{ID: idB, Addr: netip.MustParseAddrPort("9.8.7.6:65535")},
	}
	nodes6 := []NodeInfo{{ID: idB, Addr: netip.MustParseAddrPort("[2001:db8::1]:6881")}}
	msgs := []Msg{
		{T: "t1", Y: "q", Q: Get, A: &Args{ID: idA, Target: idB, Seq: &seq, Want: []string{"n4", "n6"}}, V: "SH01"},
		{T: "t2", Y: "q", Q: Put, A: &Args{ID: idA, Token: "tok", V: []byte("l1:ai1ee"),
			K: bytes.Repeat([]byte{1}, 32), Salt: []byte("salt"), Seq: &seq, CAS: &cas, Sig: bytes.Repeat([]byte{2}, 64)}},
		{T: "t3", Y: "r", R: &Return{ID: idB, Nodes: nodes, Nodes6: nodes6, Token: "x", V: []byte("3:abc"),
			K: bytes.Repeat([]byte{1}, 32), Seq: &seq, Sig: bytes.Repeat([]byte{2}, 64)},
			IP: netip.MustParseAddrPort("5.6.7.8:999"), RO: true},
		{T: "t4", Y: "q", Q: "vote", A: &Args{ID: idA}},
	}
	for _, m := range msgs {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%q): %v", b, err)
		}
		if !reflect.DeepEqual(*got, m) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", b, got, m)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		in      string
		partial bool // T and Y are known, so a 203 can be sent
	}{
		{"i1e", false},
		{"de", false},
		{"d1:y1:qe", false},
		{"d1:t2:aae", true},
		{"d1:q4:ping1:t2:aa1:y1:qe", true}, // no a
		{"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", true},                        // short id
		{"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe", true},                          // id not a string
		{"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe", true}, // no target
		{"d1:ad2:id20:abcdefghij01234567899:info_hash20:abcdefghij01234567894:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", true},
		{"d1:ad2:id20:abcdefghij01234567899:info_hash20:abcdefghij01234567894:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", true},
		{"d1:ad2:id20:abcdefghij01234567899:info_hash20:abcdefghij01234567894:porti1ee1:q13:announce_peer1:t2:aa1:y1:qe", true}, // no token
		{"d1:rd2:id20:abcdefghij01234567895:nodes5:abcdee1:t2:aa1:y1:re", true},
		{"d1:rd2:id20:abcdefghij01234567896:valuesl3:abcee1:t2:aa1:y1:re", true},
		{"d1:eli201ee1:t2:aa1:y1:ee", true},
		{"d1:t2:aa1:y1:xe", true},
	}
	for _, tt := range tests {
		m, err := Decode([]byte(tt.in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) error = %v, want ErrMalformed", tt.in, err)
		}
		if got := m != nil && m.T == "aa"; got != tt.partial {
			t.Errorf("Decode(%q) partial message = %+v, want partial %v", tt.in, m, tt.partial)
		}
	}
}

func TestCompactNodes(t *testing.T) {
	nodes := []NodeInfo{
		{ID: idA, Addr: netip.MustParseAddrPort("127.0.0.1:6881")},
		{ID: idB, Addr: netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")},
		{ID: idB, Addr: netip.MustParseAddrPort("[::1]:2")},
	}
	b4 := EncodeNodes(nodes, false)
	if len(b4) != 52 {
		t.Fatalf("IPv4 compact nodes are %d bytes, want 52", len(b4))
	}
	got, err := DecodeNodes(b4, false)
	if err != nil || len(got) != 2 || got[1].Addr != netip.MustParseAddrPort("10.0.0.1:1") {
		t.Errorf("DecodeNodes = %v, %v", got, err)
	}
	b6 := EncodeNodes(nodes, true)
	got6, err := DecodeNodes(b6, true)
	if err != nil || len(got6) != 1 || got6[0] != nodes[2] {
		t.Errorf("DecodeNodes v6 = %v, %v", got6, err)
	}
	if _, err := DecodeNodes(b4[:51], false); err == nil {
		t.Error("truncated nodes accepted")
	}
}

// BEP 44's test vector for a mutable item with salt.
func TestBEP44Vector(t *testing.T) {
	got := string(SignedBytes([]byte("foobar"), 1, []byte("12:Hello World!")))
	want := "4:salt6:foobar3:seqi1e1:v12:Hello World!"
	if got != want {
		t.Errorf("SignedBytes = %q, want %q", got, want)
	}
	if got := string(SignedBytes(nil, 1, []byte("12:Hello World!"))); got != "3:seqi1e1:v12:Hello World!" {
		t.Errorf("SignedBytes without salt = %q", got)
	}
	// Immutable target of "12:Hello World!" from BEP 44.
	if tg := nodeid.String(ImmutableTarget([]byte("12:Hello World!"))); tg != "e5f96f6f38320f0f33959cb4d3d656452117aadb" {
		t.Errorf("immutable target = %s", tg)
	}
	seed := make([]byte, 32)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if MutableTarget(pub, []byte("a")) == MutableTarget(pub, nil) {
		t.Error("salt does not change the target")
	}
}

// FuzzDecode checks that no datagram panics the decoder and that every
// accepted message survives an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
		"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
		"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567895:nodes26:abcdefghij0123456789\x7f\x00\x00\x01\x1a\xe1e1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij01234567891:k32:" + string(bytes.Repeat([]byte{1}, 32)) + "3:seqi1e3:sig64:" + string(bytes.Repeat([]byte{2}, 64)) + "5:token1:x1:v1:xe1:q3:put1:t2:aa1:y1:qe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			return // e.g. a response with no fields we model is still fine to drop
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %q as %q, which fails: %v", b, enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %q:\n%+v\n%+v", b, m, m2)
		}
	})
}

func TestDecodeBounds(t *testing.T) {
	huge := "d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("6:abcdef", 300) + "ee1:t2:aa1:y1:re"
	if _, err := Decode([]byte(huge)); !errors.Is(err, ErrMalformed) {
		t.Errorf("300 values: %v, want ErrMalformed", err)
	}
	deep := "d1:ad2:id20:abcdefghij01234567894:want" + strings.Repeat("l", 20) + strings.Repeat("e", 20) + "e1:q4:ping1:t2:aa1:y1:qe"
	if _, err := Decode([]byte(deep)); !errors.Is(err, ErrMalformed) {
		t.Errorf("deep nesting: %v, want ErrMalformed", err)
	}
	ok := "d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("6:abcdef", 100) + "ee1:t2:aa1:y1:re"
	if m, err := Decode([]byte(ok)); err != nil || len(m.R.Values) != 100 {
		t.Errorf("100 values: %v", err)
	}
}
