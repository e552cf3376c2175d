// Package storetest is the conformance suite for store.Store: every
// implementation runs Run from its tests, so that the badger store and the
// in-memory one used in other packages' tests behave the same. It checks
// blocks, batches, references to files that change under the store, pins,
// and garbage collection, including collection racing a batch.
package storetest
