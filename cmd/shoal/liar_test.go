package main

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// liar is a peer that speaks the protocol properly and claims to have
// every block, but answers each block request with bytes that do not hash
// to the CID asked for (save the honest blocks, which it serves right).
// Given a folder's key it proves the folder when a daemon proves it: a
// lying member. It records every CID it is asked about.
type liar struct {
	id     *identity.Identity
	ln     *transport.Listener
	sent   chan struct{} // one per bad block sent
	key    atomic.Pointer[identity.ROKey]
	honest map[string][]byte // CID bytes -> block

	mu    sync.Mutex
	asked map[string]bool // CIDs in a WantHave or WantBlock
	wake  chan struct{}
}

func startLiar(t *testing.T, honest ...[]byte) *liar {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := transport.Listen(ctx, "127.0.0.1:0", id, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{id: id, ln: ln, sent: make(chan struct{}, 1024), honest: map[string][]byte{},
		asked: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, b := range honest {
		l.honest[string(unixfs.RawCIDOf(b).Bytes())] = b
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go l.serve(conn)
		}
	}()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	return l
}

func (l *liar) addr() string { return l.id.ID().String() + "@" + l.ln.Addr().String() }

// prove makes the liar a member of the folder key names.
func (l *liar) prove(t *testing.T, key string) {
	t.Helper()
	k, err := identity.ParseFolderKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ro := k.RO()
	l.key.Store(&ro)
}

func (l *liar) record(wants []wire.Want) {
	l.mu.Lock()
	for _, w := range wants {
		l.asked[string(w.CID)] = true
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// wasAsked reports whether the liar was sent a want for c.
func (l *liar) wasAsked(c cid.Cid) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked[string(c.Bytes())]
}

// askedCount returns how many CIDs the liar was asked about.
func (l *liar) askedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.asked)
}

func (l *liar) serve(conn *transport.Conn) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	r := bufio.NewReader(conn)
	send := func(m wire.Message) error {
		if err := wire.WriteMessage(w, m, 0); err != nil {
			return err
		}
		return w.Flush()
	}
	if send(wire.NewHello(l.id.ID().Bytes(), "liar", "1", nil)) != nil {
		return
	}
	proved := false
	for {
		f, err := wire.ReadFrame(r)
		if err != nil {
			return
		}
		m, err := wire.Decode(f)
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case wire.FolderProof:
			// The daemon proved a folder: prove ours back, once.
			if ro := l.key.Load(); ro != nil && !proved {
				proved = true
				err = send(wire.FolderProof{Proof: identity.Proof(*ro, conn.Exporter(), l.id.ID())})
			}
		case wire.WantHave:
			l.record(m.Wants)
			var have wire.Have
			for _, want := range m.Wants {
				have.CIDs = append(have.CIDs, want.CID)
			}
			err = send(have)
		case wire.Interested:
			err = send(wire.Unchoke{})
		case wire.WantBlock:
			l.record(m.Wants)
			for _, want := range m.Wants {
				if b, ok := l.honest[string(want.CID)]; ok {
					if err = wire.WriteBlock(w, 0, want.CID, b); err != nil {
						return
					}
					continue
				}
				junk := bytes.Repeat([]byte("not the block you asked for "), 1000)
				if err = wire.WriteBlock(w, 0, want.CID, junk); err != nil {
					return
				}
				select {
				case l.sent <- struct{}{}:
				default:
				}
			}
			err = w.Flush()
		}
		if err != nil {
			return
		}
	}
}

// TestLyingPeer: a daemon fetching from an honest daemon and from a peer
// that sends wrong bytes for every block gets the file right, drops the
// liar, and lists it as banned in `shoal peers`, all as real processes.
func TestLyingPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	// The honest seed is slow, so that the liar is asked for many blocks.
	a := startDaemon(t, "--no-dht", "--max-upload-rate", "2MiB")
	l := startLiar(t)
	b := startDaemon(t, "--no-dht", "--peer", l.addr(), "--peer", a.addr())
	waitPeers(t, b, 2)

	data := make([]byte, 4<<20+777)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(ok(t, a.home, "add", "-Q", src)) // pinned: public

	out := filepath.Join(t.TempDir(), "got.bin")
	ok(t, b.home, "get", root, "-o", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("b's copy differs from the original (%v)", err)
	}
	if len(l.sent) == 0 {
		t.Fatal("the liar was never asked for a block: the test proves nothing")
	}
	peers := ok(t, b.home, "peers")
	_, banned, found := strings.Cut(peers, "banned for sending bad blocks:")
	if !found || !strings.Contains(banned, l.id.ID().String()) {
		t.Fatalf("b does not list the liar (%d bad blocks sent) as banned:\n%s", len(l.sent), peers)
	}
	if table, _, _ := strings.Cut(peers, "\n\n"); strings.Contains(table, l.id.ID().String()) {
		t.Fatalf("the liar is still connected:\n%s", peers)
	}
}

// TestLyingPeerInFolder: a folder pull from an honest, slow daemon and a
// folder member (it proves the key) that answers every block request
// with junk. The file lands whole and right (no byte from the liar
// reaches it: every block is checked before it is written), nothing else
// appears in the folder, and the liar is banned.
func TestLyingPeerInFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	a := startDaemon(t, "--no-dht", "--max-upload-rate", "2MiB")
	l := startLiar(t)
	b := startDaemon(t, "--no-dht", "--peer", l.addr(), "--peer", a.addr())
	waitPeers(t, b, 2)

	data := make([]byte, 4<<20+777)
	r := rand.New(rand.NewPCG(9, 10))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	dirA, dirB := t.TempDir(), filepath.Join(t.TempDir(), "b")
	if err := os.WriteFile(filepath.Join(dirA, "data.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	key := shareKey(t, a, dirA)
	l.prove(t, key)
	ok(t, b.home, "join", key, dirB)
	waitFileIs(t, filepath.Join(dirB, "data.bin"), data, b)
	if len(l.sent) == 0 {
		t.Fatal("the liar was never asked for a block: the test proves nothing")
	}
	ents, err := os.ReadDir(dirB)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "data.bin" && e.Name() != ".shoal" {
			t.Errorf("unexpected %s in the folder", e.Name())
		}
	}
	filepath.WalkDir(filepath.Join(dirB, ".shoal", "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	peers := ok(t, b.home, "peers")
	if _, banned, found := strings.Cut(peers, "banned for sending bad blocks:"); !found || !strings.Contains(banned, l.id.ID().String()) {
		t.Fatalf("b does not list the liar (%d bad blocks sent) as banned:\n%s", len(l.sent), peers)
	}
}

// TestOutsiderNeverAskedForFolderBlocks: a connected peer that never
// proved the folder (it claims every block, like the liar) is sent no
// want for any of the folder's blocks during a whole folder sync, while
// public fetches still ask it: the folder's content hashes stay with its
// members.
func TestOutsiderNeverAskedForFolderBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	// The outsider serves one public block right: fetching it is the
	// barrier after which it has read everything b sent it before.
	sentinel := []byte("a public block the outsider serves " + time.Now().String())
	a := startDaemon(t, "--no-dht")
	out := startLiar(t, sentinel)
	b := startDaemon(t, "--no-dht", "--peer", out.addr(), "--peer", a.addr())
	waitPeers(t, b, 2)

	dirA, dirB := t.TempDir(), filepath.Join(t.TempDir(), "b")
	files := map[string][]byte{}
	r := rand.New(rand.NewPCG(11, 12))
	for i, n := range []int{0, 100, 300 << 10, 2<<20 + 5} {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		name := "f" + string(rune('a'+i)) + ".bin"
		files[name] = data
		if err := os.WriteFile(filepath.Join(dirA, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := shareKey(t, a, dirA)
	ok(t, b.home, "join", key, dirB)
	for name, data := range files {
		waitFileIs(t, filepath.Join(dirB, name), data, b)
	}
	// A listing asks folder peers which files they hold; not the outsider.
	ok(t, b.home, "ls-remote", dirB)

	if n := out.askedCount(); n > 0 {
		t.Fatalf("the outsider was asked about %d CIDs during the folder sync", n)
	}
	got := filepath.Join(t.TempDir(), "sentinel")
	sc := unixfs.RawCIDOf(sentinel)
	ok(t, b.home, "--timeout", "60s", "get", sc.String(), "-o", got)
	if !out.wasAsked(sc) {
		t.Fatal("the outsider was not asked for the public block")
	}
	if n := out.askedCount(); n != 1 {
		t.Errorf("the outsider was asked about %d CIDs, want only the public block's", n)
	}
	// The files' roots, as a's store names them (added after the sync).
	for name := range files {
		c := strings.TrimSpace(ok(t, a.home, "add", "-Q", filepath.Join(dirA, name)))
		if cc, err := cid.Parse(c); err == nil && out.wasAsked(cc) {
			t.Errorf("the outsider was asked for %s (%s), a folder block", c, name)
		}
	}
}
