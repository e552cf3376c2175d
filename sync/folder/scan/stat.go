package scan

import (
	"io/fs"

	"github.com/shoal-sync/shoal/store"
)

// SysStat returns the ctime (Unix ns) and inode of info, where the
// platform knows them (0 elsewhere): the same values references record.
func SysStat(info fs.FileInfo) (ctime int64, inode uint64) {
	c, ino := store.FileID(info)
	if c.IsZero() {
		return 0, ino
	}
	return c.UnixNano(), ino
}
