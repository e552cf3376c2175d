// Package dag puts files and directories into a block store as UnixFS DAGs
// and takes them out again: add (copying blocks or keeping references to
// the files), cat, get to disk, and CAR export and import.
//
// It is the layer the CLI and the daemon's API call; the chunker, the
// UnixFS codec and the store each do one job below it, and this package
// joins them into the operations a user names.
package dag
