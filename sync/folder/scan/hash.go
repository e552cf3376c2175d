package scan

// The hash workers: files the walk found changed are chunked, hashed and
// stored as references here, and their changes go to Options.Flush in
// groups, through one flusher goroutine.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/folder/index"
)

// flushGroup is one group of changes for Flush, with the blocks of its files.
type flushGroup struct {
	changes []index.Change
	blocks  []cid.Cid
}

// hashOut is what the hash workers found, merged into the result once
// the walk is done.
type hashOut struct {
	mu       sync.Mutex
	changes  []index.Change
	blocks   []cid.Cid
	errors   []PathError
	retry    []string
	firstErr error
}

// largeFile is the size above which one file is chunked on every core.
const largeFile = 8 << 20

// hashJob is a file the walk found changed: hash looks at the file
// again when it comes to it (lstat before and after).
type hashJob struct {
	rel string
	// old is the index's local state of rel as the walk read it (nil:
	// none). It is still current when hashed: a folder's scans, pulls
	// and restores run one at a time, and a scan records rel only after
	// hashing it. A lookup per file in the hash workers waited on the
	// commits of the groups being recorded (badger's read timestamp).
	old *index.Local
}

// queue hands j to a hash worker, starting one when none is free and
// fewer than Options.Workers run: a scan of one file starts one, a scan
// of many starts them all, and the walk waits when every one is busy.
func (s *scanner) queue(ctx context.Context, j hashJob) error {
	if len(s.unflushed) > 0 {
		// A file's directory goes to peers before the file: its
		// group is handed over first.
		if err := s.flush(ctx, s.unflushed, nil); err != nil {
			return err
		}
		s.unflushed = nil
	}
	if s.jobs == nil {
		s.jobs = make(chan hashJob)
	}
	select {
	case s.jobs <- j:
		return nil
	default:
	}
	if s.workers < s.opt.Workers {
		s.workers++
		s.wg.Go(func() { s.hashWorker(ctx) })
	}
	select {
	case s.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hashWorker chunks the files it is handed, committing its store batch
// (and, with Flush, handing over the changes whose blocks it holds)
// every few hundred files.
func (s *scanner) hashWorker(ctx context.Context) {
	h := &s.h
	b := newBatch(ctx, s.opt.Store)
	// With Flush, this worker's changes since its last store commit:
	// handed over once their blocks are in the store.
	var changes []index.Change
	var blocks []cid.Cid
	commit := func() {
		err := b.commit()
		if err == nil && s.opt.Flush != nil && len(changes) > 0 {
			err = s.flush(ctx, changes, blocks)
		}
		changes, blocks = nil, nil
		if err != nil {
			h.mu.Lock()
			h.firstErr = cmpErr(h.firstErr, err)
			h.mu.Unlock()
		}
	}
	defer commit()
	for j := range s.jobs {
		ch, bs, retry, err := s.hash(ctx, b, j)
		h.mu.Lock()
		switch {
		case err != nil && ctx.Err() != nil:
			h.firstErr = cmpErr(h.firstErr, ctx.Err())
		case err != nil && errors.Is(err, syscall.ENOSPC):
			h.firstErr = cmpErr(h.firstErr, err)
		case err != nil:
			h.errors = append(h.errors, s.skip(j.rel, err))
		case retry:
			h.retry = append(h.retry, j.rel)
		case s.opt.Flush != nil:
			changes = append(changes, ch)
			blocks = append(blocks, bs...)
		default:
			h.changes = append(h.changes, ch)
			h.blocks = append(h.blocks, bs...)
		}
		h.mu.Unlock()
		if b.n++; b.n >= 256 {
			commit()
		}
	}
}

// flush hands a group to the flusher, starting it at the first; it
// waits only when the flusher is Workers groups behind.
func (s *scanner) flush(ctx context.Context, changes []index.Change, blocks []cid.Cid) error {
	s.startFlusher.Do(func() {
		s.groups = make(chan flushGroup, s.opt.Workers)
		s.flushDone = make(chan struct{})
		go s.flusher(ctx)
	})
	select {
	case s.groups <- flushGroup{changes, blocks}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flusher hands the groups to Flush in the order they came. After a
// failed one it goes on (the scan's error is its first).
func (s *scanner) flusher(ctx context.Context) {
	defer close(s.flushDone)
	for g := range s.groups {
		if err := s.opt.Flush(ctx, g.changes, g.blocks); err != nil {
			s.h.mu.Lock()
			s.h.firstErr = cmpErr(s.h.firstErr, err)
			s.h.mu.Unlock()
		}
	}
}

// hashed waits for the hash workers to finish what the walk queued, and
// for Flush to take what they handed over, and adds what they found to
// the result.
func (s *scanner) hashed() error {
	if s.jobs != nil {
		close(s.jobs)
		s.wg.Wait()
		s.jobs = nil
	}
	if s.groups != nil {
		close(s.groups)
		<-s.flushDone
		s.groups = nil
	}
	h := &s.h
	s.res.Changes = append(s.res.Changes, h.changes...)
	s.res.Blocks = append(s.res.Blocks, h.blocks...)
	s.res.Errors = append(s.res.Errors, h.errors...)
	s.res.Retry = append(s.res.Retry, h.retry...)
	return h.firstErr
}

// flushRest hands Flush the directories and links found after the last
// file; deletions stay in the result for the caller.
func (s *scanner) flushRest(ctx context.Context) error {
	if len(s.unflushed) == 0 {
		return nil
	}
	err := s.opt.Flush(ctx, s.unflushed, nil)
	s.unflushed = nil
	return err
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// hash chunks one file; retry is set when it changed meanwhile (or went).
func (s *scanner) hash(ctx context.Context, b *batch, j hashJob) (index.Change, []cid.Cid, bool, error) {
	abs := filepath.Join(s.opt.Root, filepath.FromSlash(j.rel))
	seen := time.Now()
	info, err := os.Lstat(abs)
	if err != nil || !info.Mode().IsRegular() {
		return index.Change{}, nil, true, nil
	}
	old := j.old
	start := len(b.cids)
	workers := 1
	if info.Size() > largeFile {
		workers = 0 // all cores on one large file, one such file at a time
		select {
		case s.large <- struct{}{}:
		case <-ctx.Done():
			return index.Change{}, nil, false, ctx.Err()
		}
		defer func() { <-s.large }()
	}
	root, _, err := dag.AddFile(ctx, b, abs, info, dag.AddOptions{Chunker: s.opt.Chunker, NoCopy: true, Workers: workers, Buffer: &b.buf})
	if err != nil {
		return index.Change{}, nil, false, err
	}
	now, err := os.Lstat(abs)
	if err != nil {
		return index.Change{}, nil, true, nil
	}
	ctime, inode := SysStat(now)
	c0, i0 := SysStat(info)
	if now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) || ctime != c0 || inode != i0 {
		return index.Change{}, nil, true, nil
	}
	if wait := racy(now, seen); wait > 0 {
		s.retryAfter(wait)
		return index.Change{}, nil, true, nil
	}
	blocks := append([]cid.Cid(nil), b.cids[start:]...)
	l := index.Local{Type: index.TypeFile, Size: now.Size(), Mode: uint32(now.Mode().Perm()), ModTime: now.ModTime().UnixNano(),
		CTime: ctime, Inode: inode, Root: root.Bytes()}
	if old != nil && !old.Deleted && old.Type == index.TypeFile && string(old.Root) == string(l.Root) &&
		(old.Mode&0o100) == (l.Mode&0o100) {
		// Touched, not changed: only the stat moves on.
		l.Version = old.Version
		return index.Change{Record: index.Record{Path: j.rel}, Local: l}, blocks, false, nil
	}
	mode := uint32(0o644)
	if l.Mode&0o100 != 0 {
		mode = 0o755
	}
	return index.Change{
		Record: index.Record{Path: j.rel, Type: index.TypeFile, Size: l.Size, Mode: mode, ModTime: l.ModTime, Root: l.Root},
		Local:  l,
	}, blocks, false, nil
}
