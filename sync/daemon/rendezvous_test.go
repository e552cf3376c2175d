package daemon

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestFolderRendezvousOnDHT: four daemons that share only one DHT
// bootstrap address and a folder (no --peer, no mDNS) find each other
// under the folder's rendezvous key and connect, each to all.
func TestFolderRendezvousOnDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four daemons")
	}
	ctx := context.Background()
	folder := bytes.Repeat([]byte{0x5a}, 32)
	folders := func(context.Context) ([][]byte, error) { return [][]byte{folder}, nil }
	var ds []*Daemon
	for i := range 4 {
		opt := Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", Folders: folders}
		if i > 0 {
			opt.Bootstrap = []netip.AddrPort{netip.MustParseAddrPort(ds[0].Info().DHT)}
		}
		d, err := Start(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		ds = append(ds, d)
	}
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i, d := range ds {
		for len(d.Peers()) < len(ds)-1 {
			select {
			case <-deadline:
				t.Fatalf("daemon %d has %d peers, want %d; candidates %+v", i, len(d.Peers()), len(ds)-1, d.dialer.Candidates())
			case <-tick.C:
			}
		}
	}
	dhtFound := 0
	for _, d := range ds {
		for _, p := range d.PeerInfos() {
			if p.Source == "dht" {
				dhtFound++
			}
		}
	}
	if dhtFound < len(ds)-1 {
		t.Fatalf("only %d connections from the DHT", dhtFound)
	}
}
