package identity

import (
	"crypto/hmac"
	"crypto/sha256"
)

// ProofLen is the length in bytes of a folder proof.
const ProofLen = sha256.Size

// ExporterLabel is the TLS exporter label whose value folder proofs bind to.
const ExporterLabel = "EXPORTER-shoal-folder-proof"

// Proof returns the proof that prover holds ro on one TLS connection:
// HMAC-SHA256 keyed by ro over a label, the connection's exporter value and
// the prover's NodeID. The exporter value is the same on both ends of a
// connection, so the prover's ID is included: otherwise a peer could reflect
// the other side's proof back as its own without knowing the key.
func Proof(ro ROKey, exporter []byte, prover NodeID) []byte {
	m := hmac.New(sha256.New, ro[:])
	m.Write([]byte("shoal folder proof v1\x00"))
	m.Write(exporter)
	m.Write(prover.Bytes())
	return m.Sum(nil)
}

// VerifyProof reports, in constant time, whether proof is Proof(ro, exporter, prover).
// An exporter value shorter than 16 bytes never verifies (it would not bind a connection).
func VerifyProof(ro ROKey, exporter []byte, prover NodeID, proof []byte) bool {
	if len(exporter) < 16 || prover.IsZero() {
		return false
	}
	return hmac.Equal(Proof(ro, exporter, prover), proof)
}
