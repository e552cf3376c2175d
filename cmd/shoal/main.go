// Command shoal is a content-addressed peer-to-peer folder sync tool: it
// adds files to a block store as IPFS-compatible DAGs, moves them between
// peers, and keeps folders in sync.
//
// This file only parses the command line and wires packages together; the
// work is done in the packages it calls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// env is what every command gets: where to find the home, where to
// write, and the global flags.
type env struct {
	home    string
	verbose bool          // -v
	timeout time.Duration // --timeout; 0: none
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	offline bool // the command opened the store itself: no daemon runs
}

// command is one line of the command table: its name, its usage line
// (syntax, then at least two spaces, then what it does: `shoal NAME
// --help` prints both with the flags), and what runs it.
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"init", "init                       create the home (key, store)", cmdInit},
		{"id", "id                         print the node ID and listen addresses", cmdID},
		{"daemon", "daemon [flags]             run the node: peers, swarm, DHT, local API", cmdDaemon},
		{"peers", "peers [add|rm ADDR]        list connected peers and candidates; add or remove a static peer (needs a daemon)", cmdPeers},
		{"add", "add [flags] PATH...        add files or directories, print their CIDs", cmdAdd},
		{"cat", "cat CID[/path]             write a file to stdout", cmdCat},
		{"get", "get [-o OUT] [--force] CID[/path]  write a file or tree to disk", cmdGet},
		{"ls", "ls CID[/path]              list a directory", cmdLs},
		{"pin", "pin add|rm|ls [CID...]     manage pins", cmdPin},
		{"gc", "gc                         remove blocks no pin or folder needs", cmdGC},
		{"export", "export [-o FILE] CID       write a CAR v1 of a DAG", cmdExport},
		{"import", "import FILE.car|-          read a CAR v1, verify it, pin its roots", cmdImport},
		{"stat", "stat                       store size, blocks, pins", cmdStat},
		{"tracker", "tracker [--listen ADDR]    run a small BitTorrent tracker (UDP and HTTP) for peers to meet at", cmdTracker},
		{"share", "share DIR                  share a folder: print its keys and sync it (in the foreground without a daemon)", cmdShare},
		{"join", "join KEY DIR               sync a shared folder into DIR (in the foreground without a daemon)", cmdJoin},
		{"folders", "folders                    list synced folders", cmdFolders},
		{"status", "status [DIR] [--json]      what each folder is doing: state, files needed, peers, conflicts", cmdStatus},
		{"leave", "leave DIR                  stop syncing a folder (its files stay)", cmdLeave},
		{"folder", "folder select DIR [PATTERN...] | set DIR KEY=VALUE...  the paths a folder syncs here; what it keeps of its past", cmdFolder},
		{"ls-remote", "ls-remote DIR [PATH] [--json]  list the folder's files, here or not: size, peers holding them, whether here", cmdLsRemote},
		{"fetch", "fetch DIR/PATH             pull one file or directory of a selective folder now (it stays synced)", cmdFetch},
		{"history", "history PATH [--json]      the versions of a synced file the folder knows, and where their blocks are", cmdHistory},
		{"restore", "restore PATH --version N|--at TIME [-o OUT]  bring back an earlier version of a synced file", cmdRestore},
		{"snapshot", "snapshot DIR [--at TIME]   pin the folder as it is now (or was then) as one UnixFS directory, print its CID", cmdSnapshot},
		{"revert", "revert DIR                 read-only folder: put local edits aside, bring back the folder's version", cmdRevert},
		{"dht", "dht SUBCOMMAND ...         run or query the DHT (serve, ping, find-node, get-peers, providers, announce, put, get, table)", cmdDHT},
		{"version", "version                    print the version, the commit it was built from, and Go's", cmdVersion},
	}
}

// longRunning commands run until stopped: --timeout is not for them.
func longRunning(name string, args []string) bool {
	return name == "daemon" || (name == "dht" && len(args) > 0 && args[0] == "serve")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g, args, err := parseGlobals(args)
	if err != nil {
		return err
	}
	switch {
	case g.version:
		printVersion(stdout)
		return errHelp
	case g.help || (len(args) > 0 && args[0] == "help" && len(args) == 1):
		usage(stdout)
		return errHelp
	case len(args) == 0:
		usage(stderr)
		return errors.New("no command given")
	}
	name, rest := args[0], args[1:]
	if name == "help" { // help COMMAND [SUBCOMMAND]: as COMMAND [SUBCOMMAND] --help
		name, rest = rest[0], append(rest[1:], "--help")
	}
	e := &env{home: g.home, verbose: g.verbose, timeout: g.timeout, stdin: stdin, stdout: stdout, stderr: stderr}
	if e.home == "" {
		h, err := defaultHome()
		if err != nil {
			return err
		}
		e.home = h
	}
	if g.timeout > 0 && longRunning(name, rest) {
		return fmt.Errorf("--timeout is for commands that end, not for %s", strings.Join(args[:min(len(args), 2)], " "))
	}
	if g.timeout > 0 {
		// As kubo's --timeout: a get of content no peer has gives up.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, g.timeout, fmt.Errorf("%s: gave up after %s (--timeout)", name, g.timeout))
		defer cancel()
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, e, rest)
			if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return context.Cause(ctx)
			}
			if err != nil && ctx.Err() != nil { // Ctrl-C or SIGTERM
				return fmt.Errorf("%s: interrupted", name)
			}
			return explain(e, err)
		}
	}
	return fmt.Errorf("unknown command %q (see `shoal --help`)", name)
}

func cmdVersion(ctx context.Context, e *env, args []string) error {
	if err := noArgs(newFlags("version", e), args); err != nil {
		return err
	}
	printVersion(e.stdout)
	return nil
}

// parseArgs parses flags that may come before, between or after
// positional arguments (as `shoal add FILE -Q` allows) and returns the
// positional ones. "--" ends flag parsing. --help prints the command's
// help and gives errHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// noArgs parses the flags of a command that takes no other arguments, and
// refuses any.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		name := strings.TrimPrefix(fs.Name(), "shoal ")
		return fmt.Errorf("%s: unexpected argument %q (see `shoal %s --help`)", name, pos[0], name)
	}
	return nil
}
