package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the name of the node key file inside the state directory.
const KeyFile = "node.key"

const pemType = "PRIVATE KEY"

// ErrCorruptKey is returned when the node key file exists but cannot be used.
// It is never replaced silently: the node's identity would change.
var ErrCorruptKey = errors.New("corrupt node key file")

// Identity is a node's ed25519 key pair and the NodeID it proves.
type Identity struct {
	priv ed25519.PrivateKey
	id   NodeID
}

// New returns a fresh random identity that is not stored anywhere.
func New() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	return FromPrivateKey(priv), nil
}

// FromPrivateKey returns the identity of an existing ed25519 private key.
func FromPrivateKey(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{priv: priv, id: NodeIDFromPublicKey(pub)}
}

// ID returns the node's NodeID.
func (i *Identity) ID() NodeID { return i.id }

// PublicKey returns the node's ed25519 public key.
func (i *Identity) PublicKey() ed25519.PublicKey { return i.priv.Public().(ed25519.PublicKey) }

// PrivateKey returns the node's ed25519 private key (for TLS certificates).
func (i *Identity) PrivateKey() ed25519.PrivateKey { return i.priv }

// LoadOrCreate reads dir/node.key, or creates it (mode 0600, written to a
// temporary file, synced and renamed into place) when it does not exist.
// A file that exists but does not hold an ed25519 key is an error wrapping
// ErrCorruptKey; it is left as it is.
func LoadOrCreate(dir string) (*Identity, error) {
	path := filepath.Join(dir, KeyFile)
	id, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	id, err = New()
	if err != nil {
		return nil, err
	}
	created, err := writeKey(dir, path, id.priv)
	if err != nil {
		return nil, err
	}
	if !created {
		// Another process created the key between our read and our write: use theirs.
		return load(path)
	}
	return id, nil
}

// load reads and parses the key file at path.
func load(path string) (*Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read node key %s: %w", path, err)
	}
	priv, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v (move it away to create a new identity)", ErrCorruptKey, path, err)
	}
	return FromPrivateKey(priv), nil
}

// parseKey decodes a PEM PKCS#8 ed25519 private key.
func parseKey(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("PEM block %q, want %q", block.Type, pemType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key type %T, want ed25519", key)
	}
	return priv, nil
}

// writeKey writes priv to path without ever leaving a partial file there:
// temp file (0600) → write → fsync → link into place → fsync dir. It reports
// false, nil when path appeared meanwhile (it is not overwritten).
func writeKey(dir, path string, priv ed25519.PrivateKey) (bool, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return false, fmt.Errorf("encode node key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})

	tmp, err := os.CreateTemp(dir, ".node.key.tmp-*")
	if err != nil {
		return false, fmt.Errorf("create temp node key in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSync(tmp, data); err != nil {
		return false, fmt.Errorf("write temp node key %s: %w", tmpName, err)
	}
	// Link refuses to replace an existing file, so two processes racing to
	// create the key agree on one; fall back to rename where links are not
	// supported.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("install node key %s: %w", path, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("sync state directory %s: %w", dir, err)
	}
	return true, nil
}

func writeSync(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
