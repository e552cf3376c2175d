package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/shoal-sync/shoal/sync/internal/cborx"
)

// CBOR limits. A peer's payload is bounded by the frame cap; these bound
// what one payload may make the decoder build.
const (
	// MaxListLen bounds every CBOR array: wants, CIDs, addresses per message.
	MaxListLen = 16384
	// MaxMapPairs bounds every CBOR map (our messages have a handful of fields).
	MaxMapPairs = 64
	// MaxNesting bounds CBOR nesting depth.
	MaxNesting = 8

	maxNodeIDLen   = 64
	maxStringLen   = 256
	maxErrorLen    = 4096
	maxListenAddrs = 32
)

// Decoding rules, fixed for every CBOR payload: definite lengths only, no
// tags, no duplicate map keys, valid UTF-8, exactly one data item (trailing
// bytes are an error). Unknown map keys are ignored, so a later minor version
// may add fields that older peers skip; a field of the wrong CBOR type is an
// error. The modes are immutable once built.
var (
	decMode = cborx.DecMode(cborx.Limits{Nesting: MaxNesting, Array: MaxListLen, MapPairs: MaxMapPairs})
	encMode = cborx.EncMode()
)

// Encode returns the frame carrying msg with request id reqID. It checks the
// same limits Decode enforces, so what it sends a peer accepts. A Block is
// copied into one payload here; to send block data without that copy use
// WriteBlock or WriteMessage.
func Encode(msg Message, reqID uint64) (Frame, error) {
	if msg == nil {
		return Frame{}, fmt.Errorf("encode: nil message: %w", ErrMalformed)
	}
	t := msg.Type()
	if err := validate(msg); err != nil {
		return Frame{}, fmt.Errorf("encode %s: %w", t, err)
	}
	if b, ok := asBlock(msg); ok {
		p := make([]byte, 0, binary.MaxVarintLen16+len(b.CID)+len(b.Data))
		p = binary.AppendUvarint(p, uint64(len(b.CID)))
		p = append(p, b.CID...)
		p = append(p, b.Data...)
		return Frame{Type: t, ReqID: reqID, Payload: p}, nil
	}
	p, err := encMode.Marshal(msg)
	if err != nil {
		return Frame{}, fmt.Errorf("encode %s: %w", t, err)
	}
	if len(p) > MaxPayloadSize {
		return Frame{}, fmt.Errorf("encode %s: %d bytes: %w", t, len(p), ErrFrameTooLarge)
	}
	return Frame{Type: t, ReqID: reqID, Payload: p}, nil
}

// WriteMessage encodes msg and writes it to w as one frame; a Block goes
// out through WriteBlock, without copying its data.
func WriteMessage(w io.Writer, msg Message, reqID uint64) error {
	if b, ok := asBlock(msg); ok {
		return WriteBlock(w, reqID, b.CID, b.Data)
	}
	f, err := Encode(msg, reqID)
	if err != nil {
		return err
	}
	return WriteFrame(w, f)
}

func asBlock(msg Message) (Block, bool) {
	switch b := msg.(type) {
	case Block:
		return b, true
	case *Block:
		return *b, true
	}
	return Block{}, false
}

// Decode parses f's payload as the message its type names. Byte slices in
// the result (Block.Data, CIDs) may alias f.Payload. Unknown CBOR map keys
// are ignored (forward compatibility within a major version); everything
// else out of shape is an error wrapping ErrMalformed, ErrFrameTooLarge or,
// for a type this version does not know, ErrUnknownType naming the type.
func Decode(f Frame) (Message, error) {
	switch f.Type {
	case TypeBlock:
		b, err := decodeBlock(f.Payload)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", f.Type, err)
		}
		return b, nil
	case TypeHello:
		msg, err := decodeCBOR[Hello](f.Payload)
		return check(f.Type, msg, err)
	case TypePing:
		msg, err := decodeCBOR[Ping](f.Payload)
		return check(f.Type, msg, err)
	case TypePong:
		msg, err := decodeCBOR[Pong](f.Payload)
		return check(f.Type, msg, err)
	case TypeError:
		msg, err := decodeCBOR[Error](f.Payload)
		return check(f.Type, msg, err)
	case TypeWantHave:
		msg, err := decodeCBOR[WantHave](f.Payload)
		return check(f.Type, msg, err)
	case TypeWantBlock:
		msg, err := decodeCBOR[WantBlock](f.Payload)
		return check(f.Type, msg, err)
	case TypeHave:
		msg, err := decodeCBOR[Have](f.Payload)
		return check(f.Type, msg, err)
	case TypeDontHave:
		msg, err := decodeCBOR[DontHave](f.Payload)
		return check(f.Type, msg, err)
	case TypeCancel:
		msg, err := decodeCBOR[Cancel](f.Payload)
		return check(f.Type, msg, err)
	case TypeInterested:
		msg, err := decodeCBOR[Interested](f.Payload)
		return check(f.Type, msg, err)
	case TypeNotInterested:
		msg, err := decodeCBOR[NotInterested](f.Payload)
		return check(f.Type, msg, err)
	case TypeChoke:
		msg, err := decodeCBOR[Choke](f.Payload)
		return check(f.Type, msg, err)
	case TypeUnchoke:
		msg, err := decodeCBOR[Unchoke](f.Payload)
		return check(f.Type, msg, err)
	}
	if m, ok, err := decodeFolder(f); ok {
		return m, err
	}
	if m, ok, err := decodePex(f); ok {
		return m, err
	}
	if f.Type.Reserved() {
		return nil, fmt.Errorf("decode %s (0x%02x): %w: reserved, not supported by protocol %d.%d",
			f.Type, uint8(f.Type), ErrUnknownType, ProtocolMajor, ProtocolMinor)
	}
	return nil, fmt.Errorf("decode %s: %w", f.Type, ErrUnknownType)
}

// decodeCBOR decodes one CBOR map into a T.
func decodeCBOR[T Message](p []byte) (T, error) {
	var v T
	if len(p) == 0 {
		return v, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if p[0]>>5 != 5 { // major type 5: map
		return v, fmt.Errorf("%w: payload is not a CBOR map (initial byte 0x%02x)", ErrMalformed, p[0])
	}
	if err := decMode.Unmarshal(p, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return v, nil
}

// check validates a decoded message and wraps errors with its type.
func check[T Message](t MsgType, msg T, err error) (Message, error) {
	if err == nil {
		err = validate(msg)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", t, err)
	}
	return msg, nil
}

// decodeBlock splits uvarint(len(CID)) ‖ CID ‖ Data.
func decodeBlock(p []byte) (Block, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return Block{}, fmt.Errorf("%w: bad CID length prefix", ErrMalformed)
	}
	if k != varintLen(n) {
		return Block{}, fmt.Errorf("%w: non-minimal CID length prefix", ErrMalformed)
	}
	if n == 0 || n > MaxCIDLen {
		return Block{}, fmt.Errorf("%w: CID length %d not in 1..%d", ErrMalformed, n, MaxCIDLen)
	}
	if uint64(len(p)-k) < n {
		return Block{}, fmt.Errorf("%w: CID of %d bytes cut short at %d", ErrMalformed, n, len(p)-k)
	}
	b := Block{CID: p[k : k+int(n) : k+int(n)], Data: p[k+int(n):]}
	if len(b.Data) > MaxBlockSize {
		return Block{}, fmt.Errorf("%w: %d bytes of data", ErrFrameTooLarge, len(b.Data))
	}
	return b, nil
}

func varintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}

// validate enforces limits the CBOR decoder cannot express.
func validate(msg Message) error {
	switch m := msg.(type) {
	case Hello:
		return validateHello(&m)
	case *Hello:
		return validateHello(m)
	case Error:
		return checkString("error message", m.Message, maxErrorLen)
	case *Error:
		return checkString("error message", m.Message, maxErrorLen)
	case WantHave:
		return checkWants(m.Wants)
	case *WantHave:
		return checkWants(m.Wants)
	case WantBlock:
		return checkWants(m.Wants)
	case *WantBlock:
		return checkWants(m.Wants)
	case Have:
		return checkCIDs(m.CIDs)
	case *Have:
		return checkCIDs(m.CIDs)
	case DontHave:
		return checkCIDs(m.CIDs)
	case *DontHave:
		return checkCIDs(m.CIDs)
	case Cancel:
		return checkCIDs(m.CIDs)
	case *Cancel:
		return checkCIDs(m.CIDs)
	case Block:
		return checkBlock(&m)
	case *Block:
		return checkBlock(m)
	}
	if err := validatePex(msg); err != nil {
		return err
	}
	return validateFolder(msg)
}

func validateHello(h *Hello) error {
	if len(h.NodeID) > maxNodeIDLen {
		return fmt.Errorf("%w: node ID of %d bytes", ErrMalformed, len(h.NodeID))
	}
	if err := checkString("client name", h.Client, maxStringLen); err != nil {
		return err
	}
	if err := checkString("client version", h.ClientVersion, maxStringLen); err != nil {
		return err
	}
	if len(h.ListenAddrs) > maxListenAddrs {
		return fmt.Errorf("%w: %d listen addresses, limit %d", ErrMalformed, len(h.ListenAddrs), maxListenAddrs)
	}
	for _, a := range h.ListenAddrs {
		if err := checkString("listen address", a, maxStringLen); err != nil {
			return err
		}
	}
	return nil
}

func checkString(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrMalformed, what, len(s), limit)
	}
	return nil
}

func checkCID(c []byte) error {
	if len(c) == 0 || len(c) > MaxCIDLen {
		return fmt.Errorf("%w: CID of %d bytes, want 1..%d", ErrMalformed, len(c), MaxCIDLen)
	}
	return nil
}

func checkCIDs(cs [][]byte) error {
	if len(cs) > MaxListLen {
		return fmt.Errorf("%w: %d CIDs, limit %d", ErrMalformed, len(cs), MaxListLen)
	}
	for _, c := range cs {
		if err := checkCID(c); err != nil {
			return err
		}
	}
	return nil
}

func checkWants(ws []Want) error {
	if len(ws) > MaxListLen {
		return fmt.Errorf("%w: %d wants, limit %d", ErrMalformed, len(ws), MaxListLen)
	}
	for _, w := range ws {
		if err := checkCID(w.CID); err != nil {
			return err
		}
	}
	return nil
}

func checkBlock(b *Block) error {
	if err := checkCID(b.CID); err != nil {
		return err
	}
	if len(b.Data) > MaxBlockSize {
		return fmt.Errorf("%w: %d bytes of block data, limit %d", ErrFrameTooLarge, len(b.Data), MaxBlockSize)
	}
	return nil
}
