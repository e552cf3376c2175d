// Package interop holds only tests: they check that shoal's DHT speaks BEP 5
// well enough to live in one swarm with an independent implementation
// (anacrolix/dht), in both directions: pings, find_node, and peers announced
// by one side and found by the other, all on loopback UDP.
package interop
