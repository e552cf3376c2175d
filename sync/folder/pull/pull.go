package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/scan"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// Fetcher gets every block of the DAG under root to sink, from this
// machine's store where it can and from peers otherwise, each verified.
type Fetcher interface {
	Fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error
}

// Sentinel errors the folder engine branches on.
var (
	// ErrLocalChange means the path changed on disk since the index saw
	// it: it must be scanned before anything is written over it.
	ErrLocalChange = errors.New("changed on disk since the last scan")
	// ErrStalled means no block of the file arrived for Options.Idle.
	ErrStalled = errors.New("no peer sent the file's blocks")
	// ErrDirNotEmpty means a deleted directory still holds entries.
	ErrDirNotEmpty = errors.New("directory not empty")
)

// Options configures pulls into one folder.
type Options struct {
	Root   string // the folder's root; Root/.shoal holds temp files and versions
	Store  store.Store
	Fetch  Fetcher
	Device string // this device, naming conflict copies of its losing versions
	// Idle is how long a file may wait for its next block before the pull
	// gives up on it for now (the folder tries again later, asking every
	// peer afresh). Default 10 s.
	Idle time.Duration
	// Received, if set, returns when a peer last sent the folder index
	// records. A file's blocks come behind the index on the same
	// connections (100,000 records take seconds to arrive and check), so
	// its Idle counts from the later of that and its last block.
	Received func() time.Time
	// Space, if set, is asked before a file of n bytes is written.
	Space  func(n int64) error
	Logger *slog.Logger
	// Kept, if set, is told of each version moved into VersionsDir:
	// the path it was, where it is now, and what the index knew of it.
	Kept func(rel, dst string, old *index.Local)
	// KeptRefs says who moves a kept version's block references to its
	// new place: false, the keep itself, in a store batch of its own;
	// true, the caller, from what Kept told it (a restore moves
	// thousands at once, in one batch).
	KeptRefs bool
	// Writes, if set, lets a large file's blocks be gathered in memory
	// and written around the page cache (where the system allows), in as
	// many bytes as it allows at once; nil: every write goes through the
	// page cache.
	Writes *WriteBudget

	old *index.Local // what Apply replaces, for keepVersion
}

// Result is what a pull left on disk.
type Result struct {
	Local  *index.Local
	Blocks []cid.Cid // the file's blocks, now in the folder
	// Conflict is the path of the copy that now keeps a losing local version.
	Conflict string
}

// TempDir and VersionsDir are below the folder root.
const (
	TempDir     = ".shoal/tmp"
	VersionsDir = ".shoal/versions"
)

// Apply makes path g.Path on disk what record g says, given l, what the
// index last saw there.
func Apply(ctx context.Context, opt Options, g *index.Record, l *index.Local) (*Result, error) {
	res, st, err := Stage(ctx, opt, g, l)
	if err != nil || st == nil {
		return res, err
	}
	c := Commit(ctx, []*Staged{st})[0]
	return c.Result, c.Err
}

// Stage does what Apply does, except that a regular file whose bytes it
// fetched is left in its temporary file, not yet durable and not in
// place: it returns that file as a Staged for Commit, which finishes many
// together with one flush of the disk. Everything else (directories,
// links, deletions, a file the disk already holds) is done at once and
// its Result returned.
func Stage(ctx context.Context, opt Options, g *index.Record, l *index.Local) (*Result, *Staged, error) {
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Second
	}
	opt.old = l
	if err := CheckName("", g.Path); err != nil {
		return nil, nil, err
	}
	abs := filepath.Join(opt.Root, filepath.FromSlash(g.Path))
	cur, err := os.Lstat(abs)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if err := unchanged(cur, l); err != nil {
		return nil, nil, err
	}
	res := &Result{}
	if exists && l != nil && !l.Deleted && l.Type != index.TypeDir && !sameLocal(l, g) &&
		l.Version.Compare(g.Version) != index.Lesser {
		// What is here is a version that lost to a concurrent one: keep
		// it beside the winner as a conflict copy.
		name := conflict.Name(g.Path, time.Unix(0, l.ModTime), opt.Device)
		if err := os.Rename(abs, filepath.Join(opt.Root, filepath.FromSlash(name))); err != nil {
			return nil, nil, fmt.Errorf("keep conflicting %s: %w", g.Path, err)
		}
		res.Conflict, exists = name, false
	}
	if exists && l != nil && g.Type == index.TypeFile && sameLocal(l, g) && (l.Mode&0o100 != 0) == g.Executable() {
		// The disk holds this content already (a join into a folder
		// with the same files): adopt the version, write nothing.
		return done(opt.done(res, abs, g, nil))
	}
	switch {
	case g.Deleted:
		if exists {
			if err := opt.remove(abs, g.Path, cur); err != nil {
				return nil, nil, err
			}
		}
		res.Local = &index.Local{Type: g.Type, Deleted: true, Version: g.Version}
		return res, nil, nil
	case g.Type == index.TypeDir:
		if exists && !cur.IsDir() {
			if err := opt.keepVersion(abs, g.Path); err != nil {
				return nil, nil, err
			}
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.Chmod(abs, g.FileMode()|0o700); err != nil {
			return nil, nil, err
		}
		return done(opt.done(res, abs, g, nil))
	case g.Type == index.TypeSymlink:
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, nil, err
		}
		tmp, err := opt.tempPath(g)
		if err != nil {
			return nil, nil, err
		}
		os.Remove(tmp)
		if err := os.Symlink(filepath.FromSlash(g.Target), tmp); err != nil {
			return nil, nil, err
		}
		if err := opt.replace(tmp, abs, g.Path, cur, exists); err != nil {
			os.Remove(tmp)
			return nil, nil, err
		}
		if err := syncDir(filepath.Dir(abs)); err != nil {
			return nil, nil, err
		}
		return done(opt.done(res, abs, g, nil))
	}
	st, err := opt.file(ctx, res, abs, g, cur, exists)
	return nil, st, err
}

// done adapts a finished pull's result to stage's.
func done(res *Result, err error) (*Result, *Staged, error) { return res, nil, err }

// unchanged checks that the disk still holds what the index saw.
func unchanged(cur fs.FileInfo, l *index.Local) error {
	switch {
	case cur == nil && (l == nil || l.Deleted):
		return nil
	case cur == nil:
		return fmt.Errorf("%w: gone", ErrLocalChange)
	case l == nil || l.Deleted:
		return fmt.Errorf("%w: appeared", ErrLocalChange)
	case cur.IsDir():
		if l.Type != index.TypeDir {
			return fmt.Errorf("%w: now a directory", ErrLocalChange)
		}
		return nil
	case l.Type == index.TypeDir:
		return fmt.Errorf("%w: no longer a directory", ErrLocalChange)
	}
	if cur.Mode().IsRegular() && (cur.Size() != l.Size || cur.ModTime().UnixNano() != l.ModTime) {
		return fmt.Errorf("%w: size or mtime differ", ErrLocalChange)
	}
	return nil
}

// sameLocal reports whether the disk already holds g's content.
func sameLocal(l *index.Local, g *index.Record) bool {
	if g.Deleted || l.Deleted {
		return g.Deleted == l.Deleted
	}
	return l.Type == g.Type && string(l.Root) == string(g.Root) && l.Target == g.Target
}

func (opt *Options) tempPath(g *index.Record) (string, error) {
	p := TempPath(opt.Root, TempName(g))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	return p, nil
}

// TempName is the name of the temporary file a pull of g writes: the
// same for every try of the same version, so a later try takes up what
// an interrupted one wrote.
func TempName(g *index.Record) string {
	h := sha256.Sum256(append([]byte(g.Path+"\x00"), g.Root...))
	return hex.EncodeToString(h[:12])
}

// TempPath is where below root the temporary file called name lives: in
// one of 256 directories of TempDir, picked by the name's last two
// characters. Files created at once in one directory all wait on that
// directory's lock; 64 pullers staging 10,000 files in one spent 3.4 s
// of system time creating them.
func TempPath(root, name string) string {
	return filepath.Join(root, filepath.FromSlash(TempDir), name[max(len(name)-2, 0):], name)
}

// TempFiles lists the temporary files below root's TempDir, those of
// the flat layout earlier versions wrote included: each name (as
// TempName gives it) with its path. A pull takes up the file of its
// version; RemoveTemp removes the rest once nothing needs them.
func TempFiles(root string) map[string]string {
	dir := filepath.Join(root, filepath.FromSlash(TempDir))
	ents, _ := os.ReadDir(dir)
	out := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			out[e.Name()] = p
			continue
		}
		sub, _ := os.ReadDir(p)
		for _, s := range sub {
			out[s.Name()] = filepath.Join(p, s.Name())
		}
	}
	return out
}

// RemoveTemp removes the temporary files listed (by TempFiles).
func RemoveTemp(files map[string]string) {
	for _, p := range files {
		os.Remove(p)
	}
}

// resumeMin is the size from which an interrupted pull's temporary file
// is kept for the next try.
const resumeMin = 1 << 20

func (opt *Options) file(ctx context.Context, res *Result, abs string, g *index.Record, cur fs.FileInfo, exists bool) (_ *Staged, err error) {
	if opt.Space != nil {
		if err := opt.Space(g.Size); err != nil {
			return nil, fmt.Errorf("pull %s: %w", g.Path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	tmp, err := opt.tempPath(g)
	if err != nil {
		return nil, err
	}
	// A temporary file of this version left by an interrupted pull (a
	// crash, a lost peer) is taken up: what it holds is kept where it
	// still hashes right.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	resumed := false
	info, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, err
	case info.Size() == g.Size && g.Size >= resumeMin:
		resumed = true
	case info.Size() > 0:
		// Only a file that holds something is cut: on ext4 cutting a
		// file to nothing (even an empty one) makes its close start
		// the file's writeback there and then (auto_da_alloc), 45 µs
		// a file, where the group commit's syncfs would write them all.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	var direct *os.File
	if g.Size >= directMin && opt.Writes != nil {
		direct = openDirect(tmp)
	}
	root := g.Cid()
	sink := newFileSink(f, direct, root, g.Size, opt.Writes)
	ok := false
	defer func() {
		if !ok {
			sink.close() // what arrived stays for a resume
			f.Close()
			if g.Size < resumeMin || ctx.Err() == nil && !errors.Is(err, ErrStalled) {
				os.Remove(tmp)
			}
		}
	}()
	if err := f.Truncate(g.Size); err != nil {
		return nil, err
	}
	sink.resumed = resumed
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchIdle(fctx, cancel, sink, opt.Idle, opt.Received)
	if err := opt.Fetch.Fetch(fctx, root, sink); err != nil {
		if c := context.Cause(fctx); errors.Is(c, ErrStalled) {
			return nil, fmt.Errorf("pull %s: %w", g.Path, ErrStalled)
		}
		return nil, fmt.Errorf("pull %s: %w", g.Path, err)
	}
	if err := sink.close(); err != nil {
		return nil, fmt.Errorf("pull %s: %w", g.Path, err)
	}
	if err := sink.complete(); err != nil {
		return nil, fmt.Errorf("pull %s: %w", g.Path, err)
	}
	if err := f.Chmod(g.FileMode()); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	mt := g.Time()
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		return nil, err
	}
	ok = true
	return &Staged{opt: *opt, res: res, g: g, tmp: tmp, abs: abs, cur: cur, exists: exists, sink: sink}, nil
}

// replace renames tmp over abs, keeping what was there as a version.
func (opt *Options) replace(tmp, abs, rel string, cur fs.FileInfo, exists bool) error {
	if exists {
		if cur.IsDir() {
			if err := os.Remove(abs); err != nil {
				return fmt.Errorf("replace directory %s: %w", rel, ErrDirNotEmpty)
			}
		} else if err := opt.keepVersion(abs, rel); err != nil {
			return err
		}
	}
	return os.Rename(tmp, abs)
}

// remove deletes abs, keeping a file's old version.
func (opt *Options) remove(abs, rel string, cur fs.FileInfo) error {
	if cur.IsDir() {
		if err := os.Remove(abs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("remove %s: %w", rel, ErrDirNotEmpty)
		}
		return nil
	}
	return opt.keepVersion(abs, rel)
}

// KeepVersion moves the file at rel into the versions directory by a
// rename (no copy), as a pull does with what it replaces; l, what the
// index knows of it (or nil), lets the references to its blocks follow.
func KeepVersion(root, rel string, s store.Store, l *index.Local) error {
	return KeepVersionWith(Options{Root: root, Store: s}, rel, l)
}

// KeepVersionWith is KeepVersion with opt's Root, Store, Logger and Kept.
func KeepVersionWith(opt Options, rel string, l *index.Local) error {
	opt.old = l
	return opt.keepVersion(filepath.Join(opt.Root, filepath.FromSlash(rel)), rel)
}

// keepVersion moves abs into the versions directory by a rename; when
// the index knew its content (opt.old), the references to its blocks
// follow it there.
func (opt *Options) keepVersion(abs, rel string) error {
	dst := filepath.Join(opt.Root, filepath.FromSlash(VersionsDir), filepath.FromSlash(rel)+"~"+time.Now().UTC().Format("20060102-150405.000000000"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(abs, dst); err != nil {
		return fmt.Errorf("keep old version of %s: %w", rel, err)
	}
	if l := opt.old; l != nil && l.Type == index.TypeFile && !l.Deleted && opt.Store != nil && !opt.KeptRefs {
		if c, err := cid.Cast(l.Root); err == nil {
			if err := repoint(context.Background(), opt.Store, c, dst); err != nil && opt.Logger != nil {
				opt.Logger.Warn("references of a kept version", "path", rel, "err", err)
			}
		}
	}
	if opt.Kept != nil {
		opt.Kept(rel, dst, opt.old)
	}
	return nil
}

// done stats what is now at abs and, for a file pulled into it (sink),
// records the file's references in its own batch.
func (opt *Options) done(res *Result, abs string, g *index.Record, sink *fileSink) (*Result, error) {
	info, err := opt.local(res, abs, g)
	if err != nil || sink == nil {
		return res, err
	}
	b := opt.Store.NewBatch(context.Background())
	defer b.Discard()
	if err := record(b, res, abs, info, g, sink); err != nil {
		return nil, err
	}
	if err := b.Commit(); err != nil {
		return nil, fmt.Errorf("record %s in the store: %w", g.Path, err)
	}
	return res, nil
}

// local sets res.Local to what is now at abs.
func (opt *Options) local(res *Result, abs string, g *index.Record) (fs.FileInfo, error) {
	info, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	return info, setLocal(res, info, g)
}

// setLocal sets res.Local to g's version with info, what the file looked
// like once in place.
func setLocal(res *Result, info fs.FileInfo, g *index.Record) error {
	ctime, inode := scan.SysStat(info)
	res.Local = &index.Local{Type: g.Type, Size: info.Size(), Mode: uint32(info.Mode().Perm()), ModTime: info.ModTime().UnixNano(),
		CTime: ctime, Inode: inode, Root: g.Root, Target: g.Target, Version: g.Version}
	if g.Type != index.TypeFile {
		res.Local.Size = 0
	}
	return nil
}

// record adds to b the references to the blocks sink wrote into the file
// at abs (described by info) and the file's inner nodes.
func record(b store.Batch, res *Result, abs string, info fs.FileInfo, g *index.Record, sink *fileSink) error {
	for _, n := range sink.nodes {
		if err := b.Put(n.c, n.data); err != nil {
			return err
		}
		res.Blocks = append(res.Blocks, n.c)
	}
	for _, l := range sink.leaves {
		if err := b.PutRef(l.c, store.NewRef(abs, info, l.off, uint32(l.n))); err != nil {
			return err
		}
		res.Blocks = append(res.Blocks, l.c)
	}
	if g.Size == 0 {
		if err := b.Put(g.Cid(), []byte{}); err != nil {
			return err
		}
		res.Blocks = append(res.Blocks, g.Cid())
	}
	return nil
}

// watchIdle cancels ctx with ErrStalled once no block arrived for idle,
// counting from the later of the last block and received().
func watchIdle(ctx context.Context, cancel context.CancelCauseFunc, s *fileSink, idle time.Duration, received func() time.Time) {
	t := time.NewTicker(idle / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last := s.idleSince()
			if received != nil {
				if at := received(); at.After(last) {
					last = at
				}
			}
			if time.Since(last) > idle {
				cancel(ErrStalled)
				return
			}
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
