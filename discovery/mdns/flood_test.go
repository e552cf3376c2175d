package mdns

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/shoal-sync/shoal/sync/identity"
)

// TestAnswerFloodBounded: a LAN host answering as thousands of made-up
// peers gets maxSeen of them handed on, not all: the rest are ignored
// (counted, logged once in a thousand) until some expire.
func TestAnswerFloodBounded(t *testing.T) {
	found := 0
	r := &runner{opt: Options{Self: testID(t), Version: 1, Found: func(Peer) { found++ }},
		log: slog.New(slog.DiscardHandler), seen: make(map[identity.NodeID]time.Time)}
	for i := range 5000 {
		raw := make([]byte, identity.NodeIDLen)
		raw[0], raw[1], raw[2], raw[3] = 0x12, 0x20, byte(i), byte(i>>8)
		id, err := identity.NodeIDFromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		e := zeroconf.NewServiceEntry("x", Service, "local.")
		e.Text = Record{ID: id, TCPPort: 4777, UDPPort: 4777, Version: 1}.Text()
		e.AddrIPv4 = []net.IP{net.IPv4(192, 0, 2, byte(i%250+1))}
		e.TTL = 120
		r.entry(e, nil)
	}
	ignored := 0
	for _, n := range r.ignored {
		ignored += n
	}
	if found != maxSeen || len(r.seen) != maxSeen || ignored != 5000-maxSeen {
		t.Fatalf("found %d, seen %d, ignored %d; want %d handed on", found, len(r.seen), ignored, maxSeen)
	}
}
