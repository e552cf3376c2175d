package identity

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
)

func fixedKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b
	}
	return ed25519.NewKeyFromSeed(seed)
}

// TestNodeIDMatchesMultiformats checks NodeID against the multiformats libraries.
func TestNodeIDMatchesMultiformats(t *testing.T) {
	for _, b := range []byte{0, 1, 0x7f, 0xff} {
		priv := fixedKey(b)
		pub := priv.Public().(ed25519.PublicKey)
		id := NodeIDFromPublicKey(pub)

		mh, err := multihash.Sum(pub, multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		if string(id.Bytes()) != string(mh) {
			t.Fatalf("Bytes = %x, multihash = %x", id.Bytes(), []byte(mh))
		}
		want, err := multibase.Encode(multibase.Base32, mh)
		if err != nil {
			t.Fatal(err)
		}
		if id.String() != want {
			t.Fatalf("String = %s, multibase = %s", id, want)
		}
		if !strings.HasPrefix(id.String(), "bciq") {
			t.Fatalf("String = %s, want prefix bciq (sha2-256 multihash)", id)
		}
		got, err := ParseNodeID(id.String())
		if err != nil || got != id {
			t.Fatalf("ParseNodeID(%s) = %v, %v", id, got, err)
		}
		got, err = ParseNodeID(strings.ToUpper(id.String()))
		if err != nil || got != id {
			t.Fatalf("ParseNodeID(upper) = %v, %v", got, err)
		}
		var u NodeID
		if err := u.UnmarshalText([]byte(id.String())); err != nil || u != id {
			t.Fatalf("UnmarshalText = %v, %v", u, err)
		}
		var v NodeID
		bin, _ := id.MarshalBinary()
		if err := v.UnmarshalBinary(bin); err != nil || v != id {
			t.Fatalf("UnmarshalBinary = %v, %v", v, err)
		}
		if id.Short() != id.String()[len(id.String())-8:] {
			t.Fatalf("Short = %s", id.Short())
		}
	}
}

func TestParseNodeIDErrors(t *testing.T) {
	good := NodeIDFromPublicKey(fixedKey(3).Public().(ed25519.PublicKey)).String()
	sha512, _ := multihash.Sum([]byte("x"), multihash.SHA2_512, -1)
	sha512s, _ := multibase.Encode(multibase.Base32, sha512)
	b58, _ := multibase.Encode(multibase.Base58BTC, NodeID{}.Bytes())
	// Flip the last character to one differing only in the unused trailing bits.
	last := good[len(good)-1]
	nonCanon := good[:len(good)-1] + string(b32Alphabet[(strings.IndexByte(b32Alphabet, last)^1)])

	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"base58", b58, "want multibase base32"},
		{"bad base32", "b!!!!", "base32"},
		{"truncated", good[:20], "bytes, want 34"},
		{"sha512", sha512s, "want 34"},
		{"non-canonical", nonCanon, "non-canonical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNodeID(tt.in)
			if !errors.Is(err, ErrBadNodeID) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseNodeID(%q) = %v, want ErrBadNodeID containing %q", tt.in, err, tt.want)
			}
		})
	}
	wrongCode := append([]byte{0x13, 0x20}, make([]byte, 32)...)
	if _, err := NodeIDFromBytes(wrongCode); !errors.Is(err, ErrBadNodeID) || !strings.Contains(err.Error(), "sha2-256") {
		t.Fatalf("NodeIDFromBytes(wrong code) = %v", err)
	}
}

const b32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

func TestNodeIDCompare(t *testing.T) {
	a := NodeID{digest: [32]byte{1}}
	b := NodeID{digest: [32]byte{2}}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatal("Compare order wrong")
	}
	if !(NodeID{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero wrong")
	}
}

func FuzzParseNodeID(f *testing.F) {
	f.Add(NodeIDFromPublicKey(fixedKey(1).Public().(ed25519.PublicKey)).String())
	f.Add("")
	f.Add("b")
	f.Add("Bciqaaaa")
	f.Add("zQm")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseNodeID(s)
		if err != nil {
			return
		}
		// Anything accepted prints back to itself (modulo case).
		if id.String() != strings.ToLower(s[:1])+strings.ToLower(s[1:]) {
			t.Fatalf("ParseNodeID(%q) prints as %q", s, id)
		}
	})
}
