package session

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// heldModel answers version queries from a fixed set.
type heldModel struct {
	*model
	held map[string]bool
	path chan string
}

func (m heldModel) HeldVersions(_ context.Context, _ identity.FolderID, path string, roots [][]byte) []bool {
	select {
	case m.path <- path:
	default:
	}
	out := make([]bool, len(roots))
	for i, r := range roots {
		out[i] = m.held[string(r)]
	}
	return out
}

func TestAskVersions(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := newNode(t, key, 1)
	b := newNode(t, key, 2)
	c := newNode(t, key, 3)
	r1, r2, r3 := unixfs.RawCIDOf([]byte("v1")).Bytes(), unixfs.RawCIDOf([]byte("v2")).Bytes(), unixfs.RawCIDOf([]byte("v3")).Bytes()
	b.s.opt.Model = heldModel{b.m, map[string]bool{string(r1): true, string(r2): true}, make(chan string, 1)}
	hc := heldModel{c.m, map[string]bool{string(r1): true}, make(chan string, 1)}
	c.s.opt.Model = hc
	b.dial(t, a)
	c.dial(t, a)
	wait(t, "both peers share the folder with a", nil, func() bool { return len(a.s.Peers(key.ID())) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := a.s.AskVersions(ctx, key.ID(), "docs/x", [][]byte{r1, r2, r3})
	if got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("peers holding each version: %v, want [2 1 0]", got)
	}
	if p := <-hc.path; p != "docs/x" {
		t.Fatalf("the peer was asked about %q", p)
	}
}

func TestVersionQueryWithoutProofIsRefused(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	other, _ := identity.NewRWKey()
	a := newNode(t, key, 1)
	held := heldModel{a.m, map[string]bool{}, make(chan string, 1)}
	a.s.opt.Model = held
	c := newNode(t, identity.FolderKeyFromRW(other), 3)
	c.dial(t, a)
	wait(t, "both connected", nil, func() bool { return len(a.sw.Peers()) == 1 && len(c.sw.Peers()) == 1 })
	conn := findConn(t, c)
	id := key.ID()
	if err := conn.Send(wire.VersionQuery{Folder: id[:], Nonce: 1, Path: "a", Roots: [][]byte{unixfs.RawCIDOf([]byte("x")).Bytes()}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("a version query without proof did not close the connection")
	}
	select {
	case p := <-held.path:
		t.Fatalf("the model was asked about %q for a peer without proof", p)
	default:
	}
}
