package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// testCtx returns a context that ends with the test or after 20 s, so a
// hang fails instead of stalling the suite.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newID(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var quiet = slog.New(slog.DiscardHandler)

func listen(t *testing.T, addr string, id *identity.Identity, opts Options) *Listener {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ln, err := Listen(testCtx(t), addr, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptAsync runs one Accept in the background.
func acceptAsync(ctx context.Context, ln *Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := ln.Accept(ctx)
		ch <- acceptResult{c, err}
	}()
	return ch
}

type acceptResult struct {
	c   *Conn
	err error
}

// dialAccept dials ln as id and returns both ends.
func dialAccept(t *testing.T, ln *Listener, addr PeerAddr, id *identity.Identity) (client, server *Conn) {
	t.Helper()
	ctx := testCtx(t)
	acc := acceptAsync(ctx, ln)
	client, err := Dial(ctx, addr, id)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { client.Close() })
	r := <-acc
	if r.err != nil {
		t.Fatalf("accept: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return client, r.c
}

func TestHandshakeGivesEachSideTheOther(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			a, b := newID(t), newID(t)
			ln, err := Listen(testCtx(t), net.JoinHostPort(host, "0"), b, Options{Logger: quiet})
			if err != nil {
				t.Skipf("no %s: %v", host, err)
			}
			t.Cleanup(func() { ln.Close() })
			for _, addr := range []PeerAddr{
				{ID: b.ID(), HostPort: ln.Addr().String()},
				{HostPort: ln.Addr().String()}, // no ID: any node, learned from the certificate
			} {
				client, server := dialAccept(t, ln, addr, a)
				if client.RemoteID() != b.ID() {
					t.Errorf("client sees %s, want %s", client.RemoteID(), b.ID())
				}
				if server.RemoteID() != a.ID() {
					t.Errorf("server sees %s, want %s", server.RemoteID(), a.ID())
				}
				if !client.Outbound() || server.Outbound() {
					t.Errorf("Outbound: client %v server %v", client.Outbound(), server.Outbound())
				}
				// Bytes go both ways.
				for _, p := range []struct{ w, r *Conn }{{client, server}, {server, client}} {
					msg := []byte("hello from " + p.w.String())
					if _, err := p.w.Write(msg); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(p.r, got); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, msg) {
						t.Fatalf("read %q, want %q", got, msg)
					}
				}
			}
		})
	}
}

func TestDialRefusesWrongNodeID(t *testing.T) {
	a, b, c := newID(t), newID(t), newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{})
	ctx := testCtx(t)
	_, err := Dial(ctx, PeerAddr{ID: c.ID(), HostPort: ln.Addr().String()}, a)
	if !errors.Is(err, ErrPeerIDMismatch) {
		t.Fatalf("dial expecting %s at %s's listener: %v, want ErrPeerIDMismatch", c.ID().Short(), b.ID().Short(), err)
	}
	for _, want := range []string{c.ID().String(), b.ID().String()} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// The refused dial never surfaces on the listener: the next Accept is the good dial.
	_, server := dialAccept(t, ln, PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}, a)
	if server.RemoteID() != a.ID() {
		t.Fatalf("accepted %s, want %s", server.RemoteID(), a.ID())
	}
}

func TestDialSelfRefused(t *testing.T) {
	a := newID(t)
	ln := listen(t, "127.0.0.1:0", a, Options{})
	_, err := Dial(testCtx(t), PeerAddr{HostPort: ln.Addr().String()}, a)
	if !errors.Is(err, ErrSelf) {
		t.Fatalf("dial to self: %v, want ErrSelf", err)
	}
}

// rawTLSClient handshakes with ln using cfg, plus a valid node certificate
// when withCert. It returns the handshake error, or the error of the first
// read: a TLS 1.3 client finishes its side before the server has judged its
// certificate, so a refusal may only show on the first read.
func rawTLSClient(t *testing.T, ln *Listener, cfg *tls.Config, withCert bool) error {
	t.Helper()
	if withCert {
		cert, err := certificate(newID(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	cfg.InsecureSkipVerify = true
	ctx := testCtx(t)
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if err := raw.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = tc.Read(make([]byte, 1))
	return err
}

func TestListenerRefusesBadClients(t *testing.T) {
	b := newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{})
	tests := []struct {
		name     string
		cfg      *tls.Config
		withCert bool
		want     string // the server's alert
	}{
		{"no ALPN", &tls.Config{MinVersion: tls.VersionTLS13}, true, "bad certificate"},
		{"other ALPN", &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}}, true, "no application protocol"},
		{"TLS 1.2", &tls.Config{MaxVersion: tls.VersionTLS12, NextProtos: []string{ALPN}}, true, "protocol version not supported"},
		{"no client certificate", &tls.Config{NextProtos: []string{ALPN}}, false, "certificate required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := rawTLSClient(t, ln, tc.cfg, tc.withCert)
			if err == nil {
				t.Fatal("server accepted the client")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %v, want %q", err, tc.want)
			}
		})
	}
	// None of them was handed to Accept; a proper peer still gets in.
	a := newID(t)
	_, server := dialAccept(t, ln, PeerAddr{HostPort: ln.Addr().String()}, a)
	if server.RemoteID() != a.ID() {
		t.Fatalf("accepted %s, want %s", server.RemoteID(), a.ID())
	}
}

// A server that does not negotiate shoal/1 is refused by Dial.
func TestDialRefusesServerWithoutALPN(t *testing.T) {
	cert, err := certificate(newID(t))
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		c, err := tl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	}()
	_, err = Dial(testCtx(t), PeerAddr{HostPort: tl.Addr().String()}, newID(t))
	if !errors.Is(err, ErrNoALPN) {
		t.Fatalf("dial to a server without ALPN: %v, want ErrNoALPN", err)
	}
}

func TestGarbageAndSilentClientsDoNotBlock(t *testing.T) {
	b := newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{HandshakeTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	var d net.Dialer
	silent, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	garbage, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	if _, err := garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n\x00\x01garbage")); err != nil {
		t.Fatal(err)
	}

	// A real peer connects while both are still open.
	a := newID(t)
	_, server := dialAccept(t, ln, PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}, a)
	if server.RemoteID() != a.ID() {
		t.Fatalf("accepted %s, want %s", server.RemoteID(), a.ID())
	}

	// Both bad connections are closed by the server: garbage at once, the
	// silent one at the handshake timeout.
	for name, c := range map[string]net.Conn{"garbage": garbage, "silent": silent} {
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s client was not closed by the server", name)
		}
	}
}

func TestExporterChannelBinding(t *testing.T) {
	a, b := newID(t), newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{})
	addr := PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}
	c1, s1 := dialAccept(t, ln, addr, a)
	c2, s2 := dialAccept(t, ln, addr, a)
	if len(c1.Exporter()) != ExporterLen {
		t.Fatalf("exporter is %d bytes, want %d", len(c1.Exporter()), ExporterLen)
	}
	if !bytes.Equal(c1.Exporter(), s1.Exporter()) || !bytes.Equal(c2.Exporter(), s2.Exporter()) {
		t.Fatal("exporter values differ between the two ends of one connection")
	}
	if bytes.Equal(c1.Exporter(), c2.Exporter()) {
		t.Fatal("two connections share an exporter value")
	}
	if bytes.Equal(c1.Exporter(), bytes.Repeat([]byte{0}, ExporterLen)) {
		t.Fatal("exporter is all zeros")
	}
	// Other labels work and agree too.
	x1, err := c1.ExportKeyingMaterial("EXPORTER-test", []byte("ctx"), 16)
	if err != nil {
		t.Fatal(err)
	}
	y1, err := s1.ExportKeyingMaterial("EXPORTER-test", []byte("ctx"), 16)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x1, y1) || bytes.Equal(x1, c1.Exporter()[:16]) {
		t.Fatal("ExportKeyingMaterial: ends disagree or label ignored")
	}
	// A folder proof made on one end verifies on the other, and not on another connection.
	rw, err := identity.NewRWKey()
	if err != nil {
		t.Fatal(err)
	}
	proof := identity.Proof(rw.RO(), c1.Exporter(), a.ID())
	if !identity.VerifyProof(rw.RO(), s1.Exporter(), s1.RemoteID(), proof) {
		t.Fatal("proof over c1 does not verify at s1")
	}
	if identity.VerifyProof(rw.RO(), s2.Exporter(), s2.RemoteID(), proof) {
		t.Fatal("proof over c1 replays on connection 2")
	}
}

func TestPerIPConnectionLimit(t *testing.T) {
	a, b := newID(t), newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{MaxConnsPerIP: 2})
	addr := PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}
	_, s1 := dialAccept(t, ln, addr, a)
	dialAccept(t, ln, addr, a)

	// A third connection from 127.0.0.1 is closed before its handshake.
	if c, err := Dial(testCtx(t), addr, a); err == nil {
		c.Close()
		t.Fatal("third connection from one IP was accepted")
	} else if errors.Is(err, ErrPeerIDMismatch) {
		t.Fatalf("refused for the wrong reason: %v", err)
	}

	// Closing one frees its slot at once.
	s1.Close()
	_, s3 := dialAccept(t, ln, addr, a)
	if s3.RemoteID() != a.ID() {
		t.Fatalf("accepted %s", s3.RemoteID())
	}
}

func TestHandshakeLimits(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		silent int
	}{
		{"per IP", Options{MaxHandshakesPerIP: 2}, 2},
		{"global", Options{MaxHandshakes: 1}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newID(t), newID(t)
			ln := listen(t, "127.0.0.1:0", b, tc.opts)
			addr := PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}
			ctx := testCtx(t)
			var d net.Dialer
			var silent []net.Conn
			for range tc.silent {
				c, err := d.DialContext(ctx, "tcp", addr.HostPort)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				silent = append(silent, c)
			}
			// The silent handshakes hold every slot: a real peer is refused
			// (the accept loop admits connections in order, so the slots are
			// taken before the peer's connection is looked at).
			if c, err := Dial(ctx, addr, a); err == nil {
				c.Close()
				t.Fatal("handshake admitted past the limit")
			}
			// Once the silent ones go, a real peer gets in. The listener
			// notices the close asynchronously, so retry until the deadline.
			for _, c := range silent {
				c.Close()
			}
			acc := acceptAsync(ctx, ln)
			for {
				c, err := Dial(ctx, addr, a)
				if err == nil {
					c.Close()
					if r := <-acc; r.err != nil {
						t.Fatal(r.err)
					} else {
						r.c.Close()
					}
					return
				}
				if ctx.Err() != nil {
					t.Fatalf("never admitted after the silent clients left: %v", err)
				}
			}
		})
	}
}

func TestDialHonoursContext(t *testing.T) {
	// A TCP listener that never speaks TLS.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := tl.Accept()
		if err == nil {
			held <- c
		}
	}()
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, PeerAddr{HostPort: tl.Addr().String()}, newID(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial to a silent server: %v, want context.DeadlineExceeded", err)
	}
	select {
	case c := <-held:
		c.Close()
	case <-testCtx(t).Done():
		t.Fatal("the silent server never saw the dial")
	}
}

func TestListenerCloseAndContext(t *testing.T) {
	b := newID(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	ln, err := Listen(ctx, "127.0.0.1:0", b, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	silent, err := d.DialContext(testCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	acc := acceptAsync(testCtx(t), ln)
	cancel() // the listener's context ends: Accept fails, handshakes abort
	if r := <-acc; !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Accept after the context ended: %v, want net.ErrClosed", r.err)
	}
	if err := ln.Close(); err != nil { // waits for the silent handshake to abort
		t.Fatal(err)
	}
	if _, err := Dial(testCtx(t), PeerAddr{HostPort: ln.Addr().String()}, newID(t)); err == nil {
		t.Fatal("dial to a closed listener succeeded")
	}
}

func TestLoopbackPairAndMeasure(t *testing.T) {
	ctx := testCtx(t)
	c, s, err := LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer s.Close()
	if c.RemoteID() == s.RemoteID() || c.RemoteID().IsZero() {
		t.Fatal("LoopbackPair ends do not name two distinct nodes")
	}
	for _, m := range []struct {
		name    string
		measure func(context.Context, int64) (float64, error)
	}{
		{"shoal transport", MeasureTLSLoopback},
		{"crypto/tls", MeasureStdTLSLoopback},
	} {
		bps, err := m.measure(ctx, 8<<20)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if bps <= 0 {
			t.Fatalf("%s: throughput %v", m.name, bps)
		}
		t.Logf("TLS loopback, %s: %.0f MB/s (8 MiB, indicative)", m.name, bps/1e6)
		if _, err := m.measure(ctx, 0); err == nil {
			t.Fatalf("%s: zero bytes accepted", m.name)
		}
		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		if _, err := m.measure(cctx, 1<<30); err == nil {
			t.Fatalf("%s: cancelled measurement succeeded", m.name)
		}
	}
}
