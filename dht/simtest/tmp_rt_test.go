package simtest

import (
	"testing"
	"time"

	"github.com/shoal-sync/shoal/dht/simnet"
)

func TestTmpRT(t *testing.T) {
	for _, lat := range []time.Duration{0, 100 * time.Microsecond, time.Millisecond} {
		w := time.Now()
		rep, err := RunLookups(t.Context(), LookupOptions{Nodes: 300, Lookups: 100, Seed: 6, Link: simnet.Link{Latency: lat}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lat %v wall %v boot %v lookup median %v p90 %v cpu %v", lat, time.Since(w), rep.BootstrapTime, rep.Latency.Median, rep.Latency.P90, rep.CPU)
	}
}
