package unixfs

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

// Multicodec codes of the two block formats shoal builds.
const (
	CodecRaw   = 0x55 // raw leaf bytes
	CodecDagPB = 0x70 // dag-pb node
)

// ErrDecode is wrapped by every error about bytes that are not a valid
// dag-pb node or UnixFS Data message.
var ErrDecode = errors.New("invalid node")

// ErrCodec is returned for a CID whose codec is neither raw nor dag-pb.
var ErrCodec = errors.New("unsupported codec")

// Link is one dag-pb link: a named pointer to a child block with the
// cumulative size of the DAG under it.
type Link struct {
	Name  string
	Cid   cid.Cid
	Tsize uint64
}

// PBNode is a decoded dag-pb node: its links in stored order and its Data
// bytes (nil when the node has no Data field).
type PBNode struct {
	Links []Link
	Data  []byte
	// HasData reports whether the Data field is present (it may be present
	// and empty).
	HasData bool
}

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: dag-pb: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// DecodePBNode decodes dag-pb bytes strictly: only fields Links (2) and
// Data (1) (either order, as the spec allows for old data), each with the
// right wire type, no duplicate Data, link fields in schema order without
// duplicates, every link with a Hash that is a valid CID, and no bytes
// after the last field.
func DecodePBNode(data []byte) (*PBNode, error) {
	n := &PBNode{}
	src := data
	for len(src) > 0 {
		off := len(data) - len(src)
		num, typ, tl := protowire.ConsumeTag(src)
		if tl < 0 {
			return nil, decodeErr("bad field tag at byte %d: %v", off, protowire.ParseError(tl))
		}
		if typ != protowire.BytesType {
			return nil, decodeErr("field %d at byte %d has wire type %d, want 2", num, off, typ)
		}
		val, vl := protowire.ConsumeBytes(src[tl:])
		if vl < 0 {
			return nil, decodeErr("field %d at byte %d: %v", num, off, protowire.ParseError(vl))
		}
		switch num {
		case 1:
			if n.HasData {
				return nil, decodeErr("duplicate Data field at byte %d", off)
			}
			n.HasData = true
			n.Data = val
		case 2:
			l, err := decodePBLink(val)
			if err != nil {
				return nil, decodeErr("link %d at byte %d: %v", len(n.Links), off, err)
			}
			n.Links = append(n.Links, l)
		default:
			return nil, decodeErr("unknown field %d at byte %d", num, off)
		}
		src = src[tl+vl:]
	}
	return n, nil
}

func decodePBLink(data []byte) (Link, error) {
	var l Link
	var haveHash bool
	src := data
	last := protowire.Number(0)
	for len(src) > 0 {
		num, typ, tl := protowire.ConsumeTag(src)
		if tl < 0 {
			return l, fmt.Errorf("bad field tag: %v", protowire.ParseError(tl))
		}
		if num <= last {
			return l, fmt.Errorf("field %d out of order or duplicated", num)
		}
		last = num
		src = src[tl:]
		switch num {
		case 1, 2:
			if typ != protowire.BytesType {
				return l, fmt.Errorf("field %d has wire type %d, want 2", num, typ)
			}
			val, vl := protowire.ConsumeBytes(src)
			if vl < 0 {
				return l, fmt.Errorf("field %d: %v", num, protowire.ParseError(vl))
			}
			src = src[vl:]
			if num == 1 {
				c, err := cid.Cast(val)
				if err != nil {
					return l, fmt.Errorf("bad Hash CID: %v", err)
				}
				l.Cid = c
				haveHash = true
			} else {
				l.Name = string(val)
			}
		case 3:
			if typ != protowire.VarintType {
				return l, fmt.Errorf("link Tsize has wire type %d, want 0", typ)
			}
			v, vl := protowire.ConsumeVarint(src)
			if vl < 0 {
				return l, fmt.Errorf("link Tsize: %v", protowire.ParseError(vl))
			}
			src = src[vl:]
			l.Tsize = v
		default:
			return l, fmt.Errorf("unknown field %d", num)
		}
	}
	if !haveHash {
		return l, errors.New("missing Hash")
	}
	return l, nil
}

// EncodePBNode returns the canonical dag-pb encoding of links and data:
// every link as Hash, Name, Tsize (all present, as kubo writes them), then
// Data when data is non-nil.
func EncodePBNode(links []Link, data []byte) []byte {
	size := 0
	for _, l := range links {
		ls := linkSize(l)
		size += 1 + protowire.SizeVarint(uint64(ls)) + ls
	}
	if data != nil {
		size += 1 + protowire.SizeBytes(len(data))
	}
	b := make([]byte, 0, size)
	for _, l := range links {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(linkSize(l)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(l.Cid.ByteLen()))
		b = append(b, l.Cid.KeyString()...)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, l.Name)
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, l.Tsize)
	}
	if data != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, data)
	}
	return b
}

func linkSize(l Link) int {
	return 1 + protowire.SizeBytes(l.Cid.ByteLen()) +
		1 + protowire.SizeBytes(len(l.Name)) +
		1 + protowire.SizeVarint(l.Tsize)
}
