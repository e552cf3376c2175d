package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// Multihash code and digest length of a NodeID (sha2-256).
const (
	mhSHA256    = 0x12
	mhSHA256Len = 32
	// NodeIDLen is the length in bytes of a NodeID's multihash form.
	NodeIDLen = 2 + mhSHA256Len
)

// ErrBadNodeID is returned when a node ID string or byte slice cannot be parsed.
var ErrBadNodeID = errors.New("invalid node ID")

// b32 is RFC 4648 base32, lowercase, unpadded: multibase 'b'.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NodeID names a node: the sha2-256 multihash of its ed25519 public key.
// The zero value is "no node"; NodeIDs are comparable and usable as map keys.
type NodeID struct {
	digest [mhSHA256Len]byte
}

// NodeIDFromPublicKey returns the NodeID of an ed25519 public key.
func NodeIDFromPublicKey(pub ed25519.PublicKey) NodeID {
	return NodeID{digest: sha256.Sum256(pub)}
}

// IsZero reports whether id is the zero NodeID.
func (id NodeID) IsZero() bool { return id == NodeID{} }

// Bytes returns the multihash bytes of id (0x12 0x20 followed by the digest).
func (id NodeID) Bytes() []byte {
	b := make([]byte, 0, NodeIDLen)
	b = append(b, mhSHA256, mhSHA256Len)
	return append(b, id.digest[:]...)
}

// String returns id in multibase base32: 'b' followed by lowercase base32.
func (id NodeID) String() string {
	return "b" + b32.EncodeToString(id.Bytes())
}

// Short returns the last 8 characters of String (the distinctive part), for logs.
func (id NodeID) Short() string {
	s := id.String()
	return s[len(s)-8:]
}

// Compare orders NodeIDs by their bytes: -1, 0 or +1.
func (id NodeID) Compare(other NodeID) int {
	return bytes.Compare(id.digest[:], other.digest[:])
}

// MarshalBinary returns the multihash bytes (so CBOR encodes a NodeID as a byte string).
func (id NodeID) MarshalBinary() ([]byte, error) { return id.Bytes(), nil }

// UnmarshalBinary parses multihash bytes into id.
func (id *NodeID) UnmarshalBinary(b []byte) error {
	v, err := NodeIDFromBytes(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// MarshalText returns String (for JSON and logs).
func (id NodeID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the String form into id.
func (id *NodeID) UnmarshalText(b []byte) error {
	v, err := ParseNodeID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// NodeIDFromBytes parses the multihash form of a NodeID.
func NodeIDFromBytes(b []byte) (NodeID, error) {
	if len(b) != NodeIDLen {
		return NodeID{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadNodeID, len(b), NodeIDLen)
	}
	if b[0] != mhSHA256 || b[1] != mhSHA256Len {
		return NodeID{}, fmt.Errorf("%w: multihash 0x%02x/%d, want sha2-256 (0x12/32)", ErrBadNodeID, b[0], b[1])
	}
	var id NodeID
	copy(id.digest[:], b[2:])
	return id, nil
}

// ParseNodeID parses a node ID printed by String. It accepts multibase
// base32 with the 'b' prefix (or 'B' with uppercase letters).
func ParseNodeID(s string) (NodeID, error) {
	if s == "" {
		return NodeID{}, fmt.Errorf("%w: empty", ErrBadNodeID)
	}
	var body string
	switch s[0] {
	case 'b':
		body = s[1:]
	case 'B':
		body = strings.ToLower(s[1:])
	default:
		return NodeID{}, fmt.Errorf("%w %q: want multibase base32 starting with 'b'", ErrBadNodeID, s)
	}
	raw, err := b32.DecodeString(body)
	if err != nil {
		return NodeID{}, fmt.Errorf("%w %q: base32: %v", ErrBadNodeID, s, err)
	}
	id, err := NodeIDFromBytes(raw)
	if err != nil {
		return NodeID{}, fmt.Errorf("node ID %q: %w", s, err)
	}
	if b32.EncodeToString(raw) != body {
		return NodeID{}, fmt.Errorf("%w %q: non-canonical base32", ErrBadNodeID, s)
	}
	return id, nil
}
