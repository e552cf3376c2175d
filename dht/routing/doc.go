// Package routing is the Kademlia routing table of a mainline DHT node:
// 160 buckets of k entries indexed by shared prefix length with the local
// ID, good/questionable/bad node states, a replacement cache per bucket,
// ping-the-oldest eviction, refresh of idle buckets and a preference for
// BEP 42 conforming nodes. It is pure code: callers pass the time and carry
// out the Actions it returns (pings), so every rule is table-tested.
package routing
