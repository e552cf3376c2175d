//go:build !linux

package store

import (
	"os"
	"time"
)

// refFile is a file opened to read one block through a reference.
type refFile struct{ f *os.File }

func openRefFile(path string) (refFile, error) {
	f, err := os.Open(path)
	return refFile{f}, err
}

// stat returns the file's size and modification time.
func (f refFile) stat() (int64, time.Time, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, time.Time{}, err
	}
	return fi.Size(), fi.ModTime(), nil
}

// readAt reads len(b) bytes from off, as os.File.ReadAt.
func (f refFile) readAt(b []byte, off int64) (int, error) { return f.f.ReadAt(b, off) }

func (f refFile) close() { f.f.Close() }
