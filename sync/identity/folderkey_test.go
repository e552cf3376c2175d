package identity

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Golden values for RW = 00 01 02 ... 1f, computed independently from the
// formulas in DESIGN.md; they must never change.
const (
	goldenRO     = "47098ed0d75b768f37acb2468c952e3ffd11abf6b9651296e5a5ea44f29b81fe"
	goldenID     = "78d5d315ca80ebbe1dc3b780f61bdb582603c24d5ca2a0635d345227f990c072"
	goldenSignPK = "691e0a06a930e8e1640ed3b607fd4ee38e69c12433d3d5955cbeaf258ce654c9"
)

func seqRW() RWKey {
	var k RWKey
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func TestFolderKeyDerivation(t *testing.T) {
	rw := seqRW()
	ro := rw.RO()
	if got := hex.EncodeToString(ro[:]); got != goldenRO {
		t.Fatalf("RO = %s, want %s", got, goldenRO)
	}
	id := rw.ID()
	if got := hex.EncodeToString(id[:]); got != goldenID {
		t.Fatalf("ID = %s, want %s", got, goldenID)
	}
	if rw.RO().ID() != id {
		t.Fatal("RO().ID() differs from ID()")
	}
	if got := hex.EncodeToString(rw.SigningPublicKey()); got != goldenSignPK {
		t.Fatalf("signing public key = %s, want %s", got, goldenSignPK)
	}
	sig := ed25519.Sign(rw.SigningKey(), []byte("record"))
	if !ed25519.Verify(rw.SigningPublicKey(), []byte("record"), sig) {
		t.Fatal("signature does not verify")
	}
}

func TestFolderKeyRoundTrip(t *testing.T) {
	rw, err := NewRWKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewRWKey()
	if rw == other {
		t.Fatal("two NewRWKey calls returned the same key")
	}
	text := rw.Text()
	if !strings.HasPrefix(text, "shoal:rw:") || len(text) != len("shoal:rw:")+52 {
		t.Fatalf("Text = %q", text)
	}
	got, err := ParseRWKey(text)
	if err != nil || got != rw {
		t.Fatalf("ParseRWKey = %v, %v", got, err)
	}
	if _, err := ParseFolderKey("  " + strings.ToUpper(text) + "\n"); err == nil {
		t.Fatal("uppercase prefix accepted")
	}
	fk, err := ParseFolderKey(" " + text[:9] + strings.ToUpper(text[9:]) + "\n")
	if err != nil || !fk.Writable() || fk.RO() != rw.RO() || fk.ID() != rw.ID() || fk.Text() != text {
		t.Fatalf("ParseFolderKey(rw) = %+v, %v", fk, err)
	}
	roText := FolderKeyFromRW(rw).ROText()
	ro, err := ParseROKey(roText)
	if err != nil || ro != rw.RO() {
		t.Fatalf("ParseROKey = %v, %v", ro, err)
	}
	ro2, err := ParseROKey(text)
	if err != nil || ro2 != rw.RO() {
		t.Fatalf("ParseROKey(rw text) = %v, %v", ro2, err)
	}
	fk, err = ParseFolderKey(roText)
	if _, ok := fk.RW(); err != nil || ok || fk.Writable() || fk.Text() != roText {
		t.Fatalf("ParseFolderKey(ro) = %+v, %v", fk, err)
	}
	if !fk.SigningPublicKey().Equal(rw.SigningPublicKey()) || fk.ID() != rw.ID() {
		t.Fatalf("read-only key carries signing key %x, want %x", fk.SigningPublicKey(), rw.SigningPublicKey())
	}
	// Redacted printing never contains the secret.
	for _, s := range []string{rw.String(), rw.RO().String(), FolderKeyFromRW(rw).String(), fk.String()} {
		if strings.Contains(s, text[9:]) || strings.Contains(s, roText[9:]) {
			t.Fatalf("String() leaks the key: %s", s)
		}
		if !strings.Contains(s, rw.ID().String()) {
			t.Fatalf("String() = %q does not name the folder", s)
		}
	}
}

func TestParseFolderKeyErrors(t *testing.T) {
	rw := seqRW()
	text := rw.Text()
	secret := text[9:]
	tests := []struct {
		name, in, want string
		parse          func(string) error
	}{
		{"no prefix", secret, "must start with", parseAny},
		{"other scheme", "ipfs:" + secret, "must start with", parseAny},
		{"bad base32", "shoal:rw:" + secret[:20] + "!" + secret[21:], "not valid base32", parseAny},
		{"short", text[:40], "has 19 bytes", parseAny},
		{"long", text + "aaaaaaaa", "want 32", parseAny},
		{"non-canonical", text[:len(text)-1] + "b", "not canonical", parseAny},
		{"ro for rw", FolderKeyFromRW(rw).ROText(), "read-only key", func(s string) error { _, err := ParseRWKey(s); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.in)
			if !errors.Is(err, ErrBadFolderKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrBadFolderKey containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret[:20]) {
				t.Fatalf("error repeats the key: %v", err)
			}
		})
	}
}

func parseAny(s string) error { _, err := ParseFolderKey(s); return err }

func FuzzParseFolderKey(f *testing.F) {
	f.Add(seqRW().Text())
	f.Add(FolderKeyFromRW(seqRW()).ROText())
	f.Add("shoal:rw:")
	f.Add("shoal:ro:aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseFolderKey(s)
		if err != nil {
			return
		}
		k2, err := ParseFolderKey(k.Text())
		if err != nil || k2 != k {
			t.Fatalf("round trip of %q: %v, %v", s, k2, err)
		}
	})
}
