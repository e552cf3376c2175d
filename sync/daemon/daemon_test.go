package daemon

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
)

func start(t *testing.T) *Daemon {
	t.Helper()
	d, err := Start(context.Background(), Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestGCSparesFetchUnderWay starts a pin whose DAG is only partly here and
// that no peer can complete, runs a garbage collection meanwhile, and
// checks the part already here survives it.
func TestGCSparesFetchUnderWay(t *testing.T) {
	d := start(t)
	ctx := context.Background()
	st := d.Node().Store()

	// A two-leaf file: keep its root node, drop its leaves.
	f := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 2000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := chunker.Parse("size-1000")
	roots, err := dag.Add(ctx, st, []string{f}, dag.AddOptions{Chunker: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := roots[0]
	node, err := st.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := unixfs.Links(root, node)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		if err := st.Delete(ctx, l); err != nil {
			t.Fatal(err)
		}
	}

	b := newBackend(d.Node(), d.Swarm())
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.PinAdd(fctx, root, dag.PinOptions{Recursive: true}) }()
	// Wait until the fetch is registered, then collect.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for registered := false; !registered; {
		b.mu.Lock()
		registered = b.fetching[root] > 0
		b.mu.Unlock()
		select {
		case <-deadline:
			t.Fatal("the fetch never started")
		case <-tick.C:
		}
	}
	if _, err := st.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Has(ctx, root); err != nil || !ok {
		t.Fatalf("GC removed the root of a fetch under way (has=%v, err=%v)", ok, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("pin add ended with %v, want context.Canceled", err)
	}
	// With the fetch gone, an unpinned partial DAG is garbage.
	if _, err := st.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Has(ctx, root); ok {
		t.Fatal("GC kept the root after the fetch ended")
	}
}

// TestDHTTableSurvivesRestart joins b's DHT node through a, restarts b
// without a bootstrap address, and checks b still knows a: the routing
// table is kept in the store.
func TestDHTTableSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	a, err := Start(ctx, Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	aDHT := netip.MustParseAddrPort(a.Info().DHT)
	home := t.TempDir()
	opt := Options{Home: home, Listen: "127.0.0.1:0", API: "127.0.0.1:0", Bootstrap: []netip.AddrPort{aDHT}}
	b, err := Start(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	waitTable(t, b, a.Info().DHT)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	opt.Bootstrap = nil
	b, err = Start(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitTable(t, b, a.Info().DHT)
}

func waitTable(t *testing.T, d *Daemon, addr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, b := range NewTableInfo(d.dht, time.Now()).Buckets {
			for _, n := range b.Nodes {
				if n.Addr == addr {
					return
				}
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s never entered the routing table", addr)
		case <-tick.C:
		}
	}
}

// TestBansSurviveRestart: a ban in the daemon's store is in force after a
// restart, and listed for `shoal peers`.
func TestBansSurviveRestart(t *testing.T) {
	ctx := context.Background()
	opt := Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true}
	d, err := Start(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	liar, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	bs := banStore{kv: d.node.Store().(*badgerstore.Store).KV("swarm")}
	if err := bs.SaveBans([]swarm.Ban{{Peer: liar.ID(), Until: until}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Start(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got, ok := d.swarm.BannedUntil(liar.ID()); !ok || !got.Equal(until) {
		t.Fatalf("after restart: banned %v until %v, want until %v", ok, got, until)
	}
	if bans := d.swarm.Bans(); len(bans) != 1 || bans[0].Peer != liar.ID() {
		t.Fatalf("Bans() = %v", bans)
	}
}

// TestGetFromPeerReportsProgress: a get whose blocks come from a peer
// (written through a TreeWriter) reports the file's size first, then
// progress adding up to it, and writes the right bytes.
func TestGetFromPeerReportsProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	data, root := addRandom(t, ctx, a, 3<<20+5, 1)
	var total, done int64
	opt := dag.GetOptions{
		Total: func(n int64) {
			if done != 0 {
				t.Error("total reported after progress")
			}
			total = n
		},
		Progress: func(n int64) { done += n },
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := newBackend(b.Node(), b.Swarm()).Get(ctx, root.String(), out, opt); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get wrote different bytes: %v", err)
	}
	if total != int64(len(data)) || done != total {
		t.Fatalf("total %d, progress %d, want both %d", total, done, len(data))
	}
}

// TestPinFromPeerReportsProgress: a recursive pin that fetches from a
// peer reports the DAG's size, then progress adding up to it, and pins.
func TestPinFromPeerReportsProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	_, root := addRandom(t, ctx, a, 2<<20+9, 4)
	info, err := unixfs.Stat(ctx, a.Node().Store(), root)
	if err != nil {
		t.Fatal(err)
	}
	var total, done int64
	opt := dag.PinOptions{Recursive: true, Total: func(n int64) { total = n }, Progress: func(n int64) { done += n }}
	if err := newBackend(b.Node(), b.Swarm()).PinAdd(ctx, root, opt); err != nil {
		t.Fatal(err)
	}
	if want := int64(info.CumulativeSize); total != want || done != want {
		t.Fatalf("total %d, progress %d, want both %d", total, done, want)
	}
	pins, err := b.Node().Store().Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].Cid.Equals(root) {
		t.Fatalf("pins %v (%v), want %s", pins, err, root)
	}
}

// prefixWriter collects what is written and calls full once it holds n
// bytes.
type prefixWriter struct {
	buf  bytes.Buffer
	n    int
	full func()
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.buf.Len() >= w.n {
		w.full()
	}
	return len(p), nil
}

// TestCatStreams: a cat of a file whose last block no peer has writes all
// the bytes before it, right, as they arrive: it does not wait for the
// whole DAG, which here never comes.
func TestCatStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	data, root := addRandom(t, ctx, a, 4<<20, 2)
	// Take the file's last leaf out of a's store.
	last := root
	for last.Type() != cid.Raw {
		node, err := a.Node().Store().Get(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		links, err := unixfs.Links(last, node)
		if err != nil || len(links) == 0 {
			t.Fatalf("node %s: %d links, %v", last, len(links), err)
		}
		last = links[len(links)-1]
	}
	lastLen, err := a.Node().Store().Size(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Node().Store().Delete(ctx, last); err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	w := &prefixWriter{n: len(data) - lastLen, full: stop}
	err = newBackend(b.Node(), b.Swarm()).Cat(cctx, root.String(), w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cat ended with %v after %d bytes, want it stopped once it had all but the last block's %d", err, w.buf.Len(), w.n)
	}
	if !bytes.Equal(w.buf.Bytes(), data[:w.n]) {
		t.Fatalf("cat wrote %d bytes that differ from the file's first %d", w.buf.Len(), w.n)
	}
}

// startPair starts daemon a with aOpt (home and loopback addresses filled
// in, no DHT) and daemon b, which keeps a connection to a.
func startPair(t *testing.T, ctx context.Context, aOpt Options) (a, b *Daemon) {
	t.Helper()
	aOpt.Home, aOpt.Listen, aOpt.API, aOpt.NoDHT = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", true
	a, err := Start(ctx, aOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Start(ctx, Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true,
		Peers: []string{a.Node().Identity().ID().String() + "@" + a.ListenAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// addRandom adds n random bytes (no chunk repeats) from seed as a pinned
// file on d, and returns them and the file's root.
func addRandom(t *testing.T, ctx context.Context, d *Daemon, n int, seed byte) ([]byte, cid.Cid) {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	roots, err := dag.Add(ctx, d.Node().Store(), []string{f}, dag.AddOptions{Pin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return data, roots[0]
}
