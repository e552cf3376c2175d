package simtest

import (
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht"
)

// TestChurn replaces 30% of the nodes per hour for 6 hours of fake time
// while announcers keep their keys announced: 200 nodes and 100 keys in CI,
// SHOAL_SIM_CHURN_NODES and SHOAL_SIM_KEYS for more (issue 5: 1000 keys).
func TestChurn(t *testing.T) {
	opt := ChurnOptions{
		Nodes: envInt(t, "SHOAL_SIM_CHURN_NODES", 200),
		Keys:  envInt(t, "SHOAL_SIM_KEYS", 100),
		Link:  issueLink,
		Seed:  2,
	}
	if testing.Short() {
		opt.Nodes, opt.Keys, opt.Duration = min(opt.Nodes, 100), min(opt.Keys, 50), 2*time.Hour
	}
	wall := time.Now()
	var rep ChurnReport
	synctest.Test(t, func(t *testing.T) {
		var err error
		rep, err = RunChurn(t.Context(), opt)
		if err != nil {
			t.Fatal(err)
		}
	})
	var b strings.Builder
	rep.WriteTo(&b)
	t.Logf("wall %v\n%s", time.Since(wall).Round(time.Millisecond), b.String())
	if want := int(0.3 * float64(rep.Nodes-rep.Announcers) * rep.Duration.Hours()); rep.Replaced < want {
		t.Errorf("replaced %d nodes, want %d", rep.Replaced, want)
	}
	if f := rep.Final().Fraction(); f < 0.995 {
		t.Errorf("found %.2f%% of keys at the end, want ≥ 99.5%%", 100*f)
	}
	if rep.TableLive < 0.5 {
		t.Errorf("only %.1f%% of routing-table entries are live nodes", 100*rep.TableLive)
	}
}

// TestChurnWithoutRepublish is the control: when announcers never
// re-announce within the peer TTL, the keys are gone at the end, so
// TestChurn's result is owed to republishing.
func TestChurnWithoutRepublish(t *testing.T) {
	opt := ChurnOptions{
		Nodes: 100, Keys: 50, Link: issueLink, Seed: 5,
		Duration: time.Hour, CheckEvery: -1,
		Timeouts: dht.Config{AnnounceInterval: 24 * time.Hour, PeerTTL: 30 * time.Minute},
	}
	var rep ChurnReport
	synctest.Test(t, func(t *testing.T) {
		var err error
		rep, err = RunChurn(t.Context(), opt)
		if err != nil {
			t.Fatal(err)
		}
	})
	var b strings.Builder
	rep.WriteTo(&b)
	t.Log("\n" + b.String())
	if f := rep.Final().Fraction(); f > 0.1 {
		t.Errorf("found %.0f%% of keys an hour after their only announce with a 30-minute TTL", 100*f)
	}
}

// TestChurnRealTime runs a compressed churn outside a bubble, as
// `shoalbench dht` does. Real time on a shared machine is noisy, so it runs
// only with SHOAL_SIM_REALTIME set (to the wall time, e.g. 60s).
func TestChurnRealTime(t *testing.T) {
	wall, err := time.ParseDuration(os.Getenv("SHOAL_SIM_REALTIME"))
	if err != nil {
		t.Skip("set SHOAL_SIM_REALTIME=60s to run a compressed churn in real time")
	}
	opt := CompressedChurn(wall)
	opt.Nodes, opt.Keys, opt.Seed = 200, 100, 7
	rep, err := RunChurn(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTo(&b)
	t.Log("\n" + b.String())
	if want := int(0.3 * 6 * float64(rep.Nodes-rep.Announcers)); rep.Replaced < want*9/10 {
		t.Errorf("replaced %d nodes, want about %d", rep.Replaced, want)
	}
	if f := rep.Final().Fraction(); f < 0.98 {
		t.Errorf("found %.2f%% of keys at the end, want ≥ 98%%", 100*f)
	}
}
