//go:build !linux

package diskfreetest

import "testing"

// Mount skips the test: a filesystem of its own needs Linux.
func Mount(t testing.TB, size int64) string {
	t.Skip("a tmpfs of the test's own needs Linux (and root)")
	return ""
}

// Fill skips the test (see Mount).
func Fill(t testing.TB, path string) int64 {
	t.Skip("a tmpfs of the test's own needs Linux (and root)")
	return 0
}

// Resize skips the test (see Mount).
func Resize(t testing.TB, dir string, size int64) {
	t.Skip("a tmpfs of the test's own needs Linux (and root)")
}
