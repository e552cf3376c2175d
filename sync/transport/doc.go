// Package transport carries shoal's peer connections: TCP with mutual TLS 1.3,
// each side presenting a self-signed certificate of its ed25519 node key and
// ALPN "shoal/1". The peer's NodeID is read from its certificate, never from
// what it says, and a dial that names a node ID refuses any other key. The
// listener bounds handshake time and how many handshakes and connections one
// address may hold, and Prefer decides identically on both sides which of two
// simultaneous connections between a pair of peers survives.
package transport
