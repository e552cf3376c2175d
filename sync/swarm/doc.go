// Package swarm moves blocks between connected peers the BitTorrent way:
// a Session asks every peer who has which of the blocks its caller names
// (a DAG walk, sync/swarm/walk, names a node's children as it arrives),
// except the peers that sent it blocks already, which it presumes hold
// the rest as Bitswap's sessions do (Sources); it requests the rarest
// first with many requests in flight per peer, finishes in endgame,
// verifies every block against its CID and drops peers that lie; uploads
// are choked tit-for-tat with an optimistic unchoke, and payload bytes
// are rate-limited both ways. The decisions live in sync/swarm/strategy
// as pure code; this package carries them out, with one goroutine owning
// the swarm state and, per connection, a reader, a verifier, and a
// writer that reads the next requested blocks concurrently.
package swarm
