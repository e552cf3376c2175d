// Package memstore is an in-memory store.Store with the same semantics as
// the badger store: copies and references, pins, batches that show nothing
// before Commit, and garbage collection. It exists for the tests of other
// packages, which need a real store without a database on disk; nothing is
// persisted.
package memstore
