// Package diskfree keeps writers off a full disk. A Floor is the free space
// a filesystem must keep (Syncthing's minDiskFree: a share of its size, and
// an absolute amount); Check says whether n more bytes can be written to a
// path's filesystem without going below it, and fails with an error that
// wraps syscall.ENOSPC ("no space left on device") if not. The block store
// checks it before every write, so that badger, which writes its files
// through memory maps (where a full disk is a SIGBUS, not an error), never
// meets a full disk; the puller and `shoal get -o` check it for the files
// they write.
package diskfree
