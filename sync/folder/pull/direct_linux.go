package pull

import (
	"os"
	"syscall"
)

// openDirect opens name for writes that bypass the page cache, or
// returns nil where its filesystem does not take them (tmpfs, some
// network filesystems).
func openDirect(name string) *os.File {
	f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}
