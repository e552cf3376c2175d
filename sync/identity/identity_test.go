package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", "shoal")
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	// The file is standard PEM PKCS#8 holding the same key.
	data, _ := os.ReadFile(path)
	blk, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if NodeIDFromPublicKey(key.(ed25519.PrivateKey).Public().(ed25519.PublicKey)) != a.ID() {
		t.Fatal("stored key does not match returned identity")
	}
	b, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != b.ID() || !a.PrivateKey().Equal(b.PrivateKey()) {
		t.Fatalf("reload gave %s, first %s", b.ID(), a.ID())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d entries, want only %s", len(entries), KeyFile)
	}
	if NodeIDFromPublicKey(a.PublicKey()) != a.ID() {
		t.Fatal("ID is not the NodeID of PublicKey")
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	ids := make([]NodeID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := LoadOrCreate(dir)
			errs[i] = err
			if err == nil {
				ids[i] = id.ID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent LoadOrCreate gave %s and %s", ids[0], ids[i])
		}
	}
}

func TestLoadOrCreateCorrupt(t *testing.T) {
	rsaLike, _ := x509.MarshalPKCS8PrivateKey(fixedKey(1))
	okPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaLike})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a key\n")},
		{"wrong pem type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rsaLike})},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})},
		{"truncated", okPEM[:len(okPEM)/2]},
		{"trailing", append(append([]byte{}, okPEM...), "junk"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFile)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreate(dir)
			if !errors.Is(err, ErrCorruptKey) {
				t.Fatalf("LoadOrCreate = %v, want ErrCorruptKey", err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != string(tt.data) {
				t.Fatal("corrupt key file was modified")
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	der, _ := x509.MarshalPKCS8PrivateKey(fixedKey(2))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := parseKey(data)
		if err != nil {
			return
		}
		if len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("parsed key of %d bytes", len(priv))
		}
	})
}
