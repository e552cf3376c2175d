//go:build !linux

package pull

// flushFiles makes the files at paths durable, an fsync each.
func flushFiles(paths []string) error { return flushFilesEach(paths) }

// flushDirs makes the renames into dirs durable, an fsync each.
func flushDirs(dirs []string) error { return flushDirsEach(dirs) }
