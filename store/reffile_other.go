//go:build !linux

package store

import "os"

// refFile is a file opened to read one block through a reference.
type refFile struct{ f *os.File }

func openRefFile(path string) (refFile, error) {
	f, err := os.Open(path)
	return refFile{f}, err
}

// stat returns the file's size, times and inode (where known).
func (f refFile) stat() (refStat, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return refStat{}, err
	}
	ctime, inode := FileID(fi)
	return refStat{size: fi.Size(), mtime: fi.ModTime(), ctime: ctime, inode: inode}, nil
}

// readAt reads len(b) bytes from off, as os.File.ReadAt.
func (f refFile) readAt(b []byte, off int64) (int, error) { return f.f.ReadAt(b, off) }

func (f refFile) close() { f.f.Close() }
