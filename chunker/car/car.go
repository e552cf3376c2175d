package car

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Limits the reader enforces.
const (
	MaxHeaderSize = 1 << 20 // largest header accepted
	MaxBlockSize  = 2 << 20 // largest block accepted
	maxCIDSize    = 256     // room for the CID in a section
	maxVarintLen  = 9       // multiformats varints are at most 9 bytes
	maxSection    = MaxBlockSize + maxCIDSize
)

// Sentinel errors callers can branch on; every error the reader returns
// about the file's content wraps one of them.
var (
	ErrMalformed       = errors.New("malformed CAR")
	ErrTruncated       = errors.New("truncated CAR")
	ErrVersion         = errors.New("unsupported CAR version")
	ErrNoRoots         = errors.New("CAR has no roots")
	ErrTooLarge        = errors.New("CAR section too large")
	ErrHashMismatch    = errors.New("block does not match its CID")
	ErrUnsupportedHash = errors.New("unsupported multihash function")
)

// Writer writes a CAR v1 archive.
type Writer struct {
	w    io.Writer
	seen map[string]struct{}
	buf  []byte
	dups bool
}

// KeepDuplicates makes Put write a block every time it is given, not
// only the first (a CAR with dups=y, which a reader can check and drop
// block by block).
func (cw *Writer) KeepDuplicates() { cw.dups = true }

// NewWriter writes the header naming roots to w and returns a Writer for
// the blocks. At least one root is required.
func NewWriter(w io.Writer, roots []cid.Cid) (*Writer, error) {
	if len(roots) == 0 {
		return nil, ErrNoRoots
	}
	for i, r := range roots {
		if !r.Defined() {
			return nil, fmt.Errorf("car: root %d is undefined", i)
		}
	}
	h := encodeHeader(roots)
	b := binary.AppendUvarint(nil, uint64(len(h)))
	if _, err := w.Write(append(b, h...)); err != nil {
		return nil, fmt.Errorf("write CAR header: %w", err)
	}
	return &Writer{w: w, seen: map[string]struct{}{}}, nil
}

// Put writes the block c with bytes data, unless c was already written
// (see KeepDuplicates).
// The caller is responsible for data matching c.
func (cw *Writer) Put(c cid.Cid, data []byte) error {
	if !c.Defined() {
		return errors.New("car: put of an undefined CID")
	}
	if len(data) > MaxBlockSize {
		return fmt.Errorf("put %s: %w: %d bytes > %d", c, ErrTooLarge, len(data), MaxBlockSize)
	}
	k := c.KeyString()
	if _, ok := cw.seen[k]; ok && !cw.dups {
		return nil
	}
	cb := c.Bytes()
	cw.buf = binary.AppendUvarint(cw.buf[:0], uint64(len(cb)+len(data)))
	cw.buf = append(cw.buf, cb...)
	if _, err := cw.w.Write(cw.buf); err != nil {
		return fmt.Errorf("write CAR section %s: %w", c, err)
	}
	if _, err := cw.w.Write(data); err != nil {
		return fmt.Errorf("write CAR section %s: %w", c, err)
	}
	if !cw.dups {
		cw.seen[k] = struct{}{}
	}
	return nil
}

// Reader reads a CAR v1 archive, verifying each block.
type Reader struct {
	r     *bufio.Reader
	off   int64
	roots []cid.Cid
	err   error
}

// NewReader reads and checks the header of the CAR v1 archive in r.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	n, err := cr.varint("header length")
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty input, no header at byte 0", ErrTruncated)
		}
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: header length 0 at byte 0", ErrMalformed)
	}
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes at byte 0 exceeds %d", ErrTooLarge, n, MaxHeaderSize)
	}
	start := cr.off
	h, err := cr.full(int(n), "header")
	if err != nil {
		return nil, err
	}
	roots, err := decodeHeader(h, start)
	if err != nil {
		return nil, err
	}
	cr.roots = roots
	return cr, nil
}

// Roots returns the root CIDs the header names.
func (cr *Reader) Roots() []cid.Cid { return cr.roots }

// Offset returns how many bytes of input the reader has consumed.
func (cr *Reader) Offset() int64 { return cr.off }

// Next returns the next block and its CID after checking the bytes hash to
// the CID (sha2-256 only). It returns io.EOF after the last block.
func (cr *Reader) Next() (cid.Cid, []byte, error) {
	if cr.err != nil {
		return cid.Undef, nil, cr.err
	}
	c, data, err := cr.next()
	if err != nil {
		cr.err = err
	}
	return c, data, err
}

func (cr *Reader) next() (cid.Cid, []byte, error) {
	at := cr.off
	n, err := cr.varint("section length")
	if err != nil {
		return cid.Undef, nil, err // io.EOF at a clean end
	}
	if n == 0 {
		return cid.Undef, nil, fmt.Errorf("%w: zero-length section at byte %d", ErrMalformed, at)
	}
	if n > maxSection {
		return cid.Undef, nil, fmt.Errorf("%w: section of %d bytes at byte %d exceeds %d", ErrTooLarge, n, at, maxSection)
	}
	sec, err := cr.full(int(n), "section")
	if err != nil {
		return cid.Undef, nil, err
	}
	cl, c, err := cid.CidFromBytes(sec)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: bad CID in section at byte %d: %v", ErrMalformed, at, err)
	}
	data := sec[cl:]
	if len(data) > MaxBlockSize {
		return cid.Undef, nil, fmt.Errorf("%w: block %s at byte %d is %d bytes, limit %d", ErrTooLarge, c, at, len(data), MaxBlockSize)
	}
	if err := Verify(c, data); err != nil {
		return cid.Undef, nil, fmt.Errorf("section at byte %d: %w", at, err)
	}
	return c, data, nil
}

// Verify checks that data hashes to c's multihash, which must be sha2-256
// (or identity, whose digest is the data).
func Verify(c cid.Cid, data []byte) error {
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("%w: block %s: bad multihash: %v", ErrMalformed, c, err)
	}
	if dec.Code == mh.IDENTITY {
		// The block is in its CID; writers should leave it out, but one
		// that is there must be what the CID says.
		if !bytes.Equal(dec.Digest, data) {
			return fmt.Errorf("%w: identity %s (%d bytes)", ErrHashMismatch, c, len(data))
		}
		return nil
	}
	if dec.Code != mh.SHA2_256 {
		return fmt.Errorf("%w: block %s uses %s (0x%x), only sha2-256 is supported", ErrUnsupportedHash, c, dec.Name, dec.Code)
	}
	if dec.Length != sha256.Size {
		return fmt.Errorf("%w: block %s: sha2-256 digest of %d bytes", ErrMalformed, c, dec.Length)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], dec.Digest) {
		return fmt.Errorf("%w: %s (%d bytes)", ErrHashMismatch, c, len(data))
	}
	return nil
}

// varint reads an unsigned multiformats varint (minimal, at most 9
// bytes). It returns io.EOF only when the input ends before its first byte.
func (cr *Reader) varint(what string) (uint64, error) {
	at := cr.off
	var v uint64
	for i := 0; ; i++ {
		b, err := cr.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				if i == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("%w: input ends inside the %s varint at byte %d", ErrTruncated, what, at)
			}
			return 0, fmt.Errorf("read %s at byte %d: %w", what, at, err)
		}
		cr.off++
		if i == maxVarintLen-1 && b&0x80 != 0 {
			return 0, fmt.Errorf("%w: %s varint at byte %d is longer than %d bytes", ErrMalformed, what, at, maxVarintLen)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: %s varint at byte %d is not minimally encoded", ErrMalformed, what, at)
			}
			return v, nil
		}
	}
}

// full reads exactly n bytes.
func (cr *Reader) full(n int, what string) ([]byte, error) {
	at := cr.off
	b := make([]byte, n)
	got, err := io.ReadFull(cr.r, b)
	cr.off += int64(got)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: %s at byte %d needs %d bytes, input ends after %d", ErrTruncated, what, at, n, got)
		}
		return nil, fmt.Errorf("read %s at byte %d: %w", what, at, err)
	}
	return b, nil
}
