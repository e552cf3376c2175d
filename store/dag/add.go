package dag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// AddOptions says how files are added.
type AddOptions struct {
	Chunker chunker.Config // zero value: FastCDC defaults
	Workers int            // hashing goroutines; 0 = all cores
	// NoCopy keeps references into the files instead of copying their
	// bytes into the store. The files must stay as they are to be read.
	NoCopy bool
	// Pin pins each top-level root recursively in the same commit.
	Pin bool
	// Hidden includes files and directories whose names start with a dot.
	Hidden bool
	// Progress, if set, is called with the number of file bytes just added.
	Progress func(n int64)
	// Logger receives warnings about skipped entries; nil discards them.
	Logger *slog.Logger
	// Buffer, when set, is where AddFile reads a file of up to SmallFile
	// bytes whole, to chunk and hash it on the calling goroutine: many
	// small files at once (a scan) then cost no goroutines and no
	// buffer each. It grows as needed and is kept for the next call, so
	// one goroutine uses one.
	Buffer *[]byte
}

// SmallFile is the largest file AddFile reads whole into
// AddOptions.Buffer.
const SmallFile = 1 << 20

// Added is one file or directory added, reported in the order kubo prints
// them: files before the directory that holds them.
type Added struct {
	Name  string // path as given, slash separated below it
	Cid   cid.Cid
	Size  uint64 // cumulative size of the DAG (what a link to it records)
	IsDir bool
}

// Add adds each path (file or directory, recursively) to s and calls fn for
// every file and directory added. It returns the roots of the paths, in
// order. Nothing of a path is pinned unless all of it was added.
func Add(ctx context.Context, s store.Store, paths []string, opt AddOptions, fn func(Added) error) ([]cid.Cid, error) {
	if opt.Chunker == (chunker.Config{}) {
		opt.Chunker = chunker.DefaultConfig()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if fn == nil {
		fn = func(Added) error { return nil }
	}
	roots := make([]cid.Cid, 0, len(paths))
	for _, p := range paths {
		a := &adder{ctx: ctx, opt: opt, emit: fn, batch: s.NewBatch(ctx)}
		root, err := a.addPath(p)
		if err == nil && opt.Pin {
			err = a.batch.Pin(root.Cid, store.PinRecursive)
		}
		if err == nil {
			err = a.batch.Commit()
		}
		if err != nil {
			a.batch.Discard()
			return roots, err
		}
		roots = append(roots, root.Cid)
	}
	return roots, nil
}

type adder struct {
	ctx   context.Context
	opt   AddOptions
	emit  func(Added) error
	batch store.Batch
}

func (a *adder) addPath(p string) (Added, error) {
	info, err := os.Stat(p)
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", p, err)
	}
	name := filepath.ToSlash(filepath.Clean(p))
	switch {
	case info.Mode().IsRegular():
		return a.addFile(p, name, info)
	case info.IsDir():
		return a.addDir(p, name)
	default:
		return Added{}, fmt.Errorf("add %s: not a regular file or directory", p)
	}
}

func (a *adder) addDir(dir, name string) (Added, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", dir, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var links []unixfs.DirEntry
	for _, e := range ents {
		if !a.opt.Hidden && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		full := filepath.Join(dir, e.Name())
		child := name + "/" + e.Name()
		var sub Added
		switch t := e.Type(); {
		case t.IsRegular():
			info, err := e.Info()
			if err != nil {
				return Added{}, fmt.Errorf("add %s: %w", full, err)
			}
			sub, err = a.addFile(full, child, info)
			if err != nil {
				return Added{}, err
			}
		case t.IsDir():
			sub, err = a.addDir(full, child)
			if err != nil {
				return Added{}, err
			}
		default:
			a.opt.Logger.Warn("skipping entry that is not a regular file or directory", "path", full, "type", t.String())
			continue
		}
		links = append(links, unixfs.DirEntry{Name: e.Name(), Cid: sub.Cid, Tsize: sub.Size})
	}
	// Past kubo's size estimate the directory becomes a HAMT, as in kubo.
	root, size, err := unixfs.BuildDirectory(links, func(blk unixfs.Block) error {
		return a.batch.Put(blk.Cid, blk.Data)
	})
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", dir, err)
	}
	out := Added{Name: name, Cid: root, Size: size, IsDir: true}
	return out, a.emit(out)
}

func (a *adder) addFile(path, name string, info fs.FileInfo) (Added, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", path, err)
	}
	defer f.Close()
	root, size, err := a.addReader(f, abs, info)
	if err != nil {
		return Added{}, fmt.Errorf("add %s: %w", path, err)
	}
	if a.opt.NoCopy {
		// The references are only good if the file did not change while
		// it was read.
		now, err := f.Stat()
		if err != nil {
			return Added{}, fmt.Errorf("add %s: %w", path, err)
		}
		if now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) {
			return Added{}, fmt.Errorf("add %s: %w while it was being added", path, store.ErrRefChanged)
		}
	}
	out := Added{Name: name, Cid: root, Size: size}
	return out, a.emit(out)
}

// addReader chunks one file's bytes into the batch and returns its root.
func (a *adder) addReader(f *os.File, abs string, info fs.FileInfo) (cid.Cid, uint64, error) {
	b := unixfs.NewFileBuilder(func(blk unixfs.Block) error {
		return a.batch.Put(blk.Cid, blk.Data)
	})
	leaves := 0
	split := func(fn func(chunker.Chunk) error) error {
		return chunker.Split(a.ctx, f, chunker.Options{Config: a.opt.Chunker, Workers: a.opt.Workers}, fn)
	}
	if a.opt.Buffer != nil && info != nil && info.Size() <= SmallFile {
		data, err := readSmall(f, a.opt.Buffer, info.Size())
		if err != nil {
			return cid.Undef, 0, err
		}
		split = func(fn func(chunker.Chunk) error) error {
			return chunker.SplitBytes(a.ctx, data, chunker.Options{Config: a.opt.Chunker, Workers: 1}, fn)
		}
	}
	err := split(func(ch chunker.Chunk) error {
		leaf := unixfs.RawCID(ch.Sum)
		var err error
		if a.opt.NoCopy {
			err = a.batch.PutRef(leaf, store.NewRef(abs, info, ch.Offset, uint32(len(ch.Data))))
		} else {
			err = a.batch.Put(leaf, ch.Data)
		}
		if err != nil {
			return err
		}
		leaves++
		if a.opt.Progress != nil {
			a.opt.Progress(int64(len(ch.Data)))
		}
		return b.Add(leaf, uint64(len(ch.Data)))
	})
	if err != nil {
		return cid.Undef, 0, err
	}
	root, tsize, err := b.Finish()
	if err != nil {
		return cid.Undef, 0, err
	}
	if leaves == 0 {
		// The empty file is the empty raw block, which must exist.
		if err := a.batch.Put(root, []byte{}); err != nil {
			return cid.Undef, 0, err
		}
	}
	return root, tsize, nil
}

// readSmall reads f, expected to hold size bytes, whole into *buf. A file
// that changed size meanwhile is read as far as size: the caller's check
// that it did not change fails.
func readSmall(f *os.File, buf *[]byte, size int64) ([]byte, error) {
	if int64(cap(*buf)) < size+1 {
		*buf = make([]byte, size+1)
	}
	b := (*buf)[:size+1]
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:min(int64(n), size)], nil
}
