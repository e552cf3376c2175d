// Package index keeps a folder's manifest: one signed record per path
// (type, size, mode, mtime, content CID, version vector, deleted flag, and
// the origin device and its sequence), what this machine has on disk for
// each path, and per origin device the highest sequence held. Records are
// signed with the folder's key by the read-write peer that made the change
// and checked, signature and path, before they are stored or relayed.
// Everything lives in the node's badger database, and what belongs
// together is written in one transaction.
package index
