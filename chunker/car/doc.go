// Package car reads and writes CAR v1 archives: a dag-cbor header naming
// the root CIDs, then one section per block (varint length, CID, bytes).
// It is how shoal exports a DAG and imports one made by kubo or any other
// IPFS tool. The reader verifies every block against its CID's sha2-256
// multihash and bounds every length it reads, so a hostile file cannot make
// it allocate much or pass off wrong bytes.
package car
