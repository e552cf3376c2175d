package main

import (
	"context"
	"os"
	"os/exec"

	"github.com/shoal-sync/shoal/dht/simtest"
)

// benchDHT prints the DHT reports: memory per node, pings answered per
// second, lookups over real UDP on loopback, lookups and churn in the
// in-memory network (in real time here; the tests run the sizes in
// fake time, see the README).
func benchDHT(ctx context.Context, opt options, t *table) error {
	t.note("reports follow, one table each")
	t.print(os.Stdout)
	t.rows, t.notes = nil, nil
	return simtest.RunBench(ctx, os.Stdout, simtest.BenchOptions{})
}

// benchDHTSim runs the simulation tests at issue 5's sizes in fake time:
// 10,000 nodes and 1,000 lookups on 50±20 ms links with 1 % loss, and six
// hours of 30 %-an-hour churn over 1,000 nodes with 1,000 keys. Fake time
// needs testing/synctest, so this runs `go test` and prints its reports.
func benchDHTSim(ctx context.Context, opt options, t *table) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-timeout=60m",
		"-run", "^(TestLookups|TestChurn)$", "./dht/simtest")
	cmd.Env = append(os.Environ(),
		"SHOAL_SIM_NODES=10000", "SHOAL_SIM_LOOKUPS=1000",
		"SHOAL_SIM_CHURN_NODES=1000", "SHOAL_SIM_KEYS=1000")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	t.note("ran: SHOAL_SIM_NODES=10000 SHOAL_SIM_LOOKUPS=1000 SHOAL_SIM_CHURN_NODES=1000 SHOAL_SIM_KEYS=1000 go test -v -run '^(TestLookups|TestChurn)$' ./dht/simtest")
	return cmd.Run()
}
