// Package lookup runs Kademlia's iterative lookup: up to α queries in
// flight, answers merged into a shortlist ordered by XOR distance to the
// target, ending when the k closest known nodes have all answered. The
// Shortlist holds the decisions as pure code; Run drives it from one
// goroutine with a caller-supplied query function, so the same lookup runs
// over real UDP, an in-memory network or a test double.
package lookup
