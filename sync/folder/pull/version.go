package pull

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/folder/index"
)

// repoint records references to the leaves of root in the file now at
// path (a version moved by a rename): its blocks stay readable, so a
// restore, another file or a peer can still have them. Inner nodes are in
// the store already; nothing is read from the file.
func repoint(ctx context.Context, s store.Store, root cid.Cid, path string) error {
	b := s.NewBatch(ctx)
	defer b.Discard()
	if err := RepointInto(ctx, s, b, root, path); err != nil {
		return err
	}
	return b.Commit()
}

// RepointInto puts into b references to the leaves of root (whose inner
// nodes s holds) in the file at path, which holds root's content: what a
// restore writes, so that its blocks are read from it from now on.
func RepointInto(ctx context.Context, s store.Store, b store.Batch, root cid.Cid, path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	var leaves []leaf
	var walk func(c cid.Cid, off int64, n uint64) error
	walk = func(c cid.Cid, off int64, n uint64) error {
		if c.Type() == unixfs.CodecRaw {
			leaves = append(leaves, leaf{c: c, off: off, n: int(n)})
			return nil
		}
		data, err := s.Get(ctx, c)
		if err != nil {
			return err
		}
		nd, err := unixfs.Decode(c, data)
		if err != nil {
			return err
		}
		if len(nd.FS.BlockSizes) != len(nd.Links) {
			return fmt.Errorf("%s: links and blocksizes differ", c)
		}
		off += int64(len(nd.FS.Data))
		for i, l := range nd.Links {
			if err := walk(l.Cid, off, nd.FS.BlockSizes[i]); err != nil {
				return err
			}
			off += int64(nd.FS.BlockSizes[i])
		}
		return nil
	}
	if err := walk(root, 0, uint64(info.Size())); err != nil {
		return err
	}
	for _, l := range leaves {
		if l.n == 0 {
			continue
		}
		if err := b.PutRef(l.c, store.NewRef(path, info, l.off, uint32(l.n))); err != nil {
			return err
		}
	}
	return nil
}

// Export writes the file that record g describes to dst, through a
// temporary file beside dst that is synced and renamed: blocks come from
// this machine where they are (kept versions included) and from peers
// otherwise, each verified. It records no references.
func Export(ctx context.Context, opt Options, g *index.Record, dst string) error {
	return export(ctx, opt, g, dst, true)
}

// ExportStaged writes the file that record g describes to dst itself, as
// Export fetches it, but does not make it durable: a caller staging many
// files makes them durable at once with Flush, then renames them.
func ExportStaged(ctx context.Context, opt Options, g *index.Record, dst string) error {
	return export(ctx, opt, g, dst, false)
}

// Flush makes the files (or directories) at paths durable, as a group
// where the system allows (one syncfs per filesystem on Linux).
func Flush(paths []string) error { return flushFiles(paths) }

// FlushDirs makes renames into dirs durable, likewise.
func FlushDirs(dirs []string) error { return flushDirs(dirs) }

func export(ctx context.Context, opt Options, g *index.Record, dst string, durable bool) (err error) {
	if g.Type != index.TypeFile || g.Deleted {
		return fmt.Errorf("%s: that version is not a file", g.Path)
	}
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Second
	}
	if opt.Space != nil {
		if err := opt.Space(g.Size); err != nil {
			return err
		}
	}
	tmp := dst
	flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if durable {
		var rnd [6]byte
		rand.Read(rnd[:])
		tmp = filepath.Join(filepath.Dir(dst), ".shoal-tmp-restore-"+hex.EncodeToString(rnd[:]))
		flags = os.O_RDWR | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(tmp, flags, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(g.Size); err != nil {
		return err
	}
	sink := newFileSink(f, nil, g.Cid(), g.Size, nil)
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchIdle(fctx, cancel, sink, opt.Idle, opt.Received)
	if err := opt.Fetch.Fetch(fctx, g.Cid(), sink); err != nil {
		if errors.Is(context.Cause(fctx), ErrStalled) {
			return fmt.Errorf("%s: no reachable peer has the blocks of that version: %w", g.Path, ErrStalled)
		}
		return err
	}
	if err := sink.complete(); err != nil {
		return err
	}
	if err := f.Chmod(g.FileMode()); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp, g.Time(), g.Time()); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}
