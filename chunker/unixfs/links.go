package unixfs

import (
	"fmt"

	"github.com/ipfs/go-cid"
)

// Links returns the CIDs a block links to: none for raw (0x55) blocks, the PBNode links for dag-pb (0x70); an error for other codecs or a node that does not decode.
func Links(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case CodecRaw:
		return nil, nil
	case CodecDagPB:
		n, err := DecodePBNode(data)
		if err != nil {
			return nil, fmt.Errorf("links of %s: %w", c, err)
		}
		out := make([]cid.Cid, len(n.Links))
		for i, l := range n.Links {
			out[i] = l.Cid
		}
		return out, nil
	default:
		return nil, fmt.Errorf("block %s: %w %s (0x%x): shoal stores only raw (0x55) and dag-pb (0x70) blocks", c, ErrCodec, CodecName(c.Type()), c.Type())
	}
}

// codecNames names the codecs a block is most likely to have that shoal
// does not store.
var codecNames = map[uint64]string{
	CodecRaw: "raw", CodecDagPB: "dag-pb",
	0x51: "cbor", 0x71: "dag-cbor", 0x0129: "dag-json", 0x0200: "json",
	0x72: "libp2p-key", 0x78: "git-raw", 0x0202: "car",
}

// CodecName returns the multicodec name of code, for error messages.
func CodecName(code uint64) string {
	if n, ok := codecNames[code]; ok {
		return n
	}
	return "unknown codec"
}
