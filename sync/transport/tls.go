package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ALPN is the application protocol both sides must negotiate.
const ALPN = "shoal/1"

// ExporterLabel is the TLS exporter label of Conn.Exporter (channel binding
// for folder proofs).
const ExporterLabel = identity.ExporterLabel

// ExporterLen is the length in bytes of Conn.Exporter.
const ExporterLen = 32

// Errors callers branch on.
var (
	// ErrPeerIDMismatch: the peer's certificate is not the node ID that was asked for.
	ErrPeerIDMismatch = errors.New("peer node ID mismatch")
	// ErrSelf: the connection leads back to this node.
	ErrSelf = errors.New("connected to self")
	// ErrBadCertificate: the peer's certificate is not a single ed25519 certificate.
	ErrBadCertificate = errors.New("bad peer certificate")
	// ErrNoALPN: the peer did not negotiate ALPN "shoal/1".
	ErrNoALPN = errors.New("peer did not negotiate ALPN " + ALPN)
)

// certificate returns a self-signed x509 certificate of id's ed25519 key.
func certificate(id *identity.Identity) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.ID().String()},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.PublicKey(), id.PrivateKey())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate for %s: %w", id.ID(), err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.PrivateKey()}, nil
}

// peerID returns the NodeID proven by a TLS connection state, checking that
// it carries exactly one ed25519 certificate and ALPN shoal/1.
func peerID(cs tls.ConnectionState) (identity.NodeID, error) {
	if cs.Version != tls.VersionTLS13 {
		return identity.NodeID{}, fmt.Errorf("TLS version 0x%04x, want 1.3", cs.Version)
	}
	if cs.NegotiatedProtocol != ALPN {
		return identity.NodeID{}, fmt.Errorf("%w (got %q)", ErrNoALPN, cs.NegotiatedProtocol)
	}
	if len(cs.PeerCertificates) != 1 {
		return identity.NodeID{}, fmt.Errorf("%w: %d certificates, want 1", ErrBadCertificate, len(cs.PeerCertificates))
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.NodeID{}, fmt.Errorf("%w: %T key, want ed25519", ErrBadCertificate, cs.PeerCertificates[0].PublicKey)
	}
	return identity.NodeIDFromPublicKey(pub), nil
}

// tlsConfig returns the TLS 1.3 configuration for one side. The certificate
// is checked by peerID, not by a CA: the handshake's CertificateVerify proves
// the peer holds the key. want, when non-zero, is the only node accepted.
func tlsConfig(cert tls.Certificate, self, want identity.NodeID) *tls.Config {
	return &tls.Config{
		Certificates:                []tls.Certificate{cert},
		MinVersion:                  tls.VersionTLS13,
		MaxVersion:                  tls.VersionTLS13,
		NextProtos:                  []string{ALPN},
		ClientAuth:                  tls.RequireAnyClientCert,
		InsecureSkipVerify:          true, // verified in VerifyConnection
		SessionTicketsDisabled:      true,
		DynamicRecordSizingDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := peerID(cs)
			if err != nil {
				return err
			}
			if got == self {
				return fmt.Errorf("%w (%s)", ErrSelf, self)
			}
			if !want.IsZero() && got != want {
				return fmt.Errorf("%w: certificate is %s, expected %s", ErrPeerIDMismatch, got, want)
			}
			return nil
		},
	}
}
