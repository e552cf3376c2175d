package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

func TestProof(t *testing.T) {
	ro := seqRW().RO()
	other := RWKey{1}.RO()
	exp := bytes.Repeat([]byte{7}, 32)
	exp2 := bytes.Repeat([]byte{8}, 32)
	a := NodeIDFromPublicKey(fixedKey(1).Public().(ed25519.PublicKey))
	b := NodeIDFromPublicKey(fixedKey(2).Public().(ed25519.PublicKey))
	p := Proof(ro, exp, a)
	if len(p) != ProofLen {
		t.Fatalf("proof has %d bytes", len(p))
	}
	tests := []struct {
		name   string
		ro     ROKey
		exp    []byte
		prover NodeID
		proof  []byte
		want   bool
	}{
		{"valid", ro, exp, a, p, true},
		{"other key", other, exp, a, p, false},
		{"other connection", ro, exp2, a, p, false},
		{"reflected to other prover", ro, exp, b, p, false},
		{"truncated", ro, exp, a, p[:31], false},
		{"empty", ro, exp, a, nil, false},
		{"short exporter", ro, exp[:8], a, Proof(ro, exp[:8], a), false},
		{"zero prover", ro, exp, NodeID{}, Proof(ro, exp, NodeID{}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyProof(tt.ro, tt.exp, tt.prover, tt.proof); got != tt.want {
				t.Fatalf("VerifyProof = %v, want %v", got, tt.want)
			}
		})
	}
}
