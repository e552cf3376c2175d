package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/daemon"
	"github.com/shoal-sync/shoal/sync/transport"
)

// cmdPeersEdit is `shoal peers add|rm ADDR`: a static peer added to or
// removed from the running daemon, and from its store.
func cmdPeersEdit(ctx context.Context, e *env, verb string, args []string) error {
	fs := newFlags("peers "+verb, e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("peers %s: want one address, HOST:PORT or NODEID@HOST:PORT", verb)
	}
	if _, err := transport.ParseAddr(pos[0]); err != nil {
		return fmt.Errorf("peers %s: %w", verb, err)
	}
	c, err := connectDaemon(ctx, e, "peers "+verb)
	if err != nil {
		return err
	}
	if err := c.CallJSON(ctx, "peers/"+verb, daemon.PeerAddRequest{Addr: pos[0]}, nil); err != nil {
		return err
	}
	if verb == "add" {
		fmt.Fprintf(e.stdout, "added %s (kept connected, also after a restart)\n", pos[0])
	} else {
		fmt.Fprintf(e.stdout, "removed %s\n", pos[0])
	}
	return nil
}

// printCandidates lists the dialer's candidate addresses that are not
// connected (all of them with all) and when each is tried next.
func printCandidates(ctx context.Context, e *env, c *api.Client, all bool) error {
	var cands []dialer.Info
	if err := c.Call(ctx, "peers/candidates", &cands); err != nil {
		return err
	}
	var show []dialer.Info
	for _, in := range cands {
		if all || in.State != "connected" && in.State != "self" {
			show = append(show, in)
		}
	}
	if len(show) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout, "\ncandidates:")
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tNODE\tSOURCES\tSTATE\tNEXT\tFAILS\tLAST ERROR")
	now := time.Now()
	for _, in := range show {
		node := "?"
		if !in.ID.IsZero() {
			node = in.ID.Short()
		}
		next := "-"
		if in.State == "waiting" {
			next = "now"
			if d := in.Next.Sub(now); d > 0 {
				next = "in " + d.Round(time.Second).String()
			}
		}
		srcs := ""
		for i, s := range in.Sources {
			if i > 0 {
				srcs += ","
			}
			srcs += string(s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", in.Addr, node, srcs, in.State, next, in.Fails, in.LastErr)
	}
	return tw.Flush()
}
