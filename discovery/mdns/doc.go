// Package mdns finds shoal peers on the local network and tells them of
// this node: it advertises the DNS-SD service _shoal._tcp with the node ID,
// TCP and UDP ports and protocol version in TXT (never a folder ID), and
// browses for it continuously on every suitable interface, IPv4 and IPv6.
//
// It uses github.com/grandcat/zeroconf, an unmaintained library, and works
// around its problems here: its browse stops querying after the first
// answer and reports each instance once, so browsing runs in rounds; its
// answers carry no IPv6 zone, so link-local addresses get the zone of each
// interface they may have come from; and the interface's own addresses are
// not always put in its answers, so this package names them explicitly.
// A TXT record decides nothing about identity: the dialer passes its node
// ID as the one expected, and the TLS certificate refuses any other.
package mdns
