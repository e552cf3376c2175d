package store

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// refFile is a file opened to read one block through a reference. On
// Linux it is a bare descriptor: no os.File, whose poller registration and
// cleanup would cost more than the read for a block of a page-cached file.
type refFile struct{ fd int }

func openRefFile(path string) (refFile, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return refFile{}, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return refFile{fd}, nil
	}
}

// stat returns the file's size, times and inode.
func (f refFile) stat() (refStat, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstat(f.fd, &st)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return refStat{}, os.NewSyscallError("fstat", err)
		}
		return refStat{
			size:  st.Size,
			mtime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
			ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)),
			inode: st.Ino,
		}, nil
	}
}

// readAt reads len(b) bytes from off, as os.File.ReadAt.
func (f refFile) readAt(b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		k, err := unix.Pread(f.fd, b[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, os.NewSyscallError("pread", err)
		case k == 0:
			return n, io.EOF
		}
		n += k
	}
	return n, nil
}

func (f refFile) close() { unix.Close(f.fd) }
