package dht

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-sync/shoal/dht/krpc"
)

// FileStore is a TableStore in one file of compact node info (IPv4 and
// IPv6 entries, each a 1-byte family tag followed by its compact form).
type FileStore struct {
	Path string
}

// LoadNodes reads the saved nodes; a missing file yields none.
func (f FileStore) LoadNodes() ([]NodeInfo, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load dht nodes: %w", err)
	}
	var out []NodeInfo
	for len(b) > 0 {
		size := 26
		if b[0] == 6 {
			size = 38
		}
		if len(b) < 1+size {
			return out, fmt.Errorf("load dht nodes from %s: truncated", f.Path)
		}
		ns, err := krpc.DecodeNodes(b[1:1+size], b[0] == 6)
		if err != nil {
			return out, fmt.Errorf("load dht nodes from %s: %w", f.Path, err)
		}
		out = append(out, ns...)
		b = b[1+size:]
	}
	return out, nil
}

// SaveNodes replaces the file atomically.
func (f FileStore) SaveNodes(nodes []NodeInfo) error {
	var b []byte
	for _, n := range nodes {
		v6 := !n.Addr.Addr().Unmap().Is4()
		tag := byte(4)
		if v6 {
			tag = 6
		}
		b = append(b, tag)
		b = append(b, krpc.EncodeNodes([]NodeInfo{n}, v6)...)
	}
	tmp := f.Path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("save dht nodes: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save dht nodes: %w", err)
	}
	if err := os.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("save dht nodes: %w", err)
	}
	return nil
}
