package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/daemon"
	"github.com/shoal-sync/shoal/sync/identity"
)

// foreground holds the daemon flags that share and join take for a
// folder run in the foreground (no daemon running on the home).
type foreground struct {
	listen, api string
	peers       multiFlag
	bootstrap   multiFlag
	noDHT       bool
	noMDNS      bool
}

func (fg *foreground) flags(fs *flag.FlagSet) {
	fs.StringVar(&fg.listen, "listen", daemon.DefaultListen, "without a daemon: TCP address for peers (port 0 picks one)")
	fs.StringVar(&fg.api, "api", daemon.DefaultAPI, "without a daemon: loopback address of the local API")
	fs.Var(&fg.peers, "peer", "without a daemon: peer to keep connected, HOST:PORT or NODEID@HOST:PORT (repeatable)")
	fs.Var(&fg.bootstrap, "bootstrap", "without a daemon: DHT node to join through (repeatable)")
	fs.BoolVar(&fg.noDHT, "no-dht", false, "without a daemon: run no DHT node")
	fs.BoolVar(&fg.noMDNS, "no-mdns", false, "without a daemon: do not look for peers on the LAN with mDNS")
}

// folderCall runs call against the home's daemon, or, when none runs,
// starts one in the foreground for the folder and keeps it running until
// Ctrl-C.
func folderCall(ctx context.Context, e *env, fg *foreground, what string, call func(*api.Client) error) error {
	c, err := api.Connect(ctx, e.home)
	if err == nil {
		return call(c)
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return err
	}
	boot, err := resolveAll(ctx, fg.bootstrap)
	if err != nil {
		return err
	}
	d, err := daemon.Start(ctx, daemon.Options{
		Home: e.home, Listen: fg.listen, API: fg.api, Peers: fg.peers, NoDHT: fg.noDHT, Bootstrap: boot, MDNS: !fg.noMDNS,
		Version: shortVersion(), Logger: daemonLogger(e.stderr, e.verbose),
	})
	if err != nil {
		return err
	}
	c, err = api.Connect(ctx, e.home)
	if err == nil {
		err = call(c)
	}
	if err != nil {
		d.Close()
		return err
	}
	in := d.Info()
	fmt.Fprintf(e.stderr, "syncing in the foreground until Ctrl-C (no daemon runs on %s)\nnode %s, peers connect to %s\n", e.home, in.ID, in.Listen)
	return d.Wait(ctx)
}

func cmdShare(ctx context.Context, e *env, args []string) error {
	fs := newFlags("share", e)
	var fg foreground
	fg.flags(fs)
	var hf historyFlags
	hf.flags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("share: want one folder: shoal share DIR")
	}
	dir := pos[0]
	return folderCall(ctx, e, &fg, "share", func(c *api.Client) error {
		var info daemon.FolderInfo
		if err := c.CallJSON(ctx, "folders/share", daemon.FolderRequest{Path: absPath(dir), Settings: hf.words()}, &info); err != nil {
			return fmt.Errorf("share %s: %w", dir, err)
		}
		fmt.Fprintf(e.stdout, "sharing %s\n", info.Path)
		fmt.Fprintf(e.stdout, "read-write key (can change files):  %s\n", info.RWKey)
		fmt.Fprintf(e.stdout, "read-only key (can only receive):   %s\n", info.ROKey)
		fmt.Fprintf(e.stdout, "on another machine: shoal join KEY DIR\n")
		return nil
	})
}

func cmdJoin(ctx context.Context, e *env, args []string) error {
	fs := newFlags("join", e)
	var fg foreground
	fg.flags(fs)
	var hf historyFlags
	hf.flags(fs)
	var only multiFlag
	fs.Var(&only, "only", "sync only the paths this gitignore-style `PATTERN` selects, relative to the folder (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("join: want a key and a folder: shoal join KEY DIR")
	}
	key, dir := pos[0], pos[1]
	if _, err := identity.ParseFolderKey(key); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	return folderCall(ctx, e, &fg, "join", func(c *api.Client) error {
		var info daemon.FolderInfo
		if err := c.CallJSON(ctx, "folders/join", daemon.FolderRequest{Path: absPath(dir), Key: key, Only: only, Settings: hf.words()}, &info); err != nil {
			return fmt.Errorf("join %s: %w", dir, err)
		}
		mode := "read-write"
		if !info.Writable {
			mode = "read-only"
		}
		fmt.Fprintf(e.stdout, "joined folder %s at %s (%s)\n", info.ID[:8], info.Path, mode)
		if info.Selective {
			fmt.Fprintf(e.stdout, "syncing %s; shoal ls-remote %s lists the rest\n", selectionText(info), info.Path)
		}
		return nil
	})
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func cmdLeave(ctx context.Context, e *env, args []string) error {
	fs := newFlags("leave", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("leave: want one folder: shoal leave DIR")
	}
	c, err := connectDaemon(ctx, e, "leave")
	if err != nil {
		return err
	}
	if err := c.CallJSON(ctx, "folders/leave", daemon.FolderRequest{Path: absPath(pos[0])}, nil); err != nil {
		return fmt.Errorf("leave %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "stopped syncing %s (its files stay)\n", absPath(pos[0]))
	return nil
}

func cmdRevert(ctx context.Context, e *env, args []string) error {
	fs := newFlags("revert", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("revert: want one folder: shoal revert DIR")
	}
	c, err := connectDaemon(ctx, e, "revert")
	if err != nil {
		return err
	}
	var info daemon.FolderInfo
	if err := c.CallJSON(ctx, "folders/revert", daemon.FolderRequest{Path: absPath(pos[0])}, &info); err != nil {
		return fmt.Errorf("revert %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "reverted %s: local changes moved to %s, the folder's version restored\n", info.Path, filepath.Join(info.Path, ".shoal", "versions"))
	return nil
}

func cmdSnapshot(ctx context.Context, e *env, args []string) error {
	fs := newFlags("snapshot", e)
	at := fs.String("at", "", "the folder as it was at `TIME`: RFC 3339 (2026-12-01T09:30:00Z) or a duration back from now (2h)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("snapshot: want one folder: shoal snapshot DIR [--at TIME]")
	}
	c, err := connectDaemon(ctx, e, "snapshot")
	if err != nil {
		return err
	}
	var info daemon.SnapshotInfo
	if err := c.CallJSON(ctx, "folders/snapshot", daemon.SnapshotRequest{Path: absPath(pos[0]), At: *at}, &info); err != nil {
		return fmt.Errorf("snapshot %s: %w", pos[0], err)
	}
	fmt.Fprintln(e.stdout, info.Cid)
	return nil
}

func cmdFolders(ctx context.Context, e *env, args []string) error {
	fs := newFlags("folders", e)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	infos, err := folderStatus(ctx, e, "folders", "")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tFOLDER\tMODE\tSTATE\tSYNCS")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Path, in.ID[:8], mode(in.Writable), stateText(in), selectionText(in))
	}
	return tw.Flush()
}

func mode(w bool) string {
	if w {
		return "rw"
	}
	return "ro"
}

func stateText(in daemon.FolderInfo) string {
	s := string(in.State)
	if in.Error != "" {
		s += ": " + in.Error
	}
	return s
}

func folderStatus(ctx context.Context, e *env, what, path string) ([]daemon.FolderInfo, error) {
	c, err := connectDaemon(ctx, e, what)
	if err != nil {
		return nil, err
	}
	var infos []daemon.FolderInfo
	if err := c.CallJSON(ctx, "folders/status", daemon.FolderRequest{Path: path}, &infos); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return infos, nil
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags("status", e)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return errors.New("status: at most one folder")
	}
	path := ""
	if len(pos) == 1 {
		path = absPath(pos[0])
	}
	infos, err := folderStatus(ctx, e, "status", path)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	if len(infos) == 0 {
		fmt.Fprintln(e.stdout, "no folders (shoal share DIR, or shoal join KEY DIR)")
	}
	for _, in := range infos {
		fmt.Fprintf(e.stdout, "%s  (folder %s, %s)\n", in.Path, in.ID[:8], mode(in.Writable))
		fmt.Fprintf(e.stdout, "  state      %s\n", stateText(in))
		fmt.Fprintf(e.stdout, "  global     %d files, %d dirs, %s\n", in.Files, in.Dirs, humanize.IBytes(uint64(in.Bytes)))
		if in.Selective {
			fmt.Fprintf(e.stdout, "  syncs      %s (%d files, %s not here)\n", selectionText(in), in.UnselectedFiles, humanize.IBytes(uint64(in.UnselectedBytes)))
		}
		if in.NeedFiles > 0 {
			fmt.Fprintf(e.stdout, "  needed     %d files, %s\n", in.NeedFiles, humanize.IBytes(uint64(in.NeedBytes)))
		} else {
			fmt.Fprintf(e.stdout, "  in sync    yes\n")
		}
		fmt.Fprintf(e.stdout, "  peers      %d\n", len(in.Peers))
		if in.History != "" {
			fmt.Fprintf(e.stdout, "  history    %s\n", in.History)
		}
		for _, p := range in.Peers {
			fmt.Fprintf(e.stdout, "    %s\n", p)
		}
		if in.LocalChanged > 0 {
			fmt.Fprintf(e.stdout, "  locally changed (read-only folder: not sent; shoal revert puts them back): %d\n", in.LocalChanged)
		}
		if in.Watch != "" {
			fmt.Fprintf(e.stdout, "  watcher    %s\n", in.Watch)
		}
		for _, c := range in.Conflicts {
			fmt.Fprintf(e.stdout, "  conflict   %s\n", c)
		}
		for _, pe := range in.PathErrors {
			fmt.Fprintf(e.stdout, "  skipped    %s: %s\n", pe.Path, pe.Err)
		}
		for _, pe := range in.PullErrors {
			fmt.Fprintf(e.stdout, "  not synced %s: %s\n", pe.Path, pe.Err)
		}
	}
	return nil
}

func cmdHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlags("history", e)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("history: want one file: shoal history PATH")
	}
	c, err := connectDaemon(ctx, e, "history")
	if err != nil {
		return err
	}
	var vs []daemon.Version
	if err := c.CallJSON(ctx, "folders/history", daemon.HistoryRequest{Path: absPath(pos[0])}, &vs); err != nil {
		return fmt.Errorf("history %s: %w", pos[0], err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME\tSIZE\tDEVICE\tBLOCKS\tCID")
	for _, v := range vs {
		where := whereText(v)
		size := humanize.IBytes(uint64(v.Size))
		if v.Deleted {
			size, where = "deleted", "-"
		}
		mark := ""
		if v.Current {
			mark = " (current)"
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, mark, v.Time.Format("2006-01-02 15:04:05Z"), size, v.Device, where, v.Cid)
	}
	return tw.Flush()
}

// whereText says where a version's blocks are: here, on N peers, nowhere.
func whereText(v daemon.Version) string {
	peers := fmt.Sprintf("%d peers", v.Peers)
	if v.Peers == 1 {
		peers = "1 peer"
	}
	switch {
	case v.Here && v.Peers > 0:
		return "here, " + peers
	case v.Here:
		return "here"
	case v.Peers > 0:
		return peers
	}
	return "nowhere"
}

func cmdRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlags("restore", e)
	version := fs.Int("version", 0, "the version `N` to bring back (shoal history numbers them, 1 the oldest)")
	at := fs.String("at", "", "the version current at `TIME`: RFC 3339 (2026-12-01T09:30:00Z) or a duration back from now (2h)")
	out := fs.String("o", "", "write the version to `OUT` and leave the folder as it is")
	dry := fs.Bool("dry-run", false, "a directory: list what would change, change nothing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("restore: want one path: shoal restore FILE --version N | --at TIME [-o OUT], or shoal restore DIR --at TIME [--dry-run]")
	}
	c, err := connectDaemon(ctx, e, "restore")
	if err != nil {
		return err
	}
	req := daemon.HistoryRequest{Path: absPath(pos[0]), Version: *version, At: *at, DryRun: *dry}
	if *out != "" {
		req.Out = absPath(*out)
	}
	var raw json.RawMessage
	if err := c.CallJSON(ctx, "folders/restore", req, &raw); err != nil {
		return fmt.Errorf("restore %s: %w", pos[0], err)
	}
	if len(raw) > 0 && raw[0] == '[' { // a directory
		var changes []daemon.TreeChange
		if err := json.Unmarshal(raw, &changes); err != nil {
			return err
		}
		verb := "restored"
		if *dry {
			verb = "would restore"
		}
		for _, ch := range changes {
			fmt.Fprintf(e.stdout, "%-8s %s\n", ch.Action, ch.Path)
		}
		fmt.Fprintf(e.stdout, "%s %d paths of %s as they were at %s\n", verb, len(changes), pos[0], *at)
		return nil
	}
	var v daemon.Version
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(e.stdout, "wrote version %d of %s (%s) to %s\n", v.Version, pos[0], v.Time.Format(time.RFC3339), *out)
	} else {
		fmt.Fprintf(e.stdout, "restored version %d of %s (%s); the version it replaced is kept\n", v.Version, pos[0], v.Time.Format(time.RFC3339))
	}
	return nil
}
