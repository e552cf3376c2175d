package unixfs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestVectors checks every CID of the repository's testdata/vectors/README.md: kubo's
// `ipfs add --cid-version=1 --raw-leaves --chunker=size-262144`.
func TestVectors(t *testing.T) {
	pattern300k, err := os.ReadFile(filepath.Join(vectorsDir, "tree/sub/pattern-300000.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pattern300k, patterned(300000, 253)) {
		t.Fatal("tree/sub/pattern-300000.bin is not byte i = i mod 253")
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
		{"a", []byte("a"), "bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm"},
		{"hello", []byte("hello world\n"), "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"},
		{"two-chunks", patterned(262145, 251), "bafybeiexg2oqkfnj56l7fcmawswqbijt5shq4b5rg6a546uwpkqqzwjioi"},
		{"pattern-300000", pattern300k, "bafybeihig3h67ypnp4xnye4nhjye7o7meedx3tkllsikjr25p6lbil4mnu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemStore()
			root, _ := addFile(t, m, tt.data)
			if root.String() != tt.want {
				t.Fatalf("CID %s, kubo gives %s", root, tt.want)
			}
			r, err := NewFileReader(context.Background(), m, root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Fatalf("read back %d bytes, want %d equal bytes", len(got), len(tt.data))
			}
			if r.Size() != uint64(len(tt.data)) {
				t.Fatalf("Size %d, want %d", r.Size(), len(tt.data))
			}
		})
	}
}

const treeCID = "bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm"

func TestTreeVector(t *testing.T) {
	m := newMemStore()
	root, _ := addTree(t, m, filepath.Join(vectorsDir, "tree"))
	if root.String() != treeCID {
		t.Fatalf("tree CID %s, kubo gives %s", root, treeCID)
	}
	// Every file in the tree reads back through Resolve + FileReader.
	ctx := context.Background()
	err := filepath.WalkDir(filepath.Join(vectorsDir, "tree"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(vectorsDir, "tree"), p)
		c, err := Resolve(ctx, m, root, "/"+filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		want, _ := os.ReadFile(p)
		r, err := NewFileReader(ctx, m, c)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := r.WriteTo(&buf); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: read back differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
