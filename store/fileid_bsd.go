//go:build darwin || freebsd || netbsd || openbsd

package store

import (
	"io/fs"
	"syscall"
	"time"
)

// FileID returns info's ctime and inode, where the platform reports them.
func FileID(info fs.FileInfo) (time.Time, uint64) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, 0
	}
	return time.Unix(st.Ctimespec.Unix()), uint64(st.Ino)
}
