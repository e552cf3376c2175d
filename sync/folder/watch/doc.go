// Package watch reports which paths of a shared folder changed, as they
// change, so the scanner looks at those paths instead of the whole tree.
//
// It watches every directory under the root with fsnotify (new ones added
// as they appear, removed ones dropped) and debounces events per path: a
// path is reported once it has been quiet for a while, or at least once a
// MaxDelay while it keeps changing. The watcher is a hint, not the truth:
// when it cannot watch everything (the kernel's watch limit, an event
// overflow) it says so through Degraded and the caller relies on its
// periodic full rescans.
package watch
