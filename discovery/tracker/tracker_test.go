package tracker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// startServer runs a tracker on loopback and returns its UDP and HTTP URLs.
func startServer(t *testing.T, opt ServerOptions) (*Server, string, string) {
	t.Helper()
	s := NewServer(opt)
	ready := make(chan [2]net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.ListenAndServe(ctx, "127.0.0.1:0", func(u, h net.Addr) { ready <- [2]net.Addr{u, h} })
	}()
	var a [2]net.Addr
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, "udp://" + a[0].String(), "http://" + a[1].String() + "/announce"
}

// TestAnnounceBothProtocols: two peers announcing one key to a tracker
// each learn of the other, over UDP and over HTTP, with its interval.
func TestAnnounceBothProtocols(t *testing.T) {
	_, udpURL, httpURL := startServer(t, ServerOptions{Interval: 42 * time.Second})
	for _, url := range []string{udpURL, httpURL} {
		t.Run(url[:4], func(t *testing.T) {
			var c Client
			key := [20]byte{1, 2, 3}
			if url == httpURL {
				key[0] = 9 // another swarm
			}
			r1, err := c.Announce(t.Context(), url, Request{InfoHash: key, Port: 1111, Event: EventStarted, NumWant: -1})
			if err != nil {
				t.Fatal(err)
			}
			if len(r1.Peers) != 0 || r1.Interval != 42*time.Second {
				t.Fatalf("first announce: %+v", r1)
			}
			r2, err := c.Announce(t.Context(), url, Request{InfoHash: key, Port: 2222, NumWant: 50})
			if err != nil {
				t.Fatal(err)
			}
			if want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1111")}; !slices.Equal(r2.Peers, want) {
				t.Fatalf("second announce: peers %v, want %v", r2.Peers, want)
			}
			r3, err := c.Announce(t.Context(), url, Request{InfoHash: key, Port: 1111, Event: EventStopped})
			if err != nil || !slices.Equal(r3.Peers, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2222")}) {
				t.Fatalf("stopped: %+v, %v", r3, err)
			}
		})
	}
}

// TestPeersExpire: a peer not heard from for twice the interval is gone.
func TestPeersExpire(t *testing.T) {
	s := NewServer(ServerOptions{Interval: time.Minute})
	t0 := time.Unix(1e9, 0)
	key := [20]byte{7}
	a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:1")
	s.announce(t0, key, a, EventStarted)
	if got := s.announce(t0.Add(time.Minute), key, b, EventStarted); len(got) != 1 {
		t.Fatalf("a minute on: %v", got)
	}
	if got := s.announce(t0.Add(2*time.Minute+time.Second), key, b, EventNone); len(got) != 0 {
		t.Fatalf("past twice the interval: %v still listed", got)
	}
	if s.Peers(key) != 1 {
		t.Fatalf("%d peers kept, want 1", s.Peers(key))
	}
}

// TestGarbageResponses: a tracker that answers garbage, an error, or
// nothing gives an error, never a crash or a hang.
func TestGarbageResponses(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			switch i % 3 {
			case 0:
				pc.WriteTo([]byte{1, 2, 3}, from) // short
			case 1:
				pc.WriteTo(append([]byte{0, 0, 0, 3, 0, 0, 0, 0}, "go away"...), from) // an error, wrong tx
			}
		}
	}()
	var c Client
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := c.Announce(ctx, "udp://"+pc.LocalAddr().String(), Request{Port: 1}); err == nil {
		t.Fatal("garbage UDP tracker: no error")
	}

	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("port") {
		case "1":
			w.Write([]byte("d5:peers5:abcdee"))
		case "2":
			w.Write([]byte("d14:failure reason4:nopee"))
		default:
			w.Write([]byte("<html>not a tracker</html>"))
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	for port, want := range map[uint16]string{1: "malformed", 2: "nope", 3: "malformed"} {
		_, err := c.Announce(t.Context(), "http://"+ln.Addr().String()+"/announce", Request{Port: port})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("port %d: %v, want an error saying %q", port, err, want)
		}
	}
	if _, err := c.Announce(t.Context(), "ftp://x/announce", Request{}); err == nil {
		t.Error("ftp tracker: no error")
	}
}

// TestAnnouncerHonoursInterval: the announcer hands the peers to Found
// and announces again only after the interval.
func TestAnnouncerHonoursInterval(t *testing.T) {
	s, udpURL, _ := startServer(t, ServerOptions{Interval: time.Hour})
	key := [20]byte{5}
	var c Client
	if _, err := c.Announce(t.Context(), udpURL, Request{InfoHash: key, Port: 3333}); err != nil {
		t.Fatal(err)
	}
	found := make(chan []netip.AddrPort, 4)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a := NewAnnouncer(AnnouncerOptions{
		URLs: []string{udpURL}, Port: 4444, Rescan: 10 * time.Millisecond,
		Keys:  func(context.Context) ([][20]byte, error) { return [][20]byte{key}, nil },
		Found: func(_ [20]byte, p []netip.AddrPort, _ time.Duration) { found <- p },
	})
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	if p := <-found; !slices.Equal(p, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:3333")}) {
		t.Fatalf("found %v", p)
	}
	if s.Peers(key) != 2 {
		t.Fatalf("tracker has %d peers", s.Peers(key))
	}
	// Many rescans later, no second announce (the interval is an hour).
	timer := time.NewTimer(200 * time.Millisecond)
	defer timer.Stop()
	select {
	case p := <-found:
		t.Fatalf("announced again within the interval: %v", p)
	case <-timer.C:
	}
	cancel()
	<-done
}

func FuzzParseUDPAnnounce(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 1, 127, 0, 0, 1, 4, 0}, false)
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 7, 'n', 'o'}, false)
	f.Add(make([]byte, 38), true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		r, err := ParseUDPAnnounce(b, 7, v6)
		if err == nil && len(r.Peers) > maxPeers {
			t.Fatalf("%d peers", len(r.Peers))
		}
		parseConnectResponse(b, 7)
		ParseUDPRequest(b)
	})
}

func FuzzParseHTTPResponse(f *testing.F) {
	f.Add([]byte("d8:intervali60e5:peers6:\x7f\x00\x00\x01\x04\x00e"))
	f.Add([]byte("d8:intervali60e5:peersld2:ip9:127.0.0.14:porti1eeee"))
	f.Add([]byte("d14:failure reason3:bade"))
	f.Add([]byte("d6:peers60:e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseHTTPResponse(b)
		if err != nil {
			if errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), "failure") {
				return
			}
			t.Fatalf("unexpected error kind: %v", err)
		}
		if len(r.Peers) > maxPeers || r.Interval < 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// TestServerBounded: announces of made-up keys and ports are answered but
// kept only up to the bounds, and keys nobody announces again are swept
// once their peers expire, not kept for ever.
func TestServerBounded(t *testing.T) {
	s := NewServer(ServerOptions{Interval: time.Minute, MaxSwarm: 10, MaxKeys: 5})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peer := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), uint16(1000+i))
	}
	for i := range 1000 {
		s.announce(t0, [20]byte{byte(i), byte(i >> 8)}, peer(i), EventStarted)
	}
	if s.Keys() != 5 {
		t.Fatalf("%d keys kept, want the bound 5", s.Keys())
	}
	key := [20]byte{0xaa}
	s.swarms = map[[20]byte]map[netip.AddrPort]time.Time{} // a fresh start for one key
	for i := range 1000 {
		s.announce(t0, key, peer(i), EventStarted)
	}
	if s.Peers(key) != 10 {
		t.Fatalf("%d peers kept for one key, want the bound 10", s.Peers(key))
	}
	if got := s.announce(t0, key, peer(5000), EventStarted); len(got) != 10 {
		t.Fatalf("an announce past the bound got %d peers, want an answer all the same", len(got))
	}
	s.announce(t0, [20]byte{0xbb}, peer(1), EventStarted)
	// Two intervals on, only a new announce of another key comes: both old
	// keys go.
	s.announce(t0.Add(3*time.Minute), [20]byte{0xcc}, peer(2), EventStarted)
	if s.Keys() != 1 {
		t.Fatalf("%d keys after their peers expired, want only the new one", s.Keys())
	}
}
