// Package daemon runs a shoal node as a long-lived process: the block
// store, the TLS listener and dialer for peers, the block swarm, a DHT node
// on the same port over UDP, and the local HTTP API that the CLI talks to.
//
// Start wires these together and returns once everything listens; the CLI's
// `shoal daemon` is a thin wrapper around it, and tests start several
// daemons in one process.
package daemon
