//go:build !unix

package diskfree

// Stat cannot tell free space on this platform.
func Stat(string) (Space, bool, error) { return Space{}, false, nil }
