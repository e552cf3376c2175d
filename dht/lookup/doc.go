// Package lookup runs Kademlia's iterative lookup: queries in flight to
// the closest known contacts, answers merged into a shortlist ordered by
// XOR distance to the target, ending as soon as the k closest known nodes
// have all answered. It does not wait on the dead: each query has a Stall
// time (after which it stops holding one of the α slots, the next contact
// is queried in its place, and it is sent again: a lost datagram costs a
// stall time, not a timeout) and a Timeout (after which it is sent
// again, and in the end its contact is given up), both from the contact's
// measured round trips (Policy, RTT) or the network's for a contact never
// measured. A query also stops holding a slot once closer contacts push
// it out of the α closest the lookup waits on, and after a round that
// brought nothing closer the rest of the k closest are all asked at once.
// The Shortlist holds every decision as pure code; Run drives it
// from one goroutine with a caller-supplied query function, so the same
// lookup runs over real UDP, an in-memory network or a test double.
package lookup
