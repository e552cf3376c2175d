package dht

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/routing"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// TestVerifyDelay: a newcomer that only queried us is pinged at once or
// after Config.VerifyDelay; a host behind a NAT answers the ping at once
// (its NAT is open to us: it just sent to us) but not one sent after its
// NAT forgot us, so with the delay it never becomes good, and a reachable
// newcomer becomes good either way.
func TestVerifyDelay(t *testing.T) {
	cond := simnet.Conditions{Unreachable: 0.5, NATTimeout: time.Minute, Seed: 1}
	var natted, open netip.Addr
	for i := 1; !natted.IsValid() || !open.IsValid(); i++ {
		ip := netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
		if cond.IsUnreachable(ip) {
			natted = ip
		} else if !open.IsValid() {
			open = ip
		}
	}
	tests := []struct {
		name     string
		delay    time.Duration
		newcomer netip.Addr
		want     routing.State
	}{
		{"at once: a NAT'ed host looks good", -1, natted, routing.Good},
		{"after its NAT forgot us: it stays out", 2 * time.Minute, natted, routing.Bad},
		{"a reachable host, at once", -1, open, routing.Good},
		{"a reachable host, after the delay", 2 * time.Minute, open, routing.Good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := simnet.New(simnet.Options{Link: simnet.Link{Latency: 10 * time.Millisecond}, Conditions: cond})
				defer nw.Close()
				serve := func(ip netip.Addr, cfg Config) *Server {
					conn, err := nw.Listen(netip.AddrPortFrom(ip, 6881))
					if err != nil {
						t.Fatal(err)
					}
					cfg.Conn = conn
					s, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					go s.Serve(t.Context())
					t.Cleanup(func() { s.Close() })
					return s
				}
				a := serve(open.Next().Next().Next(), Config{VerifyDelay: tt.delay})
				aAddr, _ := addrPortOf(a.Addr())
				if cond.IsUnreachable(aAddr.Addr()) {
					t.Fatal("the server's own address drew a NAT: pick another")
				}
				b := serve(tt.newcomer, Config{})
				if _, err := b.Ping(t.Context(), aAddr); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Minute) // every ping has run
				got := routing.State(-1)
				for _, bk := range a.Table() {
					for _, e := range bk.Nodes {
						if e.ID == b.ID() {
							got = e.State(time.Now())
						}
					}
				}
				if got != tt.want {
					t.Errorf("the newcomer is %v in the table, want %v", got, tt.want)
				}
			})
		})
	}
}
