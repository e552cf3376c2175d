package providers

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/shoal-sync/shoal/dht"
)

func cidOf(t *testing.T, codec uint64, data string) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(codec, mh)
}

// TestKey: the key is fixed (peers must agree on it), depends on the
// multihash only, and differs between contents.
func TestKey(t *testing.T) {
	raw := cidOf(t, cid.Raw, "hello")
	pb := cid.NewCidV1(cid.DagProtobuf, raw.Hash())
	v0 := cid.NewCidV0(raw.Hash())
	other := cidOf(t, cid.Raw, "hello!")
	tests := []struct {
		name string
		a, b cid.Cid
		same bool
	}{
		{"raw and dag-pb views of one multihash", raw, pb, true},
		{"CIDv0 and CIDv1", v0, pb, true},
		{"different content", raw, other, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Key(tc.a) == Key(tc.b); got != tc.same {
				t.Fatalf("Key(%s) == Key(%s) is %v, want %v", tc.a, tc.b, got, tc.same)
			}
		})
	}
	// SHA-256("shoal provide" ‖ multihash of "hello")[:20], worked out
	// apart (Python hashlib): a change here breaks every peer's lookups.
	const want = "dcc3cfff98760ec1ffd63f35bf31ec11585e705d"
	if k := Key(raw); hex.EncodeToString(k[:]) != want {
		t.Fatalf("Key(%s) = %x, want %s", raw, k, want)
	}
}

// startDHT runs a DHT node on loopback UDP until the test ends.
func startDHT(t *testing.T, bootstrap ...netip.AddrPort) *dht.Server {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dht.New(dht.Config{Conn: conn, Bootstrap: bootstrap, QueryTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func udpAddr(s *dht.Server) netip.AddrPort { return s.Addr().(*net.UDPAddr).AddrPort() }

// countingDHT passes calls to a real DHT node and counts announces.
type countingDHT struct {
	*dht.Server
	mu        sync.Mutex
	announces map[[20]byte]int
	announced chan [20]byte
}

func (c *countingDHT) Announce(ctx context.Context, ih [20]byte, port int, implied bool) (dht.AnnounceResult, error) {
	res, err := c.Server.Announce(ctx, ih, port, implied)
	if err == nil {
		c.mu.Lock()
		c.announces[ih]++
		c.mu.Unlock()
		select {
		case c.announced <- ih:
		default:
		}
	}
	return res, err
}

// TestAnnounceAndFind: on a DHT of five real nodes over loopback UDP, a
// node running Providers announces its roots, a root pinned later is
// announced when kicked, roots are announced again each Interval, and any
// other node finds the announcer's address for each root.
func TestAnnounceAndFind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := startDHT(t)
	nodes := []*dht.Server{first}
	for range 4 {
		nodes = append(nodes, startDHT(t, udpAddr(first)))
	}
	for _, n := range nodes[1:] {
		if err := n.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, b := cidOf(t, cid.Raw, "first root"), cidOf(t, cid.Raw, "pinned later")
	var mu sync.Mutex
	roots := []cid.Cid{a}
	cd := &countingDHT{Server: nodes[1], announces: map[[20]byte]int{}, announced: make(chan [20]byte, 16)}
	p := New(Options{
		DHT: cd,
		Roots: func(context.Context) ([]cid.Cid, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(roots), nil
		},
		Interval: 300 * time.Millisecond,
	})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- p.Run(runCtx) }()

	waitAnnounced := func(c cid.Cid, times int) {
		t.Helper()
		for {
			cd.mu.Lock()
			n := cd.announces[Key(c)]
			cd.mu.Unlock()
			if n >= times {
				return
			}
			select {
			case <-cd.announced:
			case <-ctx.Done():
				t.Fatalf("%s announced %d times, want %d", c, n, times)
			}
		}
	}
	waitAnnounced(a, 1)
	mu.Lock()
	roots = append(roots, b)
	mu.Unlock()
	p.Kick()
	waitAnnounced(b, 1)
	waitAnnounced(a, 2) // again after Interval

	// The announcer's port is implied: its DHT socket's.
	want := udpAddr(nodes[1])
	for _, c := range []cid.Cid{a, b} {
		finder := New(Options{DHT: nodes[4]})
		addrs, err := finder.Find(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(addrs, want) {
			t.Fatalf("providers of %s: %v, want %v among them", c, addrs, want)
		}
	}
	if addrs, _ := New(Options{DHT: nodes[3]}).Find(ctx, cidOf(t, cid.Raw, "nobody has this")); len(addrs) != 0 {
		t.Fatalf("providers of unannounced content: %v", addrs)
	}
	stop()
	if err := <-ran; err != context.Canceled {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}
