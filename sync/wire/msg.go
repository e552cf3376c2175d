package wire

import "fmt"

// MsgType is the type byte of a frame.
type MsgType uint8

// Message types. Numbers are part of the protocol and never reused; a new
// message takes a new number and a minor version bump.
const (
	TypeHello MsgType = 0x01 // Hello, first frame each way
	TypePing  MsgType = 0x02 // Ping, answered by Pong with the same request id
	TypePong  MsgType = 0x03 // Pong
	TypeError MsgType = 0x04 // Error, sent just before closing

	TypeWantHave  MsgType = 0x10 // WantHave: tell me whether you have these
	TypeWantBlock MsgType = 0x11 // WantBlock: send me these blocks
	TypeHave      MsgType = 0x12 // Have: I have these
	TypeDontHave  MsgType = 0x13 // DontHave: I do not have these
	TypeBlock     MsgType = 0x14 // Block: a CID and its data
	TypeCancel    MsgType = 0x15 // Cancel: forget my wants for these

	TypeInterested    MsgType = 0x18 // Interested: you have blocks I want
	TypeNotInterested MsgType = 0x19 // NotInterested
	TypeChoke         MsgType = 0x1a // Choke: I will not serve your block wants
	TypeUnchoke       MsgType = 0x1b // Unchoke: I will serve them

	// Folder sync (folder.go).
	TypeFolderProof  MsgType = 0x20
	TypeIndexSummary MsgType = 0x21
	TypeIndexRecords MsgType = 0x22
	TypePeerExchange MsgType = 0x23 // PeerExchange (sync/wire/pex.go)
	TypeIndexAck     MsgType = 0x24 // IndexAck: I took in these many of your IndexRecords
	TypeVersionQuery MsgType = 0x28 // VersionQuery: which versions of a file do you hold?
	TypeVersionHave  MsgType = 0x29 // VersionHave: these
)

var typeNames = map[MsgType]string{
	TypeHello: "Hello", TypePing: "Ping", TypePong: "Pong", TypeError: "Error",
	TypeWantHave: "WantHave", TypeWantBlock: "WantBlock", TypeHave: "Have",
	TypeDontHave: "DontHave", TypeBlock: "Block", TypeCancel: "Cancel",
	TypeInterested: "Interested", TypeNotInterested: "NotInterested",
	TypeChoke: "Choke", TypeUnchoke: "Unchoke",
	TypeFolderProof: "FolderProof", TypeIndexSummary: "IndexSummary",
	TypeIndexRecords: "IndexRecords", TypePeerExchange: "PeerExchange",
	TypeVersionQuery: "VersionQuery", TypeVersionHave: "VersionHave",
	TypeIndexAck: "IndexAck",
}

// String names the type, or gives its number when it has no name.
func (t MsgType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

// Reserved reports whether t is set aside for a later message this version
// does not decode: none is, in this version.
func (t MsgType) Reserved() bool { return false }

// Message is any decoded message.
type Message interface {
	// Type returns the frame type that carries the message.
	Type() MsgType
}

// Hello is the first message on a connection, each way. The node ID here is
// informational: the authoritative one comes from the TLS certificate, and
// CheckHello refuses a Hello whose major version differs from ours.
type Hello struct {
	Major         uint16   `cbor:"1,keyasint"`
	Minor         uint16   `cbor:"2,keyasint,omitempty"`
	NodeID        []byte   `cbor:"3,keyasint,omitempty"`
	Client        string   `cbor:"4,keyasint,omitempty"` // e.g. "shoal"
	ClientVersion string   `cbor:"5,keyasint,omitempty"` // e.g. "0.1.0"
	ListenAddrs   []string `cbor:"6,keyasint,omitempty"` // "host:port" the sender accepts on
}

// Ping asks for a Pong; reply with the same request id and nonce.
type Ping struct {
	Nonce uint64 `cbor:"1,keyasint,omitempty"`
}

// Pong answers a Ping.
type Pong struct {
	Nonce uint64 `cbor:"1,keyasint,omitempty"`
}

// Error codes carried by an Error message.
const (
	CodeProtocol      uint16 = 1 // malformed or unexpected message
	CodeVersion       uint16 = 2 // incompatible protocol version
	CodeFrameTooLarge uint16 = 3 // a frame over the cap
	CodeRefused       uint16 = 4 // not allowed (identity, limits)
	CodeInternal      uint16 = 5 // the sender failed on its own
	CodeShutdown      uint16 = 6 // the sender is going away
)

// Error is the last message before a peer closes the connection, saying
// why. It is also a Go error, so a reader can return it as is.
type Error struct {
	Code    uint16 `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint,omitempty"`
}

// Error formats the peer's reason.
func (e Error) Error() string { return fmt.Sprintf("peer closed: code %d: %s", e.Code, e.Message) }

// WantFlags modify one want.
type WantFlags uint8

const (
	// SendDontHave asks the peer to answer DontHave rather than stay silent
	// when it lacks the block.
	SendDontHave WantFlags = 1 << 0
)

// Want is one CID wanted, with its flags.
type Want struct {
	CID   []byte    `cbor:"1,keyasint"`
	Flags WantFlags `cbor:"2,keyasint,omitempty"`
}

// WantHave asks which of these CIDs the peer has (answered by Have/DontHave).
type WantHave struct {
	Wants []Want `cbor:"1,keyasint,omitempty"`
}

// WantBlock asks the peer to send these blocks (answered by Block, or
// DontHave where SendDontHave is set).
type WantBlock struct {
	Wants []Want `cbor:"1,keyasint,omitempty"`
}

// Have says the sender has these CIDs.
type Have struct {
	CIDs [][]byte `cbor:"1,keyasint,omitempty"`
}

// DontHave says the sender lacks these CIDs.
type DontHave struct {
	CIDs [][]byte `cbor:"1,keyasint,omitempty"`
}

// Cancel withdraws earlier wants for these CIDs.
type Cancel struct {
	CIDs [][]byte `cbor:"1,keyasint,omitempty"`
}

// Block carries one block. On the wire it is not CBOR: the payload is
// uvarint(len(CID)) ‖ CID ‖ Data, so Data is never re-encoded. A decoded
// Block's Data aliases the frame payload.
type Block struct {
	CID  []byte
	Data []byte
}

// Interested says the sender wants blocks the receiver has.
type Interested struct{}

// NotInterested withdraws Interested.
type NotInterested struct{}

// Choke says the sender will not serve the receiver's block wants for now.
type Choke struct{}

// Unchoke says the sender will serve the receiver's block wants.
type Unchoke struct{}

// Type implementations.

func (Hello) Type() MsgType         { return TypeHello }
func (Ping) Type() MsgType          { return TypePing }
func (Pong) Type() MsgType          { return TypePong }
func (Error) Type() MsgType         { return TypeError }
func (WantHave) Type() MsgType      { return TypeWantHave }
func (WantBlock) Type() MsgType     { return TypeWantBlock }
func (Have) Type() MsgType          { return TypeHave }
func (DontHave) Type() MsgType      { return TypeDontHave }
func (Block) Type() MsgType         { return TypeBlock }
func (Cancel) Type() MsgType        { return TypeCancel }
func (Interested) Type() MsgType    { return TypeInterested }
func (NotInterested) Type() MsgType { return TypeNotInterested }
func (Choke) Type() MsgType         { return TypeChoke }
func (Unchoke) Type() MsgType       { return TypeUnchoke }
