package simtest

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/simnet"
)

// TestInternet runs RunInternet in fake time under mainline-like
// conditions and with every knob off: 1,000 nodes and 100 lookups in CI;
// SHOAL_NET_NODES and SHOAL_NET_LOOKUPS for more, SHOAL_NET_OFF=1 for the
// baseline only, SHOAL_NET_JSON=FILE to write the reports as JSON lines
// (`shoalbench dht-internet` runs it so); SHOAL_NET_ANSWER=N for the nodes
// per answer (default 16), SHOAL_NET_UNKNOWN=D for the query timeout of
// unmeasured contacts (default 700ms), SHOAL_NET_LOSS=P for a network
// whose only knob is loss, SHOAL_NET_VOUCH=N for FindNode lookups that
// end without the answers of contacts N answering nodes returned.
func TestInternet(t *testing.T) {
	opt := InternetOptions{
		Nodes:   envInt(t, "SHOAL_NET_NODES", 1000),
		Lookups: envInt(t, "SHOAL_NET_LOOKUPS", 100),
		Seed:    uint64(envInt(t, "SHOAL_NET_SEED", 15)),
	}
	if os.Getenv("SHOAL_NET_ANSWER") != "" {
		opt.AnswerNodes = envInt(t, "SHOAL_NET_ANSWER", 16)
	}
	if os.Getenv("SHOAL_NET_KEYS") != "" {
		opt.PeerKeys = envInt(t, "SHOAL_NET_KEYS", 20)
	}
	if os.Getenv("SHOAL_NET_ALPHA") != "" {
		opt.Alpha = envInt(t, "SHOAL_NET_ALPHA", 3)
	}
	if os.Getenv("SHOAL_NET_VOUCH") != "" {
		opt.Vouch = envInt(t, "SHOAL_NET_VOUCH", 0)
	}
	if v := os.Getenv("SHOAL_NET_LOSS"); v != "" {
		loss, err := strconv.ParseFloat(v, 64)
		if err != nil || loss <= 0 || loss >= 1 {
			t.Fatalf("SHOAL_NET_LOSS=%q: want a probability", v)
		}
		opt.Conditions = simnet.Conditions{Loss: loss, Seed: opt.Seed} // every other knob off
	}
	if v := os.Getenv("SHOAL_NET_UNKNOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SHOAL_NET_UNKNOWN=%q: %v", v, err)
		}
		opt.Timeouts.Unknown = d
	}
	if testing.Short() {
		opt.Nodes, opt.Lookups = min(opt.Nodes, 500), min(opt.Lookups, 50)
	}
	runs := []struct {
		name string
		off  bool
	}{{"mainline", false}, {"off", true}}
	if v := os.Getenv("SHOAL_NET_OFF"); v != "" {
		runs = runs[:1]
		runs[0].off = v == "1"
		if runs[0].off {
			runs[0].name = "off"
		}
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			o := opt
			o.Off = run.off
			wall := time.Now()
			var rep InternetReport
			synctest.Test(t, func(t *testing.T) {
				var err error
				if rep, err = RunInternet(t.Context(), o); err != nil {
					t.Fatal(err)
				}
			})
			var b strings.Builder
			rep.WriteTo(&b)
			t.Logf("wall %v\n%s", time.Since(wall).Round(time.Millisecond), b.String())
			if path := os.Getenv("SHOAL_NET_JSON"); path != "" {
				writeJSONLine(t, path, rep)
				return // a bench run reports; it does not judge
			}
			if rep.Errors > 0 {
				t.Errorf("%d lookups returned errors", rep.Errors)
			}
			// Issue 15 wants ≥ 99.9 % exact over 1,000 lookups. With every
			// knob off a small run allows one miss. Under mainline
			// conditions seeds 1 to 8 and 15 all reach 100 % here, with
			// every key's announcers found; a live node that answers
			// slower than a contact is waited for can still be left out,
			// so two misses and one key are allowed.
			want, peers := 1-1/float64(rep.Lookups), rep.PeerKeys
			if !run.off {
				want, peers = 1-2/float64(rep.Lookups), rep.PeerKeys-1
			}
			if f := rep.ExactFraction(); f < want {
				t.Errorf("exact k closest in %.2f%% of lookups (recall %.3f%%), want ≥ %.1f%%", 100*f, 100*rep.Recall, 100*want)
			}
			if rep.PeersFound < peers {
				t.Errorf("FindPeers saw all %d announcers for %d of %d keys, want ≥ %d", 8, rep.PeersFound, rep.PeerKeys, peers)
			}
			// Hosts behind NATs stay out of tables (dht.Config.VerifyDelay),
			// so few packets meet a closed NAT; churn leaves a few dead entries.
			if !run.off && (rep.Net.Unreachable == 0 || rep.Net.Lost == 0 || rep.DeadEntries <= 0) {
				t.Errorf("mainline conditions did not show: %.1f%% dead entries, %+v", 100*rep.DeadEntries, rep.Net)
			}
		})
	}
}

// writeJSONLine appends v to path as one line of JSON.
func writeJSONLine(t *testing.T, path string, v any) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(v); err != nil {
		t.Fatal(err)
	}
}
