package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/shoal-sync/shoal/sync/daemon"
)

// historyFlags are share's and join's flags for a folder's versioning
// and retention; they become key=value words, as shoal folder set takes.
type historyFlags struct {
	versioning, versions, maxAge, maxSize string
}

func (h *historyFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&h.versioning, "versioning", "", "which changes keep the version they replace: `remote` (peers' changes, the default) or all (local edits too)")
	fs.StringVar(&h.versions, "versions", "", "versions kept per file (default 10)")
	fs.StringVar(&h.maxAge, "max-age", "", "keep versions this `long` after they were replaced: 30d (default), 2w, 12h; 0 for no limit")
	fs.StringVar(&h.maxSize, "max-size", "", "total `size` of kept versions: 10% of the folder (default), or 5GiB; 0 for no limit")
}

func (h *historyFlags) words() []string {
	var out []string
	for _, kv := range [][2]string{{"versioning", h.versioning}, {"versions", h.versions}, {"max-age", h.maxAge}, {"max-size", h.maxSize}} {
		if kv[1] != "" {
			out = append(out, kv[0]+"="+kv[1])
		}
	}
	return out
}

// cmdFolderSet runs shoal folder set DIR KEY=VALUE...
func cmdFolderSet(ctx context.Context, e *env, args []string) error {
	fs := newFlags("folder set", e)
	var h historyFlags
	h.flags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return errors.New("folder set: want a folder and settings: shoal folder set DIR versions=20 max-age=7d max-size=5%")
	}
	words := append(pos[1:], h.words()...)
	c, err := connectDaemon(ctx, e, "folder set")
	if err != nil {
		return err
	}
	var info daemon.FolderInfo
	if err := c.CallJSON(ctx, "folders/set", daemon.SetRequest{Path: absPath(pos[0]), Settings: words}, &info); err != nil {
		return fmt.Errorf("folder set %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", info.Path, info.History)
	return nil
}
