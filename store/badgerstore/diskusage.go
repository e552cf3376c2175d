package badgerstore

import (
	"io/fs"
	"path/filepath"
)

// diskUsage returns the bytes the files under dir take on disk. Badger's
// value log files are sparse while written, so allocated blocks are
// counted where the platform reports them, not the file sizes.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += allocated(fi)
		return nil
	})
	return total, err
}
