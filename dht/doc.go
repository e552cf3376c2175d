// Package dht is shoal's node on BitTorrent's mainline DHT (BEP 5): a
// Kademlia server over a net.PacketConn that answers ping, find_node,
// get_peers, announce_peer and the BEP 44 get/put of signed items, and runs
// iterative lookups to find nodes, peers and items and to announce and
// store them on the k closest nodes. Wire encoding lives in dht/krpc, the
// routing table in dht/routing and lookups in dht/lookup; this package is
// the thin layer that owns the socket, timers and stores, so the same code
// runs on a real UDP socket and on an in-memory network in fake time.
package dht
