package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Prefixes of the printed folder keys.
const (
	RWPrefix = "shoal:rw:"
	ROPrefix = "shoal:ro:"
)

// FolderKeyLen is the length in bytes of RW and RO keys and of folder IDs.
const FolderKeyLen = 32

// ErrBadFolderKey is returned when a printed folder key cannot be parsed.
var ErrBadFolderKey = errors.New("invalid folder key")

// RWKey is a folder's read-write secret: whoever holds it may publish changes.
type RWKey [FolderKeyLen]byte

// ROKey is a folder's read-only key: whoever holds it may read and receive.
type ROKey [FolderKeyLen]byte

// FolderID names a folder; it is derived from the ROKey and reveals nothing of it.
type FolderID [FolderKeyLen]byte

// h returns sha256(label ‖ key).
func h(label string, key []byte) [FolderKeyLen]byte {
	d := sha256.New()
	d.Write([]byte(label))
	d.Write(key)
	var out [FolderKeyLen]byte
	d.Sum(out[:0])
	return out
}

// NewRWKey returns a fresh random read-write secret for a new folder.
func NewRWKey() (RWKey, error) {
	var k RWKey
	if _, err := rand.Read(k[:]); err != nil {
		return RWKey{}, fmt.Errorf("generate folder key: %w", err)
	}
	return k, nil
}

// RO returns the folder's read-only key: H("shoal ro" ‖ RW).
func (k RWKey) RO() ROKey { return ROKey(h("shoal ro", k[:])) }

// ID returns the folder ID.
func (k RWKey) ID() FolderID { return k.RO().ID() }

// SigningKey returns the folder's ed25519 signing key, seeded by H("shoal sign" ‖ RW).
func (k RWKey) SigningKey() ed25519.PrivateKey {
	seed := h("shoal sign", k[:])
	return ed25519.NewKeyFromSeed(seed[:])
}

// SigningPublicKey returns the public half of SigningKey.
func (k RWKey) SigningPublicKey() ed25519.PublicKey {
	return k.SigningKey().Public().(ed25519.PublicKey)
}

// Text returns the shareable form "shoal:rw:<base32>". It is a secret.
func (k RWKey) Text() string { return RWPrefix + b32.EncodeToString(k[:]) }

// String returns a redacted form naming only the folder, so that logging a
// key by accident does not leak it; use Text for the shareable form.
func (k RWKey) String() string { return RWPrefix + "<redacted> (folder " + k.ID().String() + ")" }

// ID returns the folder ID: H("shoal id" ‖ RO).
func (k ROKey) ID() FolderID { return FolderID(h("shoal id", k[:])) }

// String returns a redacted form naming only the folder; use Text to share the key.
func (k ROKey) String() string { return ROPrefix + "<redacted> (folder " + k.ID().String() + ")" }

// String returns the folder ID in lowercase base32 (52 characters).
func (f FolderID) String() string { return b32.EncodeToString(f[:]) }

// FolderKey is a parsed printed key: read-write (which implies the read-only
// key) or read-only. Both hold the folder's public signing key, so that a
// read-only peer can check every record it receives: the printed read-only
// key carries it after the read-only secret (it cannot be derived from RO).
type FolderKey struct {
	rw       RWKey
	ro       ROKey
	pub      [ed25519.PublicKeySize]byte
	writable bool
}

// FolderKeyFromRW returns the FolderKey of a read-write secret.
func FolderKeyFromRW(rw RWKey) FolderKey {
	k := FolderKey{rw: rw, ro: rw.RO(), writable: true}
	copy(k.pub[:], rw.SigningPublicKey())
	return k
}

// FolderKeyFromRO returns the read-only FolderKey of ro and the folder's
// public signing key.
func FolderKeyFromRO(ro ROKey, signingPub ed25519.PublicKey) FolderKey {
	k := FolderKey{ro: ro}
	copy(k.pub[:], signingPub)
	return k
}

// SigningPublicKey returns the folder's public signing key, which every
// record's signature is checked against.
func (k FolderKey) SigningPublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), k.pub[:]...)
}

// ReadOnly returns the read-only FolderKey of k.
func (k FolderKey) ReadOnly() FolderKey { return FolderKey{ro: k.ro, pub: k.pub} }

// ROText returns the shareable read-only form "shoal:ro:<base32>" of the
// read-only secret and the public signing key. It is a secret.
func (k FolderKey) ROText() string {
	return ROPrefix + b32.EncodeToString(append(append([]byte(nil), k.ro[:]...), k.pub[:]...))
}

// Writable reports whether the key holds the read-write secret.
func (k FolderKey) Writable() bool { return k.writable }

// RW returns the read-write secret, and false when the key is read-only.
func (k FolderKey) RW() (RWKey, bool) { return k.rw, k.writable }

// RO returns the read-only key.
func (k FolderKey) RO() ROKey { return k.ro }

// ID returns the folder ID.
func (k FolderKey) ID() FolderID { return k.ro.ID() }

// Text returns the shareable form of the strongest key held.
func (k FolderKey) Text() string {
	if k.writable {
		return k.rw.Text()
	}
	return k.ROText()
}

// String returns a redacted form; use Text to share the key.
func (k FolderKey) String() string {
	if k.writable {
		return k.rw.String()
	}
	return k.ro.String()
}

// ParseFolderKey parses "shoal:rw:<base32>" or "shoal:ro:<base32>".
// Error messages never repeat the key.
func ParseFolderKey(s string) (FolderKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, RWPrefix):
		b, err := decodeKey(s[len(RWPrefix):], "read-write", FolderKeyLen)
		if err != nil {
			return FolderKey{}, err
		}
		return FolderKeyFromRW(RWKey(b)), nil
	case strings.HasPrefix(s, ROPrefix):
		b, err := decodeKey(s[len(ROPrefix):], "read-only", FolderKeyLen+ed25519.PublicKeySize)
		if err != nil {
			return FolderKey{}, err
		}
		return FolderKeyFromRO(ROKey(b[:FolderKeyLen]), b[FolderKeyLen:]), nil
	default:
		return FolderKey{}, fmt.Errorf("%w: must start with %q or %q", ErrBadFolderKey, RWPrefix, ROPrefix)
	}
}

// ParseRWKey parses "shoal:rw:<base32>"; a read-only key is refused with a clear error.
func ParseRWKey(s string) (RWKey, error) {
	k, err := ParseFolderKey(s)
	if err != nil {
		return RWKey{}, err
	}
	if !k.writable {
		return RWKey{}, fmt.Errorf("%w: this is a read-only key (%s...), a read-write key (%s...) is needed", ErrBadFolderKey, ROPrefix, RWPrefix)
	}
	return k.rw, nil
}

// ParseROKey parses "shoal:ro:<base32>". A read-write key is accepted too and
// yields its read-only key.
func ParseROKey(s string) (ROKey, error) {
	k, err := ParseFolderKey(s)
	if err != nil {
		return ROKey{}, err
	}
	return k.ro, nil
}

func decodeKey(body, kind string, n int) ([]byte, error) {
	raw, err := b32.DecodeString(strings.ToLower(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s key is not valid base32: %v", ErrBadFolderKey, kind, err)
	}
	if len(raw) != n {
		return nil, fmt.Errorf("%w: %s key has %d bytes, want %d (truncated copy?)", ErrBadFolderKey, kind, len(raw), n)
	}
	if b32.EncodeToString(raw) != strings.ToLower(body) {
		return nil, fmt.Errorf("%w: %s key is not canonical base32 (mistyped last character?)", ErrBadFolderKey, kind)
	}
	return raw, nil
}
