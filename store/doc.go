// Package store defines shoal's block store: content-addressed blocks keyed
// by multihash, references that point into files on disk instead of holding
// a copy, pins, and garbage collection.
//
// The interfaces live here, with what every implementation shares: the
// checks on CIDs and references (CheckCid, ReadRef), and the pieces of a
// collection that is safe against concurrent batches (GCLock, RootSets,
// Marker). store/badgerstore implements the store on badger v4,
// store/memstore in memory for tests, and store/storetest is the
// conformance suite every implementation must pass.
package store
