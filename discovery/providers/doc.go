// Package providers is content routing over the DHT: it announces the
// roots this node serves (its pins) under their provider keys, keeps them
// announced while they last, and looks up which peers announced a CID, so
// that `shoal get CID` finds content without a peer address, as kubo does.
//
// A CID's provider key is the BEP 5 infohash SHA-256("shoal provide" ‖
// multihash)[:20]: it depends on the multihash only, so CIDv0 and CIDv1 of
// the same content, or a raw and a dag-pb view of it, share providers.
package providers
