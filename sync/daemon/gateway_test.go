package daemon

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/api"
)

// TestGateway serves /ipfs/ through B's API: with the token B fetches A's
// pinned file from A; without it B serves only what B has pinned.
func TestGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	data, root := addRandom(t, ctx, a, 1<<20+7, 3)
	homeB := b.opt.Home
	tok := func(home string) string {
		s, _ := os.ReadFile(filepath.Join(home, api.TokenFile))
		return strings.TrimSpace(string(s))
	}
	do := func(d *Daemon, token, path, rng string) (int, []byte) {
		req, _ := http.NewRequest("GET", "http://"+d.Info().API+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	p := "/ipfs/" + root.String()
	if st, body := do(a, "", p, ""); st != 200 || !bytes.Equal(body, data) {
		t.Fatalf("public on A: %d", st)
	}
	if st, body := do(b, "", p, ""); st != 404 || !strings.Contains(string(body), "API token") || !strings.Contains(string(body), "fetches from peers") {
		t.Fatalf("public on B before fetch: %d %q; want 404 saying the token would fetch it from peers", st, body)
	}
	if st, body := do(b, tok(homeB), p, "bytes=1000-1999"); st != 206 || !bytes.Equal(body, data[1000:2000]) {
		t.Fatalf("token on B: %d", st)
	}
	if st, body := do(b, tok(homeB), p, ""); st != 200 || !bytes.Equal(body, data) {
		t.Fatalf("token on B whole: %d", st)
	}
	if st, _ := do(b, "", p, ""); st != 404 {
		t.Fatalf("public on B after fetch (not pinned on B): %d", st)
	}
	if st, _ := do(b, "wrong", "/api/v0/id", ""); st != 401 {
		t.Fatalf("api without token: %d", st)
	}
	if st, _ := do(b, "", "/ipfs/"+root.String()+"/../x", ""); st != 400 {
		t.Fatalf("dotdot: %d", st)
	}
	// A page on another name that resolves here (DNS rebinding) is refused
	// public content.
	req, _ := http.NewRequest("GET", "http://"+a.Info().API+p, nil)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("public on A for Host evil.example: %d, want 403", resp.StatusCode)
	}
}

// TestGatewayUnpin: after an unpin, the token-less gateway and peers stop
// serving the content at once; a new pin serves it again at once.
func TestGatewayUnpin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	_, root := addRandom(t, ctx, a, 300<<10, 4)
	get := func() int {
		resp, err := http.Get("http://" + a.Info().API + "/ipfs/" + root.String())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(); st != 200 {
		t.Fatalf("public while pinned: %d", st)
	}
	if err := a.Node().PinRm(ctx, root); err != nil {
		t.Fatal(err)
	}
	if st := get(); st != 404 {
		t.Fatalf("public right after pin rm: %d, want 404", st)
	}
	short, stop := context.WithTimeout(ctx, time.Second)
	err := newBackend(b.Node(), b.Swarm()).Cat(short, root.String(), io.Discard)
	stop()
	if err == nil {
		t.Fatal("a peer still got the content right after pin rm")
	}
	if err := a.Node().Store().Pin(ctx, root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	if st := get(); st != 200 {
		t.Fatalf("public right after pinning again: %d", st)
	}
}
