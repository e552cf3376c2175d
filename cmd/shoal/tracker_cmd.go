package main

import (
	"context"
	"fmt"
	"net"

	"github.com/shoal-sync/shoal/discovery/tracker"
)

// cmdTracker is `shoal tracker`: a small BitTorrent tracker, UDP (BEP 15)
// and HTTP (BEP 3) on one port, for a LAN, a private group or tests.
func cmdTracker(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tracker", e)
	listen := fs.String("listen", "0.0.0.0:6969", "`ADDR` to serve on, UDP and TCP (port 0 picks one)")
	interval := fs.Duration("interval", 0, "`DURATION` between announces asked of peers; a peer silent for twice it is dropped (default 2m)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	s := tracker.NewServer(tracker.ServerOptions{Interval: *interval, Logger: newLogger(e.stderr, e.verbose)})
	return s.ListenAndServe(ctx, *listen, func(udp, tcp net.Addr) {
		fmt.Fprintf(e.stdout, "shoal tracker running\nudp      udp://%s\nhttp     http://%s/announce\n", udp, tcp)
	})
}
