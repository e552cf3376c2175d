package index

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/internal/cborx"
)

// Type is what a record describes.
type Type uint8

// Record types.
const (
	TypeFile    Type = 1
	TypeDir     Type = 2
	TypeSymlink Type = 3
)

func (t Type) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Limits of a record, enforced on decode.
const (
	MaxRecordSize = 16 << 10 // encoded bytes of one record
	maxVectorLen  = 1024
	maxTargetLen  = 4096
)

// ErrBadRecord means a record does not decode, breaks a limit or its
// signature does not verify.
var ErrBadRecord = errors.New("invalid record")

// Record is one file's entry in a folder's manifest.
type Record struct {
	Path    string `cbor:"1,keyasint"`
	Type    Type   `cbor:"2,keyasint"`
	Size    int64  `cbor:"3,keyasint,omitempty"`
	Mode    uint32 `cbor:"4,keyasint,omitempty"` // permission bits
	ModTime int64  `cbor:"5,keyasint,omitempty"` // Unix nanoseconds
	Root    []byte `cbor:"6,keyasint,omitempty"` // a file's content CID
	Target  string `cbor:"7,keyasint,omitempty"` // a symlink's target
	Version Vector `cbor:"8,keyasint,omitempty"`
	Deleted bool   `cbor:"9,keyasint,omitempty"`
	Origin  uint64 `cbor:"10,keyasint"` // the device that made this change
	Seq     uint64 `cbor:"11,keyasint"` // its sequence on Origin
}

// Cid returns the file's content CID (cid.Undef for other types).
func (r *Record) Cid() cid.Cid {
	if len(r.Root) == 0 {
		return cid.Undef
	}
	c, err := cid.Cast(r.Root)
	if err != nil {
		return cid.Undef
	}
	return c
}

// Time returns the record's mtime.
func (r *Record) Time() time.Time { return time.Unix(0, r.ModTime) }

// FileMode returns the mode a file of this record gets on disk.
func (r *Record) FileMode() fs.FileMode { return fs.FileMode(r.Mode) & fs.ModePerm }

// Executable reports whether the record's owner-execute bit is set.
func (r *Record) Executable() bool { return r.Mode&0o100 != 0 }

// SameContent reports whether r and o describe the same thing on disk
// (type, content, link target, exec bit, deletion), whatever their versions.
func (r *Record) SameContent(o *Record) bool {
	return r.Type == o.Type && r.Deleted == o.Deleted && string(r.Root) == string(o.Root) &&
		r.Target == o.Target && r.Executable() == o.Executable() && (r.Type != TypeFile || r.Size == o.Size)
}

// Check validates a record's fields.
func (r *Record) Check() error {
	if err := ValidatePath(r.Path); err != nil {
		return err
	}
	switch {
	case r.Type != TypeFile && r.Type != TypeDir && r.Type != TypeSymlink:
		return fmt.Errorf("%w: %s: unknown %s", ErrBadRecord, r.Path, r.Type)
	case r.Size < 0:
		return fmt.Errorf("%w: %s: negative size", ErrBadRecord, r.Path)
	case len(r.Version) == 0 || len(r.Version) > maxVectorLen || !r.Version.valid():
		return fmt.Errorf("%w: %s: bad version vector", ErrBadRecord, r.Path)
	case r.Seq == 0:
		return fmt.Errorf("%w: %s: sequence 0", ErrBadRecord, r.Path)
	case len(r.Target) > maxTargetLen:
		return fmt.Errorf("%w: %s: symlink target of %d bytes", ErrBadRecord, r.Path, len(r.Target))
	}
	if r.Type == TypeFile && !r.Deleted {
		c, err := cid.Cast(r.Root)
		if err != nil {
			return fmt.Errorf("%w: %s: content CID: %v", ErrBadRecord, r.Path, err)
		}
		if c.Prefix().MhType != 0x12 {
			return fmt.Errorf("%w: %s: content CID is not sha2-256", ErrBadRecord, r.Path)
		}
	} else if len(r.Root) != 0 {
		return fmt.Errorf("%w: %s: a %s with content", ErrBadRecord, r.Path, r.Type)
	}
	return nil
}

// Signed is a record as it travels and is stored: its encoding and the
// folder key's signature over it. Relays pass it on unchanged.
type Signed struct {
	Data []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// signContext binds a signature to its purpose and folder.
func signContext(folder identity.FolderID, data []byte) []byte {
	msg := make([]byte, 0, 24+len(folder)+len(data))
	msg = append(msg, "shoal record v1\x00"...)
	msg = append(msg, folder[:]...)
	return append(msg, data...)
}

// Sign encodes r and signs it with the folder's key.
func Sign(r *Record, folder identity.FolderID, key ed25519.PrivateKey) (Signed, error) {
	if err := r.Check(); err != nil {
		return Signed{}, err
	}
	data, err := encMode.Marshal(r)
	if err != nil {
		return Signed{}, fmt.Errorf("encode record %s: %w", r.Path, err)
	}
	if len(data) > MaxRecordSize {
		return Signed{}, fmt.Errorf("%w: %s: %d bytes encoded", ErrBadRecord, r.Path, len(data))
	}
	return Signed{Data: data, Sig: ed25519.Sign(key, signContext(folder, data))}, nil
}

// Open checks a signed record's signature against the folder's public key
// and decodes and validates it.
func (s Signed) Open(folder identity.FolderID, pub ed25519.PublicKey) (*Record, error) {
	if err := s.checkSig(folder, pub); err != nil {
		return nil, err
	}
	return s.decode()
}

// checkSig checks s's size and its signature against the folder's key.
func (s Signed) checkSig(folder identity.FolderID, pub ed25519.PublicKey) error {
	if len(s.Data) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes", ErrBadRecord, len(s.Data))
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, signContext(folder, s.Data), s.Sig) {
		return fmt.Errorf("%w: bad signature", ErrBadRecord)
	}
	return nil
}

// decode decodes s's record, refusing one over MaxRecordSize unread.
func (s Signed) decode() (*Record, error) {
	if len(s.Data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadRecord, len(s.Data))
	}
	return Decode(s.Data)
}

// Decode decodes and validates a record's encoding (no signature check).
func Decode(data []byte) (*Record, error) {
	if len(data) == 0 || data[0]>>5 != 5 {
		return nil, fmt.Errorf("%w: not a CBOR map", ErrBadRecord)
	}
	var r Record
	if err := decMode.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

var (
	decMode = cborx.DecMode(cborx.Limits{Nesting: 6, Array: maxVectorLen, MapPairs: 32})
	encMode = cborx.EncMode()
)
