package simtest

import (
	"strings"
	"testing"
)

// TestRunBench runs the bench entry point at toy sizes and checks that
// every table is printed.
func TestRunBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every measurement: skipped with -short")
	}
	var b strings.Builder
	err := RunBench(t.Context(), &b, BenchOptions{Nodes: 100, Lookups: 20, ChurnWall: -1, UDPNodes: 30, MemNodes: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, title := range []string{"dht memory", "dht ping rate (loopback UDP, one server)", "dht lookups (loopback UDP)", "dht lookups (simnet)"} {
		if !strings.Contains(out, title+"\n") {
			t.Errorf("output lacks the %q table", title)
		}
	}
	if strings.Contains(out, "dht churn") {
		t.Error("churn ran although ChurnWall < 0")
	}
}
