// Package tracker speaks to BitTorrent trackers: a client of BEP 15 (UDP)
// and BEP 3 (HTTP, compact peer lists, BEP 7's peers6), an Announcer that
// keeps a set of 20-byte keys announced to each tracker at the interval
// it asks for and hands the peers it returns to the dialer, and a small
// tracker Server of both protocols whose peers expire, for a LAN, a
// private group or tests.
//
// The keys shoal announces are the provider keys of public pins
// (discovery/providers.Key) and the folders' rendezvous keys; a tracker
// learns no folder ID and no CID from them.
package tracker
