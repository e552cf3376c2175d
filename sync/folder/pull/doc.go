// Package pull brings one path of a folder to its global record: the
// file's blocks come from wherever a fetcher finds them (other files on
// this machine first, then every peer that has them), each verified,
// into a temporary file under .shoal/ that is synced and renamed over
// the target; the replaced version is kept in .shoal/versions/ by a
// rename, and a local edit the index has not seen is never overwritten.
package pull
