package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-sync/shoal/store"
)

// Reference encodings: version 1 (offset, length, file size, mtime) is
// still read; version 2 adds the file's ctime and inode.
const (
	refV1 = 1
	refV2 = 2
)

// errBadRef is wrapped by every error about an encoded reference that does
// not decode.
var errBadRef = errors.New("invalid encoded reference")

// encodeRef returns the compact encoding of r described in the package
// comment (version 2).
func encodeRef(r store.Ref) []byte {
	b := make([]byte, 0, 1+8*binary.MaxVarintLen64+len(r.Path))
	b = append(b, refV2)
	b = binary.AppendUvarint(b, uint64(r.Offset))
	b = binary.AppendUvarint(b, uint64(r.Length))
	b = binary.AppendUvarint(b, uint64(r.FileSize))
	b = binary.AppendVarint(b, r.ModTime.Unix())
	b = binary.AppendUvarint(b, uint64(r.ModTime.Nanosecond()))
	var csec int64
	var cnsec uint64
	if !r.CTime.IsZero() {
		csec, cnsec = r.CTime.Unix(), uint64(r.CTime.Nanosecond())
	}
	b = binary.AppendVarint(b, csec)
	b = binary.AppendUvarint(b, cnsec)
	b = binary.AppendUvarint(b, r.Inode)
	return append(b, r.Path...)
}

// decodeRef decodes what encodeRef wrote, or a version 1 reference.
func decodeRef(b []byte) (store.Ref, error) {
	if len(b) == 0 || (b[0] != refV1 && b[0] != refV2) {
		return store.Ref{}, fmt.Errorf("%w: unknown version", errBadRef)
	}
	nfields := 5
	if b[0] == refV2 {
		nfields = 8
	}
	b = b[1:]
	var vals [8]uint64
	for i := range nfields {
		var n int
		if i == 3 || i == 5 { // seconds: zig-zag
			var v int64
			v, n = binary.Varint(b)
			vals[i] = uint64(v)
		} else {
			vals[i], n = binary.Uvarint(b)
		}
		if n <= 0 {
			return store.Ref{}, fmt.Errorf("%w: bad varint in field %d", errBadRef, i)
		}
		b = b[n:]
	}
	offset, length, size, sec, nsec := vals[0], vals[1], vals[2], int64(vals[3]), vals[4]
	csec, cnsec, inode := int64(vals[5]), vals[6], vals[7]
	switch {
	case offset > 1<<62 || size > 1<<62:
		return store.Ref{}, fmt.Errorf("%w: offset or size out of range", errBadRef)
	case length > 1<<32-1:
		return store.Ref{}, fmt.Errorf("%w: length out of range", errBadRef)
	case nsec >= 1e9 || cnsec >= 1e9:
		return store.Ref{}, fmt.Errorf("%w: nanoseconds out of range", errBadRef)
	case len(b) == 0:
		return store.Ref{}, fmt.Errorf("%w: no path", errBadRef)
	}
	r := store.Ref{
		Path:     string(b),
		Offset:   int64(offset),
		Length:   uint32(length),
		FileSize: int64(size),
		ModTime:  time.Unix(sec, int64(nsec)),
		Inode:    inode,
	}
	if csec != 0 || cnsec != 0 {
		r.CTime = time.Unix(csec, int64(cnsec))
	}
	return r, nil
}
