// Package scan finds what changed in a folder on disk since the index
// last saw it: size, mtime, ctime, inode, type and the executable bit say
// whether a path may have changed; changed files are chunked and hashed
// (on all cores, several files at once) into the block store as
// references, never copies. A file that changes while it is hashed is
// tried again rather than recorded half old.
package scan
