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
)

// env is what every command gets: where to find the home and where to write.
type env struct {
	home   string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

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
		{"peers", "peers                      list connected peers (needs a daemon)", cmdPeers},
		{"add", "add [flags] PATH...        add files or directories, print their CIDs", cmdAdd},
		{"cat", "cat CID[/path]             write a file to stdout", cmdCat},
		{"get", "get [-o OUT] [--force] CID[/path]  write a file or tree to disk", cmdGet},
		{"ls", "ls CID[/path]              list a directory", cmdLs},
		{"pin", "pin add|rm|ls [CID...]     manage pins", cmdPin},
		{"gc", "gc                         remove blocks no pin or folder needs", cmdGC},
		{"export", "export [-o FILE] CID       write a CAR v1 of a DAG", cmdExport},
		{"import", "import FILE.car|-          read a CAR v1, verify it, pin its roots", cmdImport},
		{"stat", "stat                       store size, blocks, pins", cmdStat},
		{"share", "share DIR                  share a folder: print its keys and sync it (in the foreground without a daemon)", cmdShare},
		{"join", "join KEY DIR               sync a shared folder into DIR (in the foreground without a daemon)", cmdJoin},
		{"folders", "folders                    list synced folders", cmdFolders},
		{"status", "status [DIR] [--json]      what each folder is doing: state, files needed, peers, conflicts", cmdStatus},
		{"leave", "leave DIR                  stop syncing a folder (its files stay)", cmdLeave},
		{"dht", "dht SUBCOMMAND ...         run or query the DHT (serve, ping, find-node, get-peers, announce, put, get, table)", cmdDHT},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "shoal: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shoal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", "", "state directory (default $SHOAL_HOME, else the OS config dir + /shoal)")
	timeout := fs.Duration("timeout", 0, "give up on the command after this long (e.g. 30s); 0: never")
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	e := &env{home: *home, stdin: stdin, stdout: stdout, stderr: stderr}
	if e.home == "" {
		h, err := defaultHome()
		if err != nil {
			return err
		}
		e.home = h
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if *timeout < 0 || (*timeout > 0 && name == "daemon") {
		return fmt.Errorf("--timeout %s: must be positive, and is for commands, not the daemon", *timeout)
	}
	if *timeout > 0 {
		// As kubo's --timeout: a get of content no peer has gives up.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("%s: gave up after %s (--timeout)", name, *timeout))
		defer cancel()
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, e, rest)
			if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return context.Cause(ctx)
			}
			return err
		}
	}
	if name == "help" {
		usage(stdout)
		return nil
	}
	return fmt.Errorf("unknown command %q (see `shoal help`)", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: shoal [--home DIR] [--timeout DURATION] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
}

// parseArgs parses flags that may come before, between or after
// positional arguments (as `shoal add FILE -Q` allows) and returns the
// positional ones. "--" ends flag parsing.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
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
		return fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "shoal "), pos[0])
	}
	return nil
}

func newFlags(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("shoal "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}
