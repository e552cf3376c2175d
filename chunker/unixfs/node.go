package unixfs

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Node is a decoded UnixFS node: its dag-pb links and its UnixFS Data.
type Node struct {
	Links []Link
	FS    *FSData
}

// Block is an encoded block and its CID.
type Block struct {
	Cid  cid.Cid
	Data []byte
}

// Decode decodes a dag-pb block holding a UnixFS node. It fails with
// ErrCodec for a CID that is not dag-pb and with ErrDecode for bytes that
// are not a valid dag-pb node with a valid UnixFS Data field.
func Decode(c cid.Cid, data []byte) (*Node, error) {
	if c.Type() != CodecDagPB {
		return nil, fmt.Errorf("decode %s: %w 0x%x (want dag-pb)", c, ErrCodec, c.Type())
	}
	pb, err := DecodePBNode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", c, err)
	}
	if !pb.HasData {
		return nil, fmt.Errorf("decode %s: %w: dag-pb node has no UnixFS Data field", c, ErrDecode)
	}
	fs, err := DecodeFSData(pb.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", c, err)
	}
	return &Node{Links: pb.Links, FS: fs}, nil
}

// Encode returns the canonical dag-pb encoding of n.
func (n *Node) Encode() []byte {
	return EncodePBNode(n.Links, n.FS.Encode())
}

// Block encodes n and returns it with its CIDv1.
func (n *Node) Block() Block {
	data := n.Encode()
	return Block{Cid: NodeCID(data), Data: data}
}

// RawCID returns the CIDv1 (raw codec, sha2-256) of a block whose SHA-256
// the caller has already computed.
func RawCID(sum [32]byte) cid.Cid {
	return cid.NewCidV1(CodecRaw, sha256Multihash(sum))
}

// RawCIDOf hashes data and returns its raw CIDv1.
func RawCIDOf(data []byte) cid.Cid {
	return RawCID(sha256.Sum256(data))
}

// NodeCID hashes an encoded dag-pb node and returns its CIDv1.
func NodeCID(data []byte) cid.Cid {
	return cid.NewCidV1(CodecDagPB, sha256Multihash(sha256.Sum256(data)))
}

// IdentityData returns the bytes an identity-hashed CID (multihash 0x00)
// carries inline; ok is false for any other CID. Such a block is never
// stored or sent: its CID is its content.
func IdentityData(c cid.Cid) (data []byte, ok bool) {
	if c.Prefix().MhType != mh.IDENTITY {
		return nil, false
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, false
	}
	return dec.Digest, true
}

func sha256Multihash(sum [32]byte) mh.Multihash {
	b := make([]byte, 2+32)
	b[0] = mh.SHA2_256
	b[1] = 32
	copy(b[2:], sum[:])
	return mh.Multihash(b)
}

// WithIdentity returns a Getter that answers identity CIDs from the CID
// itself and asks g for every other block.
func WithIdentity(g Getter) Getter {
	if _, ok := g.(identityGetter); ok {
		return g
	}
	return identityGetter{g}
}

type identityGetter struct{ g Getter }

func (i identityGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := IdentityData(c); ok {
		return data, nil
	}
	return i.g.Get(ctx, c)
}
