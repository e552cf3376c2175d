// Package unixfs builds and reads UnixFS v1 DAGs in dag-pb, the format IPFS
// uses for files and directories. It encodes and strictly decodes dag-pb
// nodes and UnixFS Data messages, assembles files in kubo's balanced layout
// (raw leaves, at most 174 links a node) so that CIDs equal kubo's, and walks
// stored DAGs back into bytes, verifying sizes on the way.
package unixfs
