package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-sync/shoal/store"
)

const refVersion = 1

// errBadRef is wrapped by every error about an encoded reference that does
// not decode.
var errBadRef = errors.New("invalid encoded reference")

// encodeRef returns the compact encoding of r described in the package
// comment.
func encodeRef(r store.Ref) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(r.Path))
	b = append(b, refVersion)
	b = binary.AppendUvarint(b, uint64(r.Offset))
	b = binary.AppendUvarint(b, uint64(r.Length))
	b = binary.AppendUvarint(b, uint64(r.FileSize))
	b = binary.AppendVarint(b, r.ModTime.Unix())
	b = binary.AppendUvarint(b, uint64(r.ModTime.Nanosecond()))
	return append(b, r.Path...)
}

// decodeRef decodes what encodeRef wrote.
func decodeRef(b []byte) (store.Ref, error) {
	if len(b) == 0 || b[0] != refVersion {
		return store.Ref{}, fmt.Errorf("%w: unknown version", errBadRef)
	}
	b = b[1:]
	var vals [5]uint64
	for i := range vals {
		var n int
		if i == 3 {
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
	switch {
	case offset > 1<<62 || size > 1<<62:
		return store.Ref{}, fmt.Errorf("%w: offset or size out of range", errBadRef)
	case length > 1<<32-1:
		return store.Ref{}, fmt.Errorf("%w: length out of range", errBadRef)
	case nsec >= 1e9:
		return store.Ref{}, fmt.Errorf("%w: nanoseconds out of range", errBadRef)
	case len(b) == 0:
		return store.Ref{}, fmt.Errorf("%w: no path", errBadRef)
	}
	return store.Ref{
		Path:     string(b),
		Offset:   int64(offset),
		Length:   uint32(length),
		FileSize: int64(size),
		ModTime:  time.Unix(sec, int64(nsec)),
	}, nil
}
