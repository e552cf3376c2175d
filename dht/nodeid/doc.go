// Package nodeid holds the arithmetic of 160-bit Kademlia identifiers:
// XOR distance, ordering by distance to a target, shared prefix length
// (which picks a routing-table bucket), random IDs inside a bucket, and the
// BEP 42 rule that ties a node ID to its external IP address. It is pure
// code with no I/O, shared by the routing table, lookups and the server.
package nodeid
