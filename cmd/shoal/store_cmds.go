package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/api"
	"github.com/shoal-sync/shoal/sync/daemon"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/node"
)

func defaultHome() (string, error) { return node.DefaultHome() }

// backend is what the store commands call: the daemon's API when a daemon
// runs on the home, else the home's store opened in this process.
type backend interface {
	api.Backend
	Close() error
}

type remote struct{ *api.Client }

func (remote) Close() error { return nil }

func openBackend(ctx context.Context, e *env) (backend, error) {
	c, err := api.Connect(ctx, e.home)
	if err == nil {
		return remote{c}, nil
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return nil, err
	}
	e.offline = true
	return openNode(e)
}

// openNode opens the home's store in this process.
func openNode(e *env) (*node.Node, error) {
	return node.Open(e.home, node.Options{Logger: newLogger(e.stderr, false)})
}

func cmdInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("init", e)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	_, err := os.Stat(filepath.Join(e.home, identity.KeyFile))
	existed := err == nil
	if c, err := api.Connect(ctx, e.home); err == nil { // a daemon holds the store
		var in daemon.Info
		if err := c.Call(ctx, "id", &in); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "shoal home %s exists (its daemon runs); nothing changed\nnode ID %s\n", e.home, in.ID)
		return nil
	}
	n, err := openNode(e)
	if err != nil {
		return err
	}
	defer n.Close()
	if existed {
		fmt.Fprintf(e.stdout, "shoal home %s exists; nothing changed\nnode ID %s\n", e.home, n.Identity().ID())
		return nil
	}
	fmt.Fprintf(e.stdout, "initialised shoal home in %s\nnode ID %s\n", e.home, n.Identity().ID())
	return nil
}

func cmdAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("add", e)
	quieter := fs.Bool("Q", false, "print only the final root CID")
	fs.BoolVar(quieter, "quieter", false, "print only the final root CID")
	quiet := fs.Bool("q", false, "print only CIDs")
	chunk := fs.String("chunker", "fastcdc", "`CHUNKER`: fastcdc, fastcdc-MIN-AVG-MAX, or size-N")
	nocopy := fs.Bool("nocopy", false, "keep references to the files instead of copying their bytes")
	pin := fs.Bool("pin", true, "pin what is added")
	hidden := fs.Bool("hidden", false, "include files and directories whose names start with a dot")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return errors.New("add: no path given")
	}
	cfg, err := chunker.Parse(*chunk)
	if err != nil {
		return fmt.Errorf("add: %w", err)
	}
	var total int64
	for _, p := range paths {
		n, err := treeSize(p)
		if err != nil {
			return fmt.Errorf("add: %w", err)
		}
		total += n
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	bar := newProgress(e.stderr, total, "adding")
	defer bar.Finish()
	opt := dag.AddOptions{Chunker: cfg, NoCopy: *nocopy, Pin: *pin, Hidden: *hidden, Progress: bar.Add}
	roots, err := n.Add(ctx, paths, opt, func(a dag.Added) error {
		switch {
		case *quieter:
		case *quiet:
			bar.Println(e.stdout, a.Cid.String())
		default:
			bar.Println(e.stdout, "added "+a.Cid.String()+" "+a.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if *quieter && len(roots) > 0 {
		bar.Println(e.stdout, roots[len(roots)-1].String())
	}
	return nil
}

// treeSize is the number of file bytes under p, for the progress bar; it
// also reports a missing path before anything is opened.
func treeSize(p string) (int64, error) {
	var n int64
	err := walkFiles(p, func(size int64) { n += size })
	return n, err
}

// onePath parses a command's flags and its one CID[/path] argument.
func onePath(fs *flag.FlagSet, args []string) (string, error) {
	name := strings.TrimPrefix(fs.Name(), "shoal ")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%s: want exactly one CID[/path]", name)
	}
	if _, _, err := dag.ParsePath(pos[0]); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return pos[0], nil
}

func cmdCat(ctx context.Context, e *env, args []string) error {
	p, err := onePath(newFlags("cat", e), args)
	if err != nil {
		return err
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	growPipe(e.stdout)
	return n.Cat(ctx, p, e.stdout)
}

func cmdGet(ctx context.Context, e *env, args []string) error {
	fs := newFlags("get", e)
	out := fs.String("o", "", "output `PATH` (default: the CID or the last path element)")
	force := fs.Bool("force", false, "replace an existing output path with exactly the CID's content")
	p, err := onePath(fs, args)
	if err != nil {
		return err
	}
	root, rest, _ := dag.ParsePath(p)
	if *out == "" {
		*out = root.String()
		if i := strings.LastIndex(rest, "/"); rest != "" {
			*out = rest[i+1:]
		}
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	bar := newProgress(e.stderr, 0, "getting")
	defer bar.Finish()
	if err := n.Get(ctx, p, *out, dag.GetOptions{Force: *force, Progress: bar.Add, Total: bar.SetTotal}); err != nil {
		return err
	}
	bar.Println(e.stderr, "saved "+*out)
	return nil
}

func cmdLs(ctx context.Context, e *env, args []string) error {
	p, err := onePath(newFlags("ls", e), args)
	if err != nil {
		return err
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	links, err := n.Ls(ctx, p)
	if err != nil {
		return err
	}
	for _, l := range links {
		fmt.Fprintf(e.stdout, "%s %d %s\n", l.Cid, l.Tsize, l.Name)
	}
	return nil
}

func cmdPin(ctx context.Context, e *env, args []string) error {
	sub, err := subcommand(e, "pin", args)
	if err != nil {
		return err
	}
	fs := newFlags("pin "+sub, e)
	recursive := new(bool)
	if sub == "add" {
		fs.BoolVar(recursive, "r", true, "pin the whole DAG (fetching what is missing), not only the root block")
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	cids := make([]cid.Cid, 0, len(pos))
	for _, p := range pos {
		c, err := cid.Decode(strings.TrimPrefix(p, "/ipfs/"))
		if err != nil {
			return fmt.Errorf("pin %s: invalid CID %q: %w", sub, p, err)
		}
		cids = append(cids, c)
	}
	if sub != "ls" && len(cids) == 0 {
		return fmt.Errorf("pin %s: no CID given", sub)
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	switch sub {
	case "add":
		for _, c := range cids {
			bar := newProgress(e.stderr, 0, "pinning")
			err := n.PinAdd(ctx, c, dag.PinOptions{Recursive: *recursive, Progress: bar.Add, Total: bar.SetTotal})
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "pinned %s\n", c)
		}
	case "rm":
		for _, c := range cids {
			if err := n.PinRm(ctx, c); err != nil {
				return fmt.Errorf("pin rm %s: %w", c, err)
			}
			fmt.Fprintf(e.stdout, "unpinned %s\n", c)
		}
	case "ls":
		pins, err := n.PinLs(ctx)
		if err != nil {
			return err
		}
		for _, p := range pins {
			fmt.Fprintf(e.stdout, "%s %s\n", p.Cid, p.Mode)
		}
	}
	return nil
}

func cmdGC(ctx context.Context, e *env, args []string) error {
	fs := newFlags("gc", e)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	if nd, ok := n.(*node.Node); ok {
		// Without the daemon no folder registers what it needs: its
		// files' references and kept versions would all go.
		if has, err := daemon.RemembersFolders(ctx, nd.Store()); err != nil {
			return err
		} else if has {
			return fmt.Errorf("gc: %w", daemon.ErrFoldersNeedDaemon)
		}
	}
	st, err := n.GC(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %d blocks, freed %s\n", st.Blocks, humanize.IBytes(uint64(st.Bytes)))
	return nil
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags("export", e)
	out := fs.String("o", "", "write the CAR to `FILE` instead of stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("export: want exactly one CID")
	}
	c, err := cid.Decode(strings.TrimPrefix(pos[0], "/ipfs/"))
	if err != nil {
		return fmt.Errorf("export: invalid CID %q: %w", pos[0], err)
	}
	if *out != "" {
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("export: %s exists", *out)
		}
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	if *out == "" {
		return n.Export(ctx, c, e.stdout)
	}
	return dag.WriteFileAtomic(*out, 0o644, func(f *os.File) error {
		return n.Export(ctx, c, f)
	})
}

func cmdImport(ctx context.Context, e *env, args []string) error {
	fs := newFlags("import", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import: want exactly one FILE.car (or - for stdin)")
	}
	var r io.ReadSeeker
	if pos[0] == "-" {
		tmp, err := spool(e.stdin)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		r = tmp
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	roots, err := n.Import(ctx, r)
	if err != nil {
		return err
	}
	for _, c := range roots {
		fmt.Fprintf(e.stdout, "imported %s (pinned)\n", c)
	}
	return nil
}

// spool copies a stream to an unlinked-on-close temporary file so it can be
// read twice.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "shoal-import-*.car")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func cmdStat(ctx context.Context, e *env, args []string) error {
	fs := newFlags("stat", e)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	n, err := openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.Stat(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "home:        %s\n", e.home)
	fmt.Fprintf(e.stdout, "blocks:      %d copied (%s), %d referenced (%s in files)\n",
		st.Blocks, humanize.IBytes(uint64(st.DataBytes)), st.Refs, humanize.IBytes(uint64(st.RefBytes)))
	if st.StaleRefs > 0 {
		fmt.Fprintf(e.stdout, "stale:       %d references whose files moved or changed (not held; fetched again when needed)\n", st.StaleRefs)
	}
	fmt.Fprintf(e.stdout, "pins:        %d\n", st.Pins)
	fmt.Fprintf(e.stdout, "disk:        %s\n", humanize.IBytes(uint64(st.DiskBytes)))
	return nil
}

func cmdDHT(ctx context.Context, e *env, args []string) error {
	return dhtMain(ctx, e, args)
}
