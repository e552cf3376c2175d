//go:build !linux

package dag

import "os"

// startWriteback does nothing here: the fsync that completes the file
// writes it all.
func startWriteback(*os.File, int64, int64) {}

// dropWritten does nothing here.
func dropWritten(*os.File, int64, int64) {}

// preallocate does nothing here: the file grows as it is written.
func preallocate(*os.File, int64) error { return nil }

// lockFile does not lock here, and says so: temporary files are then
// never resumed (two gets could not tell each other's apart).
func lockFile(*os.File) bool { return false }
