package simtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/simnet"
)

// issueLink is the network of issue 5's measurements.
var issueLink = simnet.Link{Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.01}

// envInt reads a positive integer from the environment, or returns def.
func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// TestLookups runs RunLookups in fake time: 500 nodes and 200 lookups in
// CI, or SHOAL_SIM_NODES nodes and SHOAL_SIM_LOOKUPS lookups (issue 5:
// 10000 and 1000), on issue 5's links and on lossless ones.
func TestLookups(t *testing.T) {
	nodes := envInt(t, "SHOAL_SIM_NODES", 500)
	lookups := envInt(t, "SHOAL_SIM_LOOKUPS", 200)
	if testing.Short() {
		nodes, lookups = min(nodes, 200), min(lookups, 50)
	}
	tests := []struct {
		name string
		link simnet.Link
	}{
		{"lossless", simnet.Link{Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}},
		{"issue5", issueLink},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wall := time.Now()
			var rep LookupReport
			synctest.Test(t, func(t *testing.T) {
				var err error
				rep, err = RunLookups(t.Context(), LookupOptions{Nodes: nodes, Lookups: lookups, Link: tt.link, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
			})
			var b strings.Builder
			rep.WriteTo(&b)
			t.Logf("wall %v\n%s", time.Since(wall).Round(time.Millisecond), b.String())
			if rep.BootstrapFailures > 0 {
				t.Errorf("%d nodes failed to bootstrap", rep.BootstrapFailures)
			}
			if rep.Errors > 0 {
				t.Errorf("%d lookups returned errors", rep.Errors)
			}
			// Issue 5: ≥ 99.9% exact over 1000 lookups. With 1% loss a
			// query round trip fails 2% of the time and the server asks a
			// silent node 3 times, so about 1 lookup in 15,000 misses one
			// of its k closest: smaller runs allow one miss, not to flake.
			want := 0.999
			if rep.Lookups < 1000 {
				want = 1 - 1/float64(rep.Lookups)
			}
			if f := rep.ExactFraction(); f < want {
				t.Errorf("exact k closest in %.2f%% of lookups (recall %.2f%%), want ≥ %.2f%%", 100*f, 100*rep.Recall, 100*want)
			}
			if rep.Rounds.Median > 4 || rep.Messages.Median > 40 {
				t.Errorf("median %d rounds, %d messages per lookup; issue 5 wants ≤ 4 and ≤ 40", rep.Rounds.Median, rep.Messages.Median)
			}
			// Counters are read while the nodes run: a few packets may be between them.
			if st := rep.Net; st.Sent == 0 || st.Delivered+st.Dropped()+st.InFlight > st.Sent || st.Delivered+st.Dropped()+st.InFlight+10 < st.Sent {
				t.Errorf("network stats do not add up: %+v", st)
			}
		})
	}
}

// TestLookupsRealTime runs RunLookups outside a bubble, as `shoalbench dht`
// does: real timers, so 1 ms links and a small network, where every delay
// beyond them is the machine's. On a loaded machine answers come seconds
// late; lookups whose timeouts did not follow the round trips they saw
// (unknown contacts capped at 700 ms, no back-off, given up after 2 s)
// lost 20–60 of 300 bootstraps here at load 20.
func TestLookupsRealTime(t *testing.T) {
	rep, err := RunLookups(t.Context(), LookupOptions{Nodes: 300, Lookups: 100, Seed: 6, Link: simnet.Link{Latency: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTo(&b)
	t.Log("\n" + b.String())
	if rep.Exact != rep.Lookups || rep.Errors != 0 || rep.BootstrapFailures != 0 {
		t.Errorf("%d of %d lookups exact, %d errors, %d bootstraps failed", rep.Exact, rep.Lookups, rep.Errors, rep.BootstrapFailures)
	}
}
