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
		return nil, fmt.Errorf("links of %s: %w 0x%x", c, ErrCodec, c.Type())
	}
}
