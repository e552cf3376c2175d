package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/api"
)

// TestStartErrors starts daemons that cannot start: each must fail with
// one clear error (no panic), and leave no endpoint or address file
// behind, nor touch a running daemon's.
func TestStartErrors(t *testing.T) {
	running := start(t)
	runningHome := running.Node().Home()
	endpoint := func(home string) []string {
		var got []string
		for _, f := range []string{api.AddrFile, api.TokenFile, AddrsFile} {
			if _, err := os.Stat(filepath.Join(home, f)); err == nil {
				got = append(got, f)
			}
		}
		return got
	}
	before := endpoint(runningHome)
	if len(before) != 3 {
		t.Fatalf("a running daemon's home has %v, want api, api.token and addrs", before)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()

	tests := []struct {
		name     string
		home     string // "" for a fresh one
		opt      Options
		want     []string // in the error
		is       error
		noHome   bool // the home must not even be created
		checkRun bool
	}{
		{name: "second daemon on a home", home: runningHome, opt: Options{Listen: "127.0.0.1:0", API: "127.0.0.1:0"},
			want: []string{"already runs", running.APIAddr().String()}, is: ErrRunning, checkRun: true},
		{name: "peer port in use", opt: Options{Listen: busyAddr, API: "127.0.0.1:0"},
			want: []string{"listen for peers on " + busyAddr, "address already in use", "--listen"}},
		{name: "API port in use", opt: Options{Listen: "127.0.0.1:0", API: busyAddr},
			want: []string{"listen for the API on " + busyAddr, "address already in use", "--api"}},
		{name: "bad peer", opt: Options{Listen: "127.0.0.1:0", API: "127.0.0.1:0", Peers: []string{"garbage"}},
			want: []string{"--peer", `"garbage"`}, noHome: true},
		{name: "API not loopback", opt: Options{Listen: "127.0.0.1:0", API: "0.0.0.0:0"},
			want: []string{"loopback"}, noHome: true},
		{name: "bad listen address", opt: Options{Listen: "nonsense", API: "127.0.0.1:0"},
			want: []string{"listen address", "nonsense"}, noHome: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := tc.home
			if home == "" {
				home = filepath.Join(t.TempDir(), "home")
			}
			opt := tc.opt
			opt.Home, opt.NoDHT = home, true
			d, err := Start(context.Background(), opt)
			if err == nil {
				d.Close()
				t.Fatal("started")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
			if tc.checkRun {
				if got := endpoint(home); len(got) != len(before) {
					t.Errorf("the running daemon's home now has %v, had %v", got, before)
				}
				if _, err := api.Connect(context.Background(), home); err != nil {
					t.Errorf("the running daemon no longer answers: %v", err)
				}
				return
			}
			if _, err := os.Stat(home); tc.noHome && err == nil {
				t.Errorf("%s was created for options refused before anything opens", home)
			}
			if got := endpoint(home); len(got) > 0 {
				t.Errorf("left behind %v", got)
			}
		})
	}
}

// TestStartAfterFailedStart checks that a failed start leaves the home
// usable: the store is closed, and a daemon starts on it at once.
func TestStartAfterFailedStart(t *testing.T) {
	home := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Start(context.Background(), Options{Home: home, Listen: "127.0.0.1:0", API: busy.Addr().String(), NoDHT: true}); err == nil {
		t.Fatal("started on an API port in use")
	}
	d, err := Start(context.Background(), Options{Home: home, Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true})
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	d.Close()
}

// TestStopDuringGet stops a daemon while a get through its API waits for
// content no peer has: the get ends at once with the daemon, which does
// not wait out its shutdown grace period for it.
func TestStopDuringGet(t *testing.T) {
	d, err := Start(context.Background(), Options{Home: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := api.Connect(context.Background(), d.Node().Home())
	if err != nil {
		t.Fatal(err)
	}
	missing := "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
	done := make(chan error, 1)
	go func() {
		done <- c.Get(context.Background(), missing, filepath.Join(t.TempDir(), "out"), dag.GetOptions{})
	}()
	// Wait until the get is fetching (the backend's state), then stop.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for fetching := false; !fetching; {
		d.backend.mu.Lock()
		fetching = len(d.backend.fetching) > 0
		d.backend.mu.Unlock()
		select {
		case <-deadline:
			t.Fatal("the get never started fetching")
		case <-tick.C:
		}
	}
	start := time.Now()
	d.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with a get under way; want well under the 5 s grace period", took)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the get succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the get still runs after the daemon stopped")
	}
}
