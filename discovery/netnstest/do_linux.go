package netnstest

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread moved into the namespace: sockets fn opens
// belong to the namespace for their whole life, whatever goroutine later
// uses them. The thread is not reused after.
func (n Node) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/run/netns/" + n.NS)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter %s: %w", n.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
