package store

import (
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// RefFiles reads blocks that go to peers through references, as
// ReadRefForPeer does, keeping the files they point into open for a
// moment between reads: a peer pulling a large file asks for its blocks
// one by one, thousands a second, and an open and a close per block cost
// the sharer about as much as the read itself. Each read still checks
// the open file's size, mtime, ctime and inode against the reference.
//
// A file held open may since have been replaced at its path (renamed
// over) or removed; a read through it then sees the old file, whose
// bytes are still the block while its stat matches, and the peer hashes
// what it gets. That is why only reads for peers go through RefFiles:
// a local read (ReadRefInto) opens the path each time, so that a
// reference into a removed file fails at once. A read that finds a held
// file changed opens the path again before it calls the reference
// stale, and a file unused for refFilesIdle is closed, so a removed
// file's space is not held. On Windows, where a file held open cannot be
// renamed or removed, every read opens its file. The zero value is ready
// to use; a nil *RefFiles opens the file for each read. Safe for
// concurrent use.
type RefFiles struct {
	mu     sync.Mutex
	held   map[string]*heldFile // by path
	sweep  *time.Timer
	closed bool
}

// heldFile is one open file of RefFiles.
type heldFile struct {
	f       refFile
	path    string
	users   int       // reads using it now
	last    time.Time // when the last read ended
	dropped bool      // out of the map: closed when its last user is done
}

const (
	// refFilesMax bounds the files held open: a pull reads from a few
	// files at a time.
	refFilesMax  = 16
	refFilesIdle = time.Second
)

// ReadRefForPeer is ReadRefForPeer through r's open files.
func (r *RefFiles) ReadRefForPeer(c cid.Cid, ref Ref, buf []byte) ([]byte, error) {
	return r.read(c, ref, buf, ref.Inode == 0 || ref.CTime.IsZero())
}

func (r *RefFiles) read(c cid.Cid, ref Ref, buf []byte, hash bool) ([]byte, error) {
	if r == nil || runtime.GOOS == "windows" {
		// Windows: a file held open cannot be renamed or removed by
		// its user, so each read opens and closes it.
		return readRef(c, ref, buf, hash)
	}
	if err := CheckCid(c); err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		h, fresh, err := r.acquire(c, ref)
		if err != nil {
			return nil, err
		}
		data, err := readOpen(h.f, c, ref, buf, hash)
		stale := err != nil && RefStale(err)
		if stale {
			r.drop(h)
		}
		r.release(h)
		if !stale || fresh || try > 0 {
			return data, err
		}
		// A file held since before: the path may hold another now.
	}
}

// acquire returns ref's file, held or opened now (fresh), for one read;
// release gives it back.
func (r *RefFiles) acquire(c cid.Cid, ref Ref) (h *heldFile, fresh bool, err error) {
	r.mu.Lock()
	if h := r.held[ref.Path]; h != nil {
		h.users++
		r.mu.Unlock()
		return h, false, nil
	}
	r.mu.Unlock()
	f, err := openRef(c, ref)
	if err != nil {
		return nil, true, err
	}
	h = &heldFile{f: f, path: ref.Path, users: 1}
	r.mu.Lock()
	defer r.mu.Unlock()
	if other := r.held[ref.Path]; other != nil {
		// Opened meanwhile by another read: use that one.
		f.close()
		other.users++
		return other, false, nil
	}
	if r.closed || !r.makeRoom() {
		h.dropped = true // read once, closed by release
		return h, true, nil
	}
	if r.held == nil {
		r.held = make(map[string]*heldFile)
	}
	r.held[ref.Path] = h
	if r.sweep == nil {
		r.sweep = time.AfterFunc(refFilesIdle, r.expire)
	}
	return h, true, nil
}

// makeRoom frees a place in the map for one more file, closing the
// unused one held longest, and reports whether there is one.
func (r *RefFiles) makeRoom() bool {
	if len(r.held) < refFilesMax {
		return true
	}
	var idle *heldFile
	for _, h := range r.held {
		if h.users == 0 && (idle == nil || h.last.Before(idle.last)) {
			idle = h
		}
	}
	if idle == nil {
		return false
	}
	delete(r.held, idle.path)
	idle.f.close()
	return true
}

// drop takes h out of the map; it is closed once no read uses it.
func (r *RefFiles) drop(h *heldFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[h.path] == h {
		delete(r.held, h.path)
	}
	h.dropped = true
}

func (r *RefFiles) release(h *heldFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.users--
	h.last = time.Now()
	if h.dropped && h.users == 0 {
		h.f.close()
	}
}

// expire closes the files unused for refFilesIdle, and looks again
// while any is held.
func (r *RefFiles) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for path, h := range r.held {
		if h.users == 0 && time.Since(h.last) >= refFilesIdle {
			delete(r.held, path)
			h.f.close()
		}
	}
	if len(r.held) == 0 || r.closed {
		r.sweep = nil
		return
	}
	r.sweep.Reset(refFilesIdle)
}

// Close closes the files held (those in use once their reads end); later
// reads open their file each time.
func (r *RefFiles) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.sweep != nil {
		r.sweep.Stop()
		r.sweep = nil
	}
	for path, h := range r.held {
		delete(r.held, path)
		h.dropped = true
		if h.users == 0 {
			h.f.close()
		}
	}
}

// Held is how many files r holds open (for tests and figures).
func (r *RefFiles) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}
