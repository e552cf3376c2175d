package car

import (
	"fmt"

	"github.com/ipfs/go-cid"
)

// CBOR major types used by the header.
const (
	majUint  = 0
	majBytes = 2
	majText  = 3
	majArray = 4
	majMap   = 5
	majTag   = 6
)

// appendHead appends a CBOR head of major type maj with argument n in the
// shortest form, as dag-cbor requires.
func appendHead(b []byte, maj byte, n uint64) []byte {
	m := maj << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// encodeHeader returns the dag-cbor header {"roots": [...], "version": 1};
// keys in dag-cbor order (shorter first, then bytewise).
func encodeHeader(roots []cid.Cid) []byte {
	b := appendHead(nil, majMap, 2)
	b = appendHead(b, majText, 5)
	b = append(b, "roots"...)
	b = appendHead(b, majArray, uint64(len(roots)))
	for _, r := range roots {
		cb := r.Bytes()
		b = appendHead(b, majTag, 42)
		b = appendHead(b, majBytes, uint64(len(cb)+1))
		b = append(b, 0)
		b = append(b, cb...)
	}
	b = appendHead(b, majText, 7)
	b = append(b, "version"...)
	return appendHead(b, majUint, 1)
}

// cborReader decodes the few CBOR forms a CAR v1 header uses, strictly:
// definite lengths only, shortest-form heads, no trailing bytes. base is
// the header's offset in the file, for error messages.
type cborReader struct {
	b    []byte
	pos  int
	base int64
}

func (r *cborReader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: header at byte %d: %s", ErrMalformed, r.base+int64(r.pos), fmt.Sprintf(format, args...))
}

// head reads a CBOR head and returns its major type and argument.
func (r *cborReader) head() (byte, uint64, error) {
	if r.pos >= len(r.b) {
		return 0, 0, r.errf("truncated")
	}
	ib := r.b[r.pos]
	maj, ai := ib>>5, ib&0x1f
	var n int
	switch {
	case ai < 24:
		r.pos++
		return maj, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default:
		return 0, 0, r.errf("indefinite length or reserved head 0x%02x", ib)
	}
	if r.pos+1+n > len(r.b) {
		return 0, 0, r.errf("truncated")
	}
	var v uint64
	for _, c := range r.b[r.pos+1 : r.pos+1+n] {
		v = v<<8 | uint64(c)
	}
	minimal := (n == 1 && v >= 24) || (n == 2 && v > 0xff) || (n == 4 && v > 0xffff) || (n == 8 && v > 0xffffffff)
	if !minimal {
		return 0, 0, r.errf("non-minimal integer encoding")
	}
	r.pos += 1 + n
	return maj, v, nil
}

func (r *cborReader) bytesOf(maj byte) ([]byte, error) {
	m, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if m != maj {
		return nil, r.errf("major type %d, want %d", m, maj)
	}
	if n > uint64(len(r.b)-r.pos) {
		return nil, r.errf("string of %d bytes runs past the header", n)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// decodeHeader parses a CAR header: a map with "version" (must be 1) and
// "roots" (a non-empty array of CIDs as tag 42). Unknown keys, duplicate
// keys and trailing bytes are errors.
func decodeHeader(b []byte, base int64) ([]cid.Cid, error) {
	r := &cborReader{b: b, base: base}
	maj, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if maj != majMap {
		return nil, r.errf("not a map (major type %d)", maj)
	}
	var roots []cid.Cid
	var haveRoots, haveVersion bool
	for range n {
		key, err := r.bytesOf(majText)
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "version":
			if haveVersion {
				return nil, r.errf("duplicate key version")
			}
			haveVersion = true
			maj, v, err := r.head()
			if err != nil {
				return nil, err
			}
			if maj != majUint {
				return nil, r.errf("version is not an unsigned integer")
			}
			if v != 1 {
				return nil, fmt.Errorf("%w: header says version %d, only CAR v1 is supported", ErrVersion, v)
			}
		case "roots":
			if haveRoots {
				return nil, r.errf("duplicate key roots")
			}
			haveRoots = true
			maj, cnt, err := r.head()
			if err != nil {
				return nil, err
			}
			if maj != majArray {
				return nil, r.errf("roots is not an array")
			}
			if cnt > uint64(len(b)) {
				return nil, r.errf("roots array of %d entries runs past the header", cnt)
			}
			for i := range cnt {
				c, err := r.link()
				if err != nil {
					return nil, fmt.Errorf("root %d: %w", i, err)
				}
				roots = append(roots, c)
			}
		default:
			return nil, r.errf("unknown key %q", key)
		}
	}
	if r.pos != len(b) {
		return nil, r.errf("%d trailing bytes", len(b)-r.pos)
	}
	if !haveVersion {
		return nil, r.errf("no version")
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: header has no roots", ErrNoRoots)
	}
	return roots, nil
}

// link reads a dag-cbor CID: tag 42 around bytes 0x00 ‖ CID.
func (r *cborReader) link() (cid.Cid, error) {
	maj, tag, err := r.head()
	if err != nil {
		return cid.Undef, err
	}
	if maj != majTag || tag != 42 {
		return cid.Undef, r.errf("not a CID (tag 42)")
	}
	at := r.pos
	b, err := r.bytesOf(majBytes)
	if err != nil {
		return cid.Undef, err
	}
	if len(b) == 0 || b[0] != 0 {
		r.pos = at
		return cid.Undef, r.errf("CID bytes lack the 0x00 multibase prefix")
	}
	c, err := cid.Cast(b[1:])
	if err != nil {
		r.pos = at
		return cid.Undef, r.errf("bad CID: %v", err)
	}
	return c, nil
}
