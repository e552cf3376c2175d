package pull

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// flushFiles makes the files at paths durable. On Linux one syncfs(2)
// per filesystem does it for all of them: the journal commits once for
// the group, where an fsync each would commit (and wait) once per file.
func flushFiles(paths []string) error { return syncfsEach(paths) }

// flushDirs makes the renames into dirs durable, likewise.
func flushDirs(dirs []string) error { return syncfsEach(dirs) }

// syncfsEach calls syncfs once for each filesystem holding one of paths.
func syncfsEach(paths []string) error {
	done := map[uint64]bool{}
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		if done[st.Dev] {
			continue
		}
		done[st.Dev] = true
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
	}
	return nil
}
