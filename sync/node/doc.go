// Package node is a running shoal node's local side: its home directory,
// its block store, and the operations the CLI and the daemon's API name
// (add, cat, get, ls, pin, gc, export, import, stat).
//
// The CLI opens a Node itself when no daemon runs on the home, and talks to
// the daemon's API otherwise; either way the same methods do the work.
package node
