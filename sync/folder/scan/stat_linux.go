//go:build linux

package scan

import (
	"io/fs"
	"syscall"
)

// SysStat returns the ctime (Unix ns) and inode of info, where known.
func SysStat(info fs.FileInfo) (ctime int64, inode uint64) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	sec, nsec := st.Ctim.Unix()
	return sec*1e9 + nsec, uint64(st.Ino)
}
