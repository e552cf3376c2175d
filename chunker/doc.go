// Package chunker cuts byte streams into chunks and hashes them: FastCDC
// content-defined chunking with normalized chunking (Xia et al. 2016/2020),
// or fixed-size chunks like kubo's size-N.
//
// Content-defined boundaries depend only on the bytes near them, so an edit
// in one place of a file changes only the chunks around it and every other
// chunk keeps its CID. Split overlaps reading and chunking with SHA-256
// hashing on all cores, in a bounded set of recycled buffers, and still
// hands the chunks to the caller in stream order.
package chunker
