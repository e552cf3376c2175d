package daemon

import (
	"context"
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
