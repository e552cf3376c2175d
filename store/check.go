package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// CheckCid returns nil if the store can hold c: its multihash must be a
// full-length sha2-256. Otherwise it returns an error wrapping
// ErrUnsupportedCid.
func CheckCid(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("undefined CID: %w", ErrUnsupportedCid)
	}
	h := c.Hash()
	if len(h) != 2+sha256.Size || h[0] != mh.SHA2_256 || h[1] != sha256.Size {
		return fmt.Errorf("%s: %w", c, ErrUnsupportedCid)
	}
	return nil
}

// Digest returns the sha2-256 digest inside c's multihash; c must have
// passed CheckCid.
func Digest(c cid.Cid) []byte {
	return c.Hash()[2:]
}

// VerifyBlock checks that data hashes to c. It returns an error wrapping
// ErrHashMismatch if not, or ErrUnsupportedCid if c is not sha2-256.
func VerifyBlock(c cid.Cid, data []byte) error {
	if err := CheckCid(c); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], Digest(c)) {
		return fmt.Errorf("block %s: %w", c, ErrHashMismatch)
	}
	return nil
}

// CheckRef returns an error if ref cannot describe a block: a relative
// path, a negative offset or file size, or a block that runs past the end
// of the file.
func CheckRef(ref Ref) error {
	switch {
	case !filepath.IsAbs(ref.Path):
		return fmt.Errorf("reference path %q is not absolute", ref.Path)
	case ref.Offset < 0 || ref.FileSize < 0:
		return fmt.Errorf("reference into %s: negative offset or size", ref.Path)
	case ref.Offset+int64(ref.Length) > ref.FileSize:
		return fmt.Errorf("reference into %s: block [%d, +%d) past end of file (%d bytes)",
			ref.Path, ref.Offset, ref.Length, ref.FileSize)
	}
	return nil
}

// ReadRef reads block c through ref. The file must still have the size,
// mtime, ctime and inode recorded in ref (the last two where recorded),
// and the bytes read must hash to c; otherwise the error wraps
// ErrRefChanged and names the file. Unverified bytes are never returned.
func ReadRef(c cid.Cid, ref Ref) ([]byte, error) {
	return ReadRefInto(c, ref, nil)
}

// ReadRefInto is ReadRef reading into buf's memory when its capacity is
// large enough, so that a caller serving many blocks can reuse buffers.
func ReadRefInto(c cid.Cid, ref Ref, buf []byte) ([]byte, error) {
	return readRef(c, ref, buf, true)
}

// ReadRefForPeer is ReadRefInto for a block that goes to a peer, which
// hashes what it receives itself: when the file's size, mtime, ctime and
// inode are all what they were when the block was hashed, the bytes are
// not hashed again (DESIGN.md, Verification). A reference without ctime
// and inode is hashed.
func ReadRefForPeer(c cid.Cid, ref Ref, buf []byte) ([]byte, error) {
	return readRef(c, ref, buf, ref.Inode == 0 || ref.CTime.IsZero())
}

func readRef(c cid.Cid, ref Ref, buf []byte, hash bool) ([]byte, error) {
	if err := CheckCid(c); err != nil {
		return nil, err
	}
	f, err := openRef(c, ref)
	if err != nil {
		return nil, err
	}
	defer f.close()
	return readOpen(f, c, ref, buf, hash)
}

// openRef opens ref's file to read block c; a file that is gone is a
// stale reference.
func openRef(c cid.Cid, ref Ref) (refFile, error) {
	f, err := openRefFile(ref.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return refFile{}, &staleRef{fmt.Errorf("block %s in %s: file is gone: %w", c, ref.Path, ErrRefChanged)}
		}
		return refFile{}, fmt.Errorf("block %s: open %s: %w: %w", c, ref.Path, ErrRefChanged, err)
	}
	return f, nil
}

// readOpen is readRef with ref's file open as f.
func readOpen(f refFile, c cid.Cid, ref Ref, buf []byte, hash bool) ([]byte, error) {
	changed := func(format string, args ...any) error {
		return &staleRef{fmt.Errorf("block %s in %s: %s: %w", c, ref.Path, fmt.Sprintf(format, args...), ErrRefChanged)}
	}
	st, err := f.stat()
	if err != nil {
		return nil, fmt.Errorf("block %s: stat %s: %w", c, ref.Path, err)
	}
	switch {
	case st.size != ref.FileSize:
		return nil, changed("size %d, recorded %d", st.size, ref.FileSize)
	case !st.mtime.Equal(ref.ModTime):
		return nil, changed("mtime %s, recorded %s", st.mtime, ref.ModTime)
	case ref.Inode != 0 && st.inode != 0 && st.inode != ref.Inode:
		return nil, changed("inode %d, recorded %d (replaced)", st.inode, ref.Inode)
	case !ref.CTime.IsZero() && !st.ctime.IsZero() && !st.ctime.Equal(ref.CTime):
		hash = true // changed since (perhaps not where this block is): look
	}
	if cap(buf) >= int(ref.Length) {
		buf = buf[:ref.Length]
	} else {
		buf = make([]byte, ref.Length)
	}
	n, err := f.readAt(buf, ref.Offset)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, changed("short read at %d: %d of %d bytes", ref.Offset, n, len(buf))
		}
		return nil, fmt.Errorf("block %s: read %s at %d: %w", c, ref.Path, ref.Offset, err)
	}
	if !hash {
		return buf, nil
	}
	sum := sha256.Sum256(buf)
	if !bytes.Equal(sum[:], Digest(c)) {
		return nil, changed("bytes at %d no longer match the hash", ref.Offset)
	}
	return buf, nil
}

// refStat is what a reference checks of its file.
type refStat struct {
	size         int64
	mtime, ctime time.Time
	inode        uint64 // 0: unknown
}

// staleRef is the error of a reference whose file is gone or no longer
// holds the block (not of one that could not be read for another reason).
type staleRef struct{ err error }

func (e *staleRef) Error() string { return e.err.Error() }
func (e *staleRef) Unwrap() error { return e.err }

// RefStale reports whether err says a reference can never read back as
// it was (its file gone, changed or replaced), rather than that reading
// failed: such a reference may be dropped, the block is missing.
func RefStale(err error) bool {
	var s *staleRef
	return errors.As(err, &s)
}

// RefFileChanged reports whether the file of ref no longer is what ref
// recorded (gone, another size, mtime or inode), from a stat alone.
func RefFileChanged(ref Ref, info fs.FileInfo) bool {
	if info == nil {
		return true
	}
	_, inode := FileID(info)
	return info.Size() != ref.FileSize || !info.ModTime().Equal(ref.ModTime) ||
		(ref.Inode != 0 && inode != 0 && inode != ref.Inode)
}
