//go:build unix

package diskfree

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Stat returns the space of the filesystem holding path; ok is false where
// the platform cannot tell.
func Stat(path string) (sp Space, ok bool, err error) {
	var st unix.Statfs_t
	for {
		err = unix.Statfs(path, &st)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return Space{}, false, fmt.Errorf("free space of %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return Space{Free: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs}, true, nil
}
