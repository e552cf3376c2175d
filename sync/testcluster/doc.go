// Package testcluster starts real `shoal daemon` processes on loopback,
// each with its own home and folders in temporary directories, for
// end-to-end tests that read as a story: share on A, join on B, write a
// file on A, wait until B has it, compare bytes. Waits re-check their
// condition on every event a daemon publishes, up to a deadline; nothing
// sleeps. It is for tests only and never part of the shipped binary.
package testcluster
