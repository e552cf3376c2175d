// Package dialer keeps the node connected to the peers its discovery
// sources find. Every source (mDNS, the DHT, trackers, static addresses,
// peer exchange, the addresses remembered from earlier runs) hands it
// candidates; it dedupes them by node ID and address, keeps one connection
// per peer, dials in parallel with a bound and a rate, backs off
// exponentially per address, redials a dropped peer that is still wanted,
// prefers addresses that worked and never dials itself.
//
// The decisions (which candidate to dial next, how long to back off) are
// the pure table in table.go; Dialer carries them out from one goroutine
// that owns the table and learns of connects and drops from events.
package dialer
