// Package pex is peer exchange: connected peers that take part in the same
// scope tell each other who else does, as added and dropped deltas capped
// per message and per minute (BEP 11's limits), so a node that knows one
// member of a swarm reaches the rest. A scope is the provider key of a
// public root (a peer takes part by saying so: the same thing a DHT or
// tracker announce tells anyone) or the ID of a folder both sides proved
// on the connection (the folder engine says which, through Folders).
//
// The decisions are the pure state in state.go; Exchange is the swarm
// Extension that carries them out.
package pex
