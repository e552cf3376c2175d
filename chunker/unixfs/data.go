package unixfs

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is the kind of a UnixFS node.
type DataType uint64

// UnixFS v1 node kinds, numbered as in unixfs.proto.
const (
	TRaw       DataType = 0
	TDirectory DataType = 1
	TFile      DataType = 2
	TMetadata  DataType = 3
	TSymlink   DataType = 4
	THAMTShard DataType = 5
)

// String returns the lower-case name of the type as UnixFS tools print it.
func (t DataType) String() string {
	switch t {
	case TRaw:
		return "raw"
	case TDirectory:
		return "directory"
	case TFile:
		return "file"
	case TMetadata:
		return "metadata"
	case TSymlink:
		return "symlink"
	case THAMTShard:
		return "hamt-sharded-directory"
	}
	return fmt.Sprintf("unknown(%d)", uint64(t))
}

// UnixTime is a UnixFS modification time: seconds since the epoch and an
// optional fraction of a second in nanoseconds.
type UnixTime struct {
	Seconds int64
	// Nanos is the FractionalNanoseconds field; 0 means absent.
	Nanos uint32
}

// FSData is the UnixFS v1 Data message carried in a dag-pb node's Data
// field. Optional scalar fields are pointers so that absent and zero stay
// distinct and a decoded message re-encodes to the same bytes.
type FSData struct {
	Type       DataType
	Data       []byte // nil when absent
	FileSize   *uint64
	BlockSizes []uint64
	HashType   *uint64
	Fanout     *uint64
	Mode       *uint32
	Mtime      *UnixTime
}

// Size returns the filesize field, or 0 when it is absent.
func (d *FSData) Size() uint64 {
	if d.FileSize == nil {
		return 0
	}
	return *d.FileSize
}

// Encode returns the protobuf encoding of d in field-number order, with
// blocksizes unpacked, as kubo writes it.
func (d *FSData) Encode() []byte {
	b := make([]byte, 0, 16+len(d.Data)+10*len(d.BlockSizes))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(d.Type))
	if d.Data != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, d.Data)
	}
	if d.FileSize != nil {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, *d.FileSize)
	}
	for _, s := range d.BlockSizes {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, s)
	}
	if d.HashType != nil {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, *d.HashType)
	}
	if d.Fanout != nil {
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, *d.Fanout)
	}
	if d.Mode != nil {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(*d.Mode))
	}
	if d.Mtime != nil {
		var t []byte
		t = protowire.AppendTag(t, 1, protowire.VarintType)
		t = protowire.AppendVarint(t, uint64(d.Mtime.Seconds))
		if d.Mtime.Nanos != 0 {
			t = protowire.AppendTag(t, 2, protowire.Fixed32Type)
			t = protowire.AppendFixed32(t, d.Mtime.Nanos)
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, t)
	}
	return b
}

func fsErr(format string, args ...any) error {
	return fmt.Errorf("%w: unixfs: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// DecodeFSData decodes a UnixFS Data message strictly: Type is required and
// known, every field has its schema's wire type, optional fields appear at
// most once, unknown fields are rejected, mode fits 32 bits, and nothing
// trails the last field. blocksizes is accepted packed or unpacked.
func DecodeFSData(data []byte) (*FSData, error) {
	d := &FSData{}
	var haveType bool
	seen := [9]bool{}
	src := data
	for len(src) > 0 {
		off := len(data) - len(src)
		num, typ, tl := protowire.ConsumeTag(src)
		if tl < 0 {
			return nil, fsErr("bad field tag at byte %d: %v", off, protowire.ParseError(tl))
		}
		src = src[tl:]
		if num < 1 || num > 8 {
			return nil, fsErr("unknown field %d at byte %d", num, off)
		}
		if num != 4 && seen[num] {
			return nil, fsErr("duplicate field %d at byte %d", num, off)
		}
		seen[num] = true
		if num == 4 && typ == protowire.BytesType { // packed blocksizes
			val, n := protowire.ConsumeBytes(src)
			if n < 0 {
				return nil, fsErr("blocksizes at byte %d: %v", off, protowire.ParseError(n))
			}
			src = src[n:]
			for len(val) > 0 {
				v, vn := protowire.ConsumeVarint(val)
				if vn < 0 {
					return nil, fsErr("packed blocksizes at byte %d: %v", off, protowire.ParseError(vn))
				}
				d.BlockSizes = append(d.BlockSizes, v)
				val = val[vn:]
			}
			continue
		}
		want := protowire.VarintType
		if num == 2 || num == 8 {
			want = protowire.BytesType
		}
		if typ != want {
			return nil, fsErr("field %d at byte %d has wire type %d, want %d", num, off, typ, want)
		}
		if want == protowire.BytesType {
			val, n := protowire.ConsumeBytes(src)
			if n < 0 {
				return nil, fsErr("field %d at byte %d: %v", num, off, protowire.ParseError(n))
			}
			src = src[n:]
			if num == 2 {
				d.Data = val
				if d.Data == nil {
					d.Data = []byte{}
				}
				continue
			}
			t, err := decodeUnixTime(val)
			if err != nil {
				return nil, fsErr("mtime at byte %d: %v", off, err)
			}
			d.Mtime = t
			continue
		}
		v, n := protowire.ConsumeVarint(src)
		if n < 0 {
			return nil, fsErr("field %d at byte %d: %v", num, off, protowire.ParseError(n))
		}
		src = src[n:]
		switch num {
		case 1:
			if v > uint64(THAMTShard) {
				return nil, fsErr("unknown Type %d", v)
			}
			d.Type = DataType(v)
			haveType = true
		case 3:
			d.FileSize = &v
		case 4:
			d.BlockSizes = append(d.BlockSizes, v)
		case 5:
			d.HashType = &v
		case 6:
			d.Fanout = &v
		case 7:
			if v > 0xFFFFFFFF {
				return nil, fsErr("mode %d does not fit 32 bits", v)
			}
			m := uint32(v)
			d.Mode = &m
		}
	}
	if !haveType {
		return nil, fsErr("missing required Type field")
	}
	return d, nil
}

func decodeUnixTime(data []byte) (*UnixTime, error) {
	t := &UnixTime{}
	var haveSec, haveNanos bool
	src := data
	for len(src) > 0 {
		num, typ, tl := protowire.ConsumeTag(src)
		if tl < 0 {
			return nil, protowire.ParseError(tl)
		}
		src = src[tl:]
		switch {
		case num == 1 && typ == protowire.VarintType && !haveSec:
			v, n := protowire.ConsumeVarint(src)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			src = src[n:]
			t.Seconds = int64(v)
			haveSec = true
		case num == 2 && typ == protowire.Fixed32Type && !haveNanos:
			v, n := protowire.ConsumeFixed32(src)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			src = src[n:]
			if v == 0 || v > 999_999_999 {
				return nil, fmt.Errorf("FractionalNanoseconds %d outside 1..999999999", v)
			}
			t.Nanos = v
			haveNanos = true
		default:
			return nil, fmt.Errorf("unexpected, duplicate or mistyped field %d (wire type %d)", num, typ)
		}
	}
	if !haveSec {
		return nil, fmt.Errorf("missing required Seconds")
	}
	return t, nil
}
