package dag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/diskfree"
)

// ParsePath splits "CID" or "CID/a/b" (optionally prefixed by /ipfs/) into
// the root CID and the path below it.
func ParsePath(s string) (cid.Cid, string, error) {
	s = strings.TrimPrefix(s, "/ipfs/")
	head, rest, _ := strings.Cut(s, "/")
	c, err := cid.Decode(head)
	if err != nil {
		return cid.Undef, "", fmt.Errorf("invalid CID %q: %w", head, err)
	}
	return c, strings.Trim(rest, "/"), nil
}

// Resolve returns the CID that "CID[/path]" names.
func Resolve(ctx context.Context, g unixfs.Getter, p string) (cid.Cid, error) {
	g = unixfs.WithIdentity(g)
	root, rest, err := ParsePath(p)
	if err != nil {
		return cid.Undef, err
	}
	if rest == "" {
		return root, nil
	}
	return unixfs.Resolve(ctx, g, root, rest)
}

// Cat writes the file that p names to w.
func Cat(ctx context.Context, g unixfs.Getter, p string, w io.Writer) (int64, error) {
	g = unixfs.WithIdentity(g)
	c, err := Resolve(ctx, g, p)
	if err != nil {
		return 0, fmt.Errorf("cat %s: %w", p, err)
	}
	r, err := unixfs.NewFileReader(ctx, g, c)
	if err != nil {
		return 0, fmt.Errorf("cat %s: %w", p, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return n, fmt.Errorf("cat %s: %w", p, err)
	}
	return n, nil
}

// ErrExists means the output path of Get exists and is not empty.
var ErrExists = errors.New("output path exists (use --force to replace it)")

// GetOptions says how Get writes to disk.
type GetOptions struct {
	Force    bool          // replace an existing output path
	Progress func(n int64) // called with file bytes written
	// Total, if set, is called once before any Progress with the bytes
	// Progress will add up to: a file's size, or for a directory its DAG's
	// cumulative size (a little more than its files' bytes).
	Total func(n int64)
	// MinFree is the free space kept on the output's filesystem: a file
	// that would take it below is not written, with an error wrapping
	// syscall.ENOSPC. Zero means 1 % (diskfree.DefaultPercent).
	MinFree diskfree.Floor
}

// checkRoom returns nil if a file of size bytes may be written in dir.
func (opt GetOptions) checkRoom(dir string, size int64) error {
	floor := opt.MinFree
	if floor == (diskfree.Floor{}) {
		floor = diskfree.Floor{Percent: diskfree.DefaultPercent}
	}
	if err := diskfree.Check(dir, uint64(max(size, 0)), floor); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	return nil
}

// PinOptions says how to pin.
type PinOptions struct {
	Recursive bool // pin the whole DAG (it must all be present), not just the root block
	// Progress, if set, is called with the bytes of blocks fetched from
	// peers (and of those already here, once a fetch walks the DAG).
	Progress func(n int64)
	// Total, if set, is called once before any Progress with the DAG's
	// cumulative size when a recursive pin fetches from peers.
	Total func(n int64)
}

// ReportTotal calls opt.Total, if set, with the size of what info
// describes.
func (opt GetOptions) ReportTotal(info unixfs.Info) {
	if opt.Total == nil {
		return
	}
	n := info.Size
	if info.IsDir() {
		n = info.CumulativeSize
	}
	opt.Total(int64(n))
}

// Get writes the file or directory tree that p names to out. Every file is
// written to a temporary file beside its target, synced, and renamed into
// place; a tree is written beside out and swapped in whole (swapIn), so a
// failure or a crash leaves out as it was, and Force replaces out with
// exactly the tree.
func Get(ctx context.Context, g unixfs.Getter, p, out string, opt GetOptions) error {
	out = filepath.Clean(out)
	g = unixfs.WithIdentity(g)
	c, err := Resolve(ctx, g, p)
	if err != nil {
		return fmt.Errorf("get %s: %w", p, err)
	}
	info, err := unixfs.Stat(ctx, g, c)
	if err != nil {
		return fmt.Errorf("get %s: %w", p, err)
	}
	if err := CheckOut(out, opt.Force, info.IsDir()); err != nil {
		return err
	}
	opt.ReportTotal(info)
	stage := stagePath(out, c)
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if info.IsDir() {
		err = getDir(ctx, g, c, stage, opt)
	} else {
		err = getFile(ctx, g, c, stage, opt)
	}
	if err == nil {
		err = swapIn(stage, out, opt.Force)
	}
	if err != nil {
		os.RemoveAll(stage)
		return stageErr(err, stage, out)
	}
	return nil
}

func getDir(ctx context.Context, g unixfs.Getter, c cid.Cid, out string, opt GetOptions) error {
	links, err := unixfs.ListDir(ctx, g, c)
	if err != nil {
		return fmt.Errorf("get %s: %w", out, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	for _, l := range links {
		if err := checkName(l.Name); err != nil {
			return fmt.Errorf("get %s: %w", out, err)
		}
		target := filepath.Join(out, l.Name)
		info, err := unixfs.Stat(ctx, g, l.Cid)
		if err != nil {
			return fmt.Errorf("get %s: %w", target, err)
		}
		if info.IsDir() {
			err = getDir(ctx, g, l.Cid, target, opt)
		} else {
			err = getFile(ctx, g, l.Cid, target, opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses directory entry names that would escape the output.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("unsafe entry name %q", name)
	}
	return nil
}

func getFile(ctx context.Context, g unixfs.Getter, c cid.Cid, out string, opt GetOptions) error {
	r, err := unixfs.NewFileReader(ctx, g, c)
	if err != nil {
		return fmt.Errorf("get %s: %w", out, err)
	}
	defer r.Close()
	if err := opt.checkRoom(filepath.Dir(out), int64(r.Size())); err != nil {
		return err
	}
	return WriteFileAtomic(out, 0o644, func(f *os.File) error {
		var w io.Writer = f
		if r.Size() >= flushMin {
			bw := &behindWriter{w: f, fl: newFlusher(f)}
			defer bw.fl.stop()
			w = bw
		}
		if opt.Progress != nil {
			w = progressWriter{w, opt.Progress}
		}
		_, err := io.Copy(w, r)
		return err
	})
}

// behindWriter writes a file from start to end and hands each whole
// flushStep to a flusher, so a large output goes to disk as it is written.
type behindWriter struct {
	w   io.Writer
	fl  *flusher
	off int64
}

func (b *behindWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	before := b.off / flushStep
	b.off += int64(n)
	for k := before; k < b.off/flushStep; k++ {
		b.fl.whole(k * flushStep)
	}
	return n, err
}

type progressWriter struct {
	w  io.Writer
	fn func(int64)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.fn(int64(n))
	return n, err
}

// WriteFileAtomic writes a file through a temporary file in the same
// directory: fill is called to write it, then it is synced and renamed over
// path. On any error the temporary file is removed and path is untouched.
func WriteFileAtomic(path string, perm os.FileMode, fill func(*os.File) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Missing reports whether any block of the DAG under root is absent from
// s. It reads the DAG's inner nodes but only asks Has of its raw leaves;
// identity CIDs are never missing.
func Missing(ctx context.Context, s Store, root cid.Cid) (bool, error) {
	stack := []cid.Cid{root}
	seen := make(map[cid.Cid]bool)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] {
			continue
		}
		seen[c] = true
		if data, ok := unixfs.IdentityData(c); ok {
			// Its CID is its content: never missing.
			links, err := unixfs.Links(c, data)
			if err != nil {
				return false, fmt.Errorf("block %s: %w", c, err)
			}
			stack = append(stack, links...)
			continue
		}
		if c.Type() == unixfs.CodecRaw {
			ok, err := s.Has(ctx, c)
			if err != nil {
				return false, err
			}
			if !ok {
				return true, nil
			}
			continue
		}
		data, err := s.Get(ctx, c)
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			return false, fmt.Errorf("block %s: %w", c, err)
		}
		stack = append(stack, links...)
	}
	return false, nil
}

// Store is what Missing needs of a block store.
type Store interface {
	unixfs.Getter
	Has(ctx context.Context, c cid.Cid) (bool, error)
}
