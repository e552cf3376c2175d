package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges w's pipe buffer when w is a pipe, so that streaming a
// large file to another process (`shoal cat CID | ...`) moves in large
// pieces instead of 64 KiB ones. Anything else is left as it is.
func growPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}
