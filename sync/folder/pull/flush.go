package pull

import (
	"fmt"
	"os"
	"path/filepath"
)

// flushDirsEach makes renames in dirs durable with an fsync of each.
func flushDirsEach(dirs []string) error {
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// flushFilesEach makes each file durable with its own fsync.
func flushFilesEach(paths []string) error {
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return nil
}
