package wire

import "fmt"

// Folder messages. A folder ID never travels before the peer proved it
// holds the folder's key: a FolderProof carries only the proof, and the
// receiver finds the folder by trying the keys it holds.
const (
	folderIDLen     = 32
	proofLen        = 32
	maxRecordLen    = 16 << 10
	maxSignatureLen = 64
)

// FolderProof proves, on this connection, that the sender holds a
// folder's read-only key (identity.Proof).
type FolderProof struct {
	Proof []byte `cbor:"1,keyasint"`
}

// Mark is an origin device and a sequence in a folder's index.
type Mark struct {
	_      struct{} `cbor:",toarray"`
	Origin uint64
	Seq    uint64
}

// IndexSummary tells a peer, per origin device, up to which sequence the
// sender holds a folder's records; the peer answers with IndexRecords
// holding what the sender lacks. Reply marks a summary sent in answer to
// one, which is not answered with a summary again.
//
// Announce (protocol 1.3) marks a summary sent because the sender took in
// many new records: it asks for nothing. A peer that lacks some of them
// answers with a summary of its own (Reply), which the sender answers
// with exactly those; a peer that holds them already, or is being sent
// them by another, says nothing. An announcement is never a reply.
type IndexSummary struct {
	Folder   []byte `cbor:"1,keyasint"`
	Marks    []Mark `cbor:"2,keyasint,omitempty"`
	Reply    bool   `cbor:"3,keyasint,omitempty"`
	Announce bool   `cbor:"4,keyasint,omitempty"`
}

// SignedRecord is an index record as its author signed it; relays pass it
// on unchanged.
type SignedRecord struct {
	_    struct{} `cbor:",toarray"`
	Data []byte
	Sig  []byte
}

// IndexRecords carries records of a folder. Complete, in an answer to a
// summary, lists per origin the sequence up to which the sender has now
// sent everything it holds; Last marks the final message of that answer.
// A rumour (a change pushed as it happens) has neither.
type IndexRecords struct {
	Folder   []byte         `cbor:"1,keyasint"`
	Records  []SignedRecord `cbor:"2,keyasint,omitempty"`
	Complete []Mark         `cbor:"3,keyasint,omitempty"`
	Last     bool           `cbor:"4,keyasint,omitempty"`
}

// IndexAck tells a peer that the sender took in (checked and stored, or
// set aside) Messages more of the IndexRecords it sent on this
// connection. A sender of a long answer keeps only a few messages
// unacknowledged, so the index never fills the connection's buffers ahead
// of the blocks and replies behind it. It names no folder: it counts
// every folder's messages on the connection alike.
type IndexAck struct {
	Messages uint64 `cbor:"1,keyasint"`
}

func (FolderProof) Type() MsgType  { return TypeFolderProof }
func (IndexSummary) Type() MsgType { return TypeIndexSummary }
func (IndexRecords) Type() MsgType { return TypeIndexRecords }
func (IndexAck) Type() MsgType     { return TypeIndexAck }

// decodeFolder decodes the folder messages; ok is false for other types.
func decodeFolder(f Frame) (m Message, ok bool, err error) {
	switch f.Type {
	case TypeFolderProof:
		msg, err := decodeCBOR[FolderProof](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	case TypeIndexSummary:
		msg, err := decodeCBOR[IndexSummary](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	case TypeIndexRecords:
		msg, err := decodeCBOR[IndexRecords](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	case TypeIndexAck:
		msg, err := decodeCBOR[IndexAck](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	case TypeVersionQuery:
		msg, err := decodeCBOR[VersionQuery](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	case TypeVersionHave:
		msg, err := decodeCBOR[VersionHave](f.Payload)
		m, err = check(f.Type, msg, err)
		return m, true, err
	}
	return nil, false, nil
}

func validateFolder(msg Message) error {
	switch m := msg.(type) {
	case FolderProof:
		if len(m.Proof) != proofLen {
			return fmt.Errorf("%w: folder proof of %d bytes, want %d", ErrMalformed, len(m.Proof), proofLen)
		}
	case IndexSummary:
		if err := checkFolderID(m.Folder); err != nil {
			return err
		}
		if m.Announce && m.Reply {
			return fmt.Errorf("%w: index summary both an announcement and a reply", ErrMalformed)
		}
		return checkMarks(m.Marks)
	case IndexRecords:
		if err := checkFolderID(m.Folder); err != nil {
			return err
		}
		if len(m.Records) > MaxListLen {
			return fmt.Errorf("%w: %d records, limit %d", ErrMalformed, len(m.Records), MaxListLen)
		}
		for _, r := range m.Records {
			if len(r.Data) == 0 || len(r.Data) > maxRecordLen || len(r.Sig) != maxSignatureLen {
				return fmt.Errorf("%w: record of %d bytes with a signature of %d", ErrMalformed, len(r.Data), len(r.Sig))
			}
		}
		return checkMarks(m.Complete)
	case IndexAck:
		if m.Messages == 0 || m.Messages > MaxListLen {
			return fmt.Errorf("%w: index ack of %d messages, want 1 to %d", ErrMalformed, m.Messages, MaxListLen)
		}
	case VersionQuery, VersionHave:
		return validateVersions(msg)
	}
	return nil
}

func checkFolderID(b []byte) error {
	if len(b) != folderIDLen {
		return fmt.Errorf("%w: folder ID of %d bytes, want %d", ErrMalformed, len(b), folderIDLen)
	}
	return nil
}

func checkMarks(ms []Mark) error {
	if len(ms) > MaxListLen {
		return fmt.Errorf("%w: %d marks, limit %d", ErrMalformed, len(ms), MaxListLen)
	}
	return nil
}

// Version queries: which versions of a file a folder peer holds whole.
const maxQueryPath = 4096

// VersionQuery asks a peer that proved the folder which of these content
// roots of the file at Path it holds whole (a kept version, or its
// current file). Nonce pairs the answer with the question.
type VersionQuery struct {
	Folder []byte   `cbor:"1,keyasint"`
	Nonce  uint64   `cbor:"2,keyasint"`
	Path   string   `cbor:"3,keyasint"`
	Roots  [][]byte `cbor:"4,keyasint,omitempty"`
}

// VersionHave answers a VersionQuery: bit i of Have (least significant
// first within each byte) is set when root i of the query is held.
type VersionHave struct {
	Folder []byte `cbor:"1,keyasint"`
	Nonce  uint64 `cbor:"2,keyasint"`
	Have   []byte `cbor:"3,keyasint,omitempty"`
}

func (VersionQuery) Type() MsgType { return TypeVersionQuery }
func (VersionHave) Type() MsgType  { return TypeVersionHave }

// HaveBit reports whether bit i of a VersionHave's Have is set.
func HaveBit(have []byte, i int) bool { return i/8 < len(have) && have[i/8]&(1<<(i%8)) != 0 }

// SetHaveBit sets bit i, growing have as needed.
func SetHaveBit(have []byte, i int) []byte {
	for len(have) <= i/8 {
		have = append(have, 0)
	}
	have[i/8] |= 1 << (i % 8)
	return have
}

func validateVersions(msg Message) error {
	switch m := msg.(type) {
	case VersionQuery:
		if err := checkFolderID(m.Folder); err != nil {
			return err
		}
		if len(m.Path) == 0 || len(m.Path) > maxQueryPath {
			return fmt.Errorf("%w: query path of %d bytes", ErrMalformed, len(m.Path))
		}
		if len(m.Roots) > MaxListLen {
			return fmt.Errorf("%w: %d roots, limit %d", ErrMalformed, len(m.Roots), MaxListLen)
		}
		for _, r := range m.Roots {
			if len(r) == 0 || len(r) > MaxCIDLen {
				return fmt.Errorf("%w: root of %d bytes", ErrMalformed, len(r))
			}
		}
	case VersionHave:
		if err := checkFolderID(m.Folder); err != nil {
			return err
		}
		if len(m.Have) > MaxListLen/8 {
			return fmt.Errorf("%w: have bitmap of %d bytes", ErrMalformed, len(m.Have))
		}
	}
	return nil
}
