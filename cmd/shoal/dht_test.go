package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// dhtSwarm starts n DHT nodes on loopback joined through the first.
func dhtSwarm(t *testing.T, n int) []*dht.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var nodes []*dht.Server
	for i := range n {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		cfg := dht.Config{Conn: conn, QueryTimeout: 500 * time.Millisecond}
		if i > 0 {
			cfg.Bootstrap = []netip.AddrPort{dhtAddr(nodes[0])}
		}
		s, err := dht.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); s.Serve(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		if i > 0 {
			if err := s.Bootstrap(ctx); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, s)
	}
	for _, s := range nodes[1:] {
		s.Bootstrap(ctx)
	}
	return nodes
}

func dhtAddr(s *dht.Server) netip.AddrPort { return s.Addr().(*net.UDPAddr).AddrPort() }

// runDHT calls dhtMain in-process.
func runDHT(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := dhtMain(ctx, &env{home: t.TempDir(), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), err
}

func mustDHT(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, err := runDHT(t, args...)
	if err != nil {
		t.Fatalf("shoal dht %s: %v\n%s", strings.Join(args, " "), err, errs)
	}
	return out
}

func TestDHTCommands(t *testing.T) {
	nodes := dhtSwarm(t, 12)
	boot := dhtAddr(nodes[0]).String()
	common := []string{"--bootstrap", boot, "--listen", "127.0.0.1:0"}
	with := func(args ...string) []string { return append(args, common...) }

	out := mustDHT(t, "ping", boot, "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(out, nodeid.String(nodes[0].ID())+" "+boot) {
		t.Errorf("ping printed %q", out)
	}

	target := nodes[5].ID()
	out = mustDHT(t, with("find-node", nodeid.String(target))...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], nodeid.String(target)+" "+dhtAddr(nodes[5]).String()) {
		t.Errorf("find-node printed %d lines, first %q", len(lines), lines[0])
	}

	ih := nodeid.String(nodeid.Random())
	out = mustDHT(t, with("announce", ih, "--port", "7777")...)
	if !strings.HasPrefix(out, "announced to ") {
		t.Errorf("announce printed %q", out)
	}
	// get-peers through the real binary, as a user runs it.
	got := ok(t, t.TempDir(), append([]string{"dht", "get-peers", ih}, common...)...)
	if !slices.Contains(strings.Split(strings.TrimSpace(got), "\n"), "127.0.0.1:7777") {
		t.Errorf("get-peers printed %q, want 127.0.0.1:7777", got)
	}

	// Immutable put prints the target; get prints the value back.
	out = mustDHT(t, with("put", "hello shoal")...)
	tgt := strings.TrimSpace(out)
	if want := nodeid.String(sha1.Sum([]byte("11:hello shoal"))); tgt != want {
		t.Fatalf("put printed %q", out)
	}
	if out := mustDHT(t, with("get", tgt)...); out != "hello shoal\n" {
		t.Errorf("get printed %q", out)
	}

	// Mutable: a key file, salt, automatic seq.
	keyFile := filepath.Join(t.TempDir(), "key")
	mustDHT(t, with("put", "--key", keyFile, "--salt", "head", "v1")...)
	_, errs, err := runDHT(t, with("put", "--key", keyFile, "--salt", "head", "v2")...)
	if err != nil || !strings.Contains(errs, "seq 2") {
		t.Fatalf("second mutable put: %v %q", err, errs)
	}
	seed, _ := hex.DecodeString(strings.TrimSpace(readFile(t, keyFile)))
	pub := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	if out := mustDHT(t, with("get", "--pubkey", pub, "--salt", "head")...); out != "v2\n" {
		t.Errorf("mutable get printed %q, want v2", out)
	}
	// --seed works the same way, and an explicit older --seq is refused.
	if _, _, err := runDHT(t, with("put", "--seed", hex.EncodeToString(seed), "--salt", "head", "--seq", "1", "old")...); err == nil {
		t.Error("put of seq 1 over seq 2 succeeded")
	}

	out = mustDHT(t, with("table")...)
	if !strings.Contains(out, "bucket") || !strings.Contains(out, "good") {
		t.Errorf("table printed %q", out)
	}
}

func TestDHTServe(t *testing.T) {
	nodes := dhtSwarm(t, 3)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dhtMain(ctx, &env{stdout: pw, stderr: io.Discard}, []string{"serve", "--listen", "127.0.0.1:0", "--bootstrap", dhtAddr(nodes[0]).String()})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("serve printed nothing")
	}
	f := strings.Fields(sc.Text()) // dht node ID listening on ADDR
	if len(f) != 6 {
		t.Fatalf("serve printed %q", sc.Text())
	}
	go io.Copy(io.Discard, pr)
	out := mustDHT(t, "ping", f[5], "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(out, f[2]) {
		t.Errorf("ping of the served node printed %q, want ID %s", out, f[2])
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
}

func TestDHTBadInput(t *testing.T) {
	tests := [][]string{
		{},
		{"frob"},
		{"find-node", "abc", "--bootstrap", "127.0.0.1:1"},
		{"find-node", nodeid.String(nodeid.Random())},
		{"announce", nodeid.String(nodeid.Random()), "--bootstrap", "127.0.0.1:1"},
		{"get", "--pubkey", "zz", "--bootstrap", "127.0.0.1:1"},
		{"put", "--seed", "abcd", "x", "--bootstrap", "127.0.0.1:1"},
		{"ping"},
	}
	for _, args := range tests {
		if _, _, err := runDHT(t, args...); err == nil {
			t.Errorf("shoal dht %v succeeded", args)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
