// Package store defines shoal's block store: content-addressed blocks keyed
// by multihash, references that point into files on disk instead of holding
// a copy, pins, and garbage collection.
//
// The interfaces live here; store/badgerstore implements them on badger v4,
// store/memstore in memory for tests, and store/storetest is the
// conformance suite every implementation must pass.
package store
