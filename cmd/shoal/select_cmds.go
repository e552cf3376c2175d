package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"

	"github.com/shoal-sync/shoal/sync/daemon"
)

// selectionText says what a folder syncs, for folders and status.
func selectionText(in daemon.FolderInfo) string {
	switch {
	case !in.Selective:
		return "all"
	case len(in.Only) == 0:
		return "nothing (shoal fetch or shoal folder select to add paths)"
	}
	return "only " + strings.Join(in.Only, " ")
}

func cmdFolder(ctx context.Context, e *env, args []string) error {
	sub, err := subcommand(e, "folder", args)
	if err != nil {
		return err
	}
	switch sub {
	case "select":
		return cmdFolderSelect(ctx, e, args[1:])
	case "set":
		return cmdFolderSet(ctx, e, args[1:])
	}
	return fmt.Errorf("folder: unknown subcommand %q", sub)
}

func cmdFolderSelect(ctx context.Context, e *env, args []string) error {
	fs := newFlags("folder select", e)
	add := fs.Bool("add", false, "add the patterns to the selection (their files are pulled)")
	remove := fs.Bool("remove", false, "remove the patterns from the selection (their files stay here, no longer synced)")
	all := fs.Bool("all", false, "sync every path of the folder again")
	none := fs.Bool("none", false, "sync no path (ls-remote still lists them; fetch brings one in)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("folder select: want a folder: shoal folder select DIR [PATTERN...]")
	}
	req := daemon.SelectRequest{Path: absPath(pos[0]), Patterns: pos[1:]}
	n := 0
	for _, f := range []struct {
		set  bool
		mode string
	}{{*add, "add"}, {*remove, "remove"}, {*all, "all"}, {*none, "none"}} {
		if f.set {
			req.Mode = f.mode
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("folder select: --add, --remove, --all and --none go one at a time")
	case (req.Mode == "all" || req.Mode == "none") && len(req.Patterns) > 0:
		return fmt.Errorf("folder select: --%s takes no patterns", req.Mode)
	case (req.Mode == "add" || req.Mode == "remove") && len(req.Patterns) == 0:
		return fmt.Errorf("folder select: --%s wants patterns", req.Mode)
	case n == 0 && len(req.Patterns) == 0:
		req.Mode = "show"
	}
	c, err := connectDaemon(ctx, e, "folder select")
	if err != nil {
		return err
	}
	var info daemon.FolderInfo
	if err := c.CallJSON(ctx, "folders/select", req, &info); err != nil {
		return fmt.Errorf("folder select %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "%s syncs %s\n", info.Path, selectionText(info))
	if info.Selective {
		fmt.Fprintf(e.stdout, "  not synced here: %d files, %s (shoal ls-remote %s lists them)\n",
			info.UnselectedFiles, humanize.IBytes(uint64(info.UnselectedBytes)), info.Path)
	}
	return nil
}

func cmdLsRemote(ctx context.Context, e *env, args []string) error {
	fs := newFlags("ls-remote", e)
	asJSON := fs.Bool("json", false, "print JSON")
	depth := fs.Int("depth", 0, "list `N` levels below the path (0: the whole tree; 1: one directory)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return errors.New("ls-remote: want a folder and maybe a path in it: shoal ls-remote DIR [PATH]")
	}
	if *depth < 0 {
		return errors.New("ls-remote: --depth is 0 or more")
	}
	p := absPath(pos[0])
	if len(pos) == 2 {
		if filepath.IsAbs(pos[1]) {
			return fmt.Errorf("ls-remote: %s: PATH is relative to the folder", pos[1])
		}
		p = filepath.Join(p, pos[1])
	}
	c, err := connectDaemon(ctx, e, "ls-remote")
	if err != nil {
		return err
	}
	var out daemon.LsRemoteReply
	if err := c.CallJSON(ctx, "folders/ls-remote", daemon.LsRemoteRequest{Path: p, Depth: *depth}, &out); err != nil {
		return fmt.Errorf("ls-remote %s: %w", strings.Join(pos, " "), err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tTYPE\tSIZE\tMODIFIED\tPEERS\tHERE")
	for _, en := range out.Entries {
		size, peers := humanize.IBytes(uint64(en.Size)), fmt.Sprintf("%d/%d", en.Peers, out.Peers)
		if en.Type != "file" {
			size, peers = "-", "-"
		}
		here := "no"
		switch {
		case en.Here:
			here = "yes"
		case en.Present:
			here = "other version"
		}
		if !en.Selected {
			here += " (not selected)"
		}
		name := en.Path
		if en.Type == "dir" {
			name += "/"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, en.Type, size, en.ModTime.Format("2006-01-02 15:04"), peers, here)
	}
	return tw.Flush()
}

func cmdFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlags("fetch", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("fetch: want one path inside a synced folder: shoal fetch DIR/PATH")
	}
	c, err := connectDaemon(ctx, e, "fetch")
	if err != nil {
		return err
	}
	var out daemon.FetchReply
	if err := c.CallJSON(ctx, "folders/fetch", daemon.FetchRequest{Path: absPath(pos[0])}, &out); err != nil {
		return fmt.Errorf("fetch %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "fetched %s: %d files, %s", out.Path, out.Files, humanize.IBytes(uint64(out.Bytes)))
	if out.Pattern != "" {
		fmt.Fprintf(e.stdout, " (selected from now on: %s)", out.Pattern)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
