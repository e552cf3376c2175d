// Package badgerstore is shoal's block store on badger v4: blocks, references
// into files, pins, garbage collection, and a small key-value namespace for
// other subsystems, all in one database per node. Its options suit a small
// machine (values over 1 KiB in the value log, no compression, small caches,
// two memtables and two compactors), which makes badger write 64 KiB blocks
// several times faster than its defaults do, in far less memory.
//
// Key layout (every key starts with a one-letter prefix and a slash):
//
//	b/<multihash>            block held as a copy; the value is its bytes
//	r/<multihash>            block held as a reference; the value is an
//	                         encoded store.Ref (see below)
//	p/r/<CID bytes>          recursive pin; empty value
//	p/d/<CID bytes>          direct pin; empty value (a recursive pin of the
//	                         same CID wins)
//	k/<n><name><key>         KV namespace name (n = its length, one byte)
//
// A block is held either as a copy or as a reference, never both for long:
// writing a copy deletes the reference in the same transaction. A reference
// value is: version byte 2, then uvarints offset, length and file size, a
// zig-zag varint of the mtime's Unix seconds, a uvarint of its nanoseconds,
// the same two for the ctime (both 0: unknown), a uvarint of the inode (0:
// unknown), and the file's absolute path as the remaining bytes (about 35
// bytes plus the path per block, well under 1 % of a 64 KiB block).
// Version 1, written before, is the same without ctime and inode, and is
// still read.
//
// Memory: a batch commits every 4 MiB in the background (at most four
// commits in flight) and copies blocks into pooled buffers, so a write of
// any size holds a few tens of MiB. Badger writes its value log through a
// shared mmap; on Linux the store advises those pages out of the process
// every 64 MiB written (MADV_PAGEOUT), so they do not pile up as resident
// memory; they stay in the page cache.
package badgerstore
