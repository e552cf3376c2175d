package dag

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing n bytes of f from off to disk and returns
// without waiting for them. Errors show in the fsync that follows.
func startWriteback(f *os.File, off, n int64) {
	control(f, func(fd int) {
		unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// dropWritten waits until n bytes of f from off are on disk, then drops
// them from the page cache.
func dropWritten(f *os.File, off, n int64) {
	control(f, func(fd int) {
		err := unix.SyncFileRange(fd, off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		if err == nil {
			unix.Fadvise(fd, off, n, unix.FADV_DONTNEED)
		}
	})
}

func control(f *os.File, fn func(fd int)) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// preallocate reserves n bytes of disk for f, so that a file written out
// of order gets few extents and a full disk shows now rather than midway.
// A file system that cannot preallocate is left to allocate as it writes.
func preallocate(f *os.File, n int64) error {
	var err error
	control(f, func(fd int) {
		err = unix.Fallocate(fd, 0, 0, n)
	})
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// lockFile takes an exclusive lock on f without waiting, for as long as f
// is open, and reports whether it got it.
func lockFile(f *os.File) bool {
	ok := false
	control(f, func(fd int) {
		ok = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil
	})
	return ok
}
