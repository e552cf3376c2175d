// Package diskfreetest gives tests a small filesystem of their own to fill:
// a tmpfs mounted in a temporary directory (Linux, root), and a way to fill
// it to the last byte.
package diskfreetest
