package dht

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/shoal-sync/shoal/dht/bencode"
	"github.com/shoal-sync/shoal/dht/krpc"
)

// Item is a BEP 44 item: immutable (K empty, stored under the SHA-1 of V)
// or mutable (signed by the ed25519 key K, stored under SHA-1 of K and Salt).
type Item struct {
	V    []byte // the bencoded value, at most 1000 bytes
	K    []byte // ed25519 public key; empty for immutable items
	Salt []byte // at most 64 bytes
	Seq  int64
	Sig  []byte // ed25519 signature over krpc.SignedBytes(Salt, Seq, V)
}

// ImmutableItem returns the immutable item holding the bencoded value v.
func ImmutableItem(v []byte) (Item, error) {
	it := Item{V: v}
	return it, it.Verify()
}

// StringItem returns the immutable item holding the byte string s.
func StringItem(s []byte) (Item, error) {
	v, _ := bencode.Encode(s)
	return ImmutableItem(v)
}

// SignItem returns the mutable item holding bencoded v at seq, signed by priv.
func SignItem(priv ed25519.PrivateKey, salt []byte, seq int64, v []byte) (Item, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Item{}, fmt.Errorf("%w: private key of %d bytes", ErrBadItem, len(priv))
	}
	it := Item{
		V:    v,
		K:    []byte(priv.Public().(ed25519.PublicKey)),
		Salt: salt,
		Seq:  seq,
		Sig:  ed25519.Sign(priv, krpc.SignedBytes(salt, seq, v)),
	}
	return it, it.Verify()
}

// Mutable reports whether the item is a signed mutable item.
func (it Item) Mutable() bool { return len(it.K) > 0 }

// Target returns the key the item is stored under.
func (it Item) Target() [20]byte {
	if it.Mutable() {
		return krpc.MutableTarget(it.K, it.Salt)
	}
	return krpc.ImmutableTarget(it.V)
}

// Verify checks sizes, that V is canonical bencode, and the signature of a
// mutable item; errors wrap ErrBadItem.
func (it Item) Verify() error {
	if err := verifyValue(it.V); err != nil {
		return err
	}
	if len(it.Salt) > krpc.MaxSaltSize {
		return fmt.Errorf("%w: salt of %d bytes", ErrBadItem, len(it.Salt))
	}
	if !it.Mutable() {
		return nil
	}
	if len(it.K) != ed25519.PublicKeySize || len(it.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: key of %d or signature of %d bytes", ErrBadItem, len(it.K), len(it.Sig))
	}
	if !ed25519.Verify(it.K, krpc.SignedBytes(it.Salt, it.Seq, it.V), it.Sig) {
		return fmt.Errorf("%w: bad signature", ErrBadItem)
	}
	return nil
}

func verifyValue(v []byte) error {
	if len(v) == 0 || len(v) > krpc.MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes", ErrBadItem, len(v))
	}
	if _, err := bencode.Decode(v); err != nil {
		return fmt.Errorf("%w: value: %w", ErrBadItem, err)
	}
	return nil
}

// sameValue reports whether two items carry the same value and signature.
func sameValue(a, b Item) bool { return bytes.Equal(a.V, b.V) && bytes.Equal(a.Sig, b.Sig) }

// MutableTarget returns the target of the mutable items of public key k and salt.
func MutableTarget(k ed25519.PublicKey, salt []byte) [20]byte {
	return krpc.MutableTarget(k, salt)
}
