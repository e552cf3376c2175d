package krpc

import (
	"crypto/sha1"
	"strconv"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

// BEP 44 size limits.
const (
	MaxValueSize = 1000 // bytes of the bencoded v
	MaxSaltSize  = 64
)

// ImmutableTarget returns the BEP 44 target of an immutable item: the
// SHA-1 of its bencoded value.
func ImmutableTarget(v []byte) nodeid.ID { return sha1.Sum(v) }

// MutableTarget returns the BEP 44 target of a mutable item: the SHA-1 of
// its public key followed by its salt.
func MutableTarget(k, salt []byte) nodeid.ID {
	h := sha1.New()
	h.Write(k)
	h.Write(salt)
	var id nodeid.ID
	h.Sum(id[:0])
	return id
}

// SignedBytes returns what a mutable item's ed25519 signature covers:
// the bencoded salt (when not empty), seq and v keys without the dictionary.
func SignedBytes(salt []byte, seq int64, v []byte) []byte {
	var b []byte
	if len(salt) > 0 {
		b = append(b, "4:salt"...)
		b = strconv.AppendInt(b, int64(len(salt)), 10)
		b = append(b, ':')
		b = append(b, salt...)
	}
	b = append(b, "3:seqi"...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, "e1:v"...)
	return append(b, v...)
}
