//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package scan

import "io/fs"

// SysStat: ctime and inode are not known on this platform.
func SysStat(fs.FileInfo) (ctime int64, inode uint64) { return 0, 0 }
