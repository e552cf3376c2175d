package daemon

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/transport"
)

// TestManyPeersOnOneHost: a daemon accepts more peers from loopback than
// the transport's per-IP bound (32) lets one remote IP hold: fifty daemons
// on one host must all connect (shoalbench discovery runs them).
func TestManyPeersOnOneHost(t *testing.T) {
	d, err := Start(context.Background(), Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	addr := transport.PeerAddr{ID: d.node.Identity().ID(), HostPort: d.ListenAddr().String()}
	for i := range 40 {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		c, err := transport.Dial(t.Context(), addr, id)
		if err != nil {
			t.Fatalf("connection %d from loopback: %v", i+1, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// TestPeersAddRefusesOwnAddress: `shoal peers add` of the node's own
// address (a user pasting the wrong line of `shoal id`) is refused with a
// reason, not kept as a static peer that is dialed for ever.
func TestPeersAddRefusesOwnAddress(t *testing.T) {
	d, err := Start(context.Background(), Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	own := d.ListenAddr().String()
	_, port, _ := net.SplitHostPort(own)
	add := d.handlers()["POST /api/v0/peers/add"]
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{own, false},
		{"[::1]:" + port, true}, // not where it listens: dialing it fails, as any dead address
		{d.node.Identity().ID().String() + "@127.0.0.1:1", false},
		{"127.0.0.1:1", true},
	} {
		w := httptest.NewRecorder()
		add(w, httptest.NewRequest(http.MethodPost, "/api/v0/peers/add", strings.NewReader(`{"addr":"`+tc.addr+`"}`)))
		if ok := w.Code == http.StatusOK; ok != tc.ok {
			t.Errorf("peers add %s: %d %s", tc.addr, w.Code, w.Body)
		}
	}
}
