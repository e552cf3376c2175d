package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// Frame layout on the wire (big endian):
//
//	uint32 length   bytes that follow the length field: 1 + 8 + len(payload)
//	uint8  type     MsgType
//	uint64 reqID    request id, echoed by replies; 0 when unused
//	payload         length-9 bytes
const (
	// HeaderSize is the size of a frame header: length, type and request id.
	HeaderSize = 4 + 1 + 8
	// MaxBlockSize is the largest block data a Block frame may carry (4 MiB).
	MaxBlockSize = 4 << 20
	// MaxCIDLen is the longest CID, in bytes, any message may carry.
	MaxCIDLen = 128
	// MaxPayloadSize is the default cap on a frame's payload: a largest
	// block plus room for its CID header.
	MaxPayloadSize = MaxBlockSize + 1024

	minLength = HeaderSize - 4 // length of a frame with an empty payload
)

// Sentinel errors callers branch on. Every one of them means the peer spoke
// out of protocol: the connection should be closed.
var (
	// ErrFrameTooLarge: the frame's declared payload exceeds the cap.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: the frame or its payload does not parse.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrUnknownType: the frame's type byte names no message of this version.
	ErrUnknownType = errors.New("wire: unknown message type")
)

// Frame is one unit on the wire. Payload is the raw, still encoded message.
type Frame struct {
	Type    MsgType
	ReqID   uint64
	Payload []byte
}

// putHeader writes f's header for a payload of n bytes into h.
func putHeader(h []byte, t MsgType, reqID uint64, n int) {
	binary.BigEndian.PutUint32(h[0:4], uint32(minLength+n))
	h[4] = byte(t)
	binary.BigEndian.PutUint64(h[5:13], reqID)
}

// WriteFrame writes f to w as one header plus payload, without copying the
// payload (a vectored write where w supports it). A payload over
// MaxPayloadSize is refused with ErrFrameTooLarge and nothing is written.
func WriteFrame(w io.Writer, f Frame) error {
	if len(f.Payload) > MaxPayloadSize {
		return fmt.Errorf("write %s frame of %d bytes: %w", f.Type, len(f.Payload), ErrFrameTooLarge)
	}
	var h [HeaderSize]byte
	putHeader(h[:], f.Type, f.ReqID, len(f.Payload))
	if len(f.Payload) == 0 {
		_, err := w.Write(h[:])
		return wrapWrite(f.Type, err)
	}
	bufs := net.Buffers{h[:], f.Payload}
	_, err := bufs.WriteTo(w)
	return wrapWrite(f.Type, err)
}

func wrapWrite(t MsgType, err error) error {
	if err != nil {
		return fmt.Errorf("write %s frame: %w", t, err)
	}
	return nil
}

// WriteBlock writes a Block frame for (cid, data) straight from the caller's
// slices: the frame header and CID go out first, then data itself, never
// concatenated into a new buffer. Over a TLS connection wrap w in a
// bufio.Writer so the small header shares a record with the data.
func WriteBlock(w io.Writer, reqID uint64, cid, data []byte) error {
	if len(cid) == 0 || len(cid) > MaxCIDLen {
		return fmt.Errorf("write block frame: CID of %d bytes: %w", len(cid), ErrMalformed)
	}
	if len(data) > MaxBlockSize {
		return fmt.Errorf("write block frame: %d bytes of data: %w", len(data), ErrFrameTooLarge)
	}
	var h [HeaderSize + binary.MaxVarintLen16 + MaxCIDLen]byte
	k := binary.PutUvarint(h[HeaderSize:], uint64(len(cid)))
	k += copy(h[HeaderSize+k:], cid)
	putHeader(h[:], TypeBlock, reqID, k+len(data))
	head := h[:HeaderSize+k]
	if len(data) == 0 {
		_, err := w.Write(head)
		return wrapWrite(TypeBlock, err)
	}
	bufs := net.Buffers{head, data}
	_, err := bufs.WriteTo(w)
	return wrapWrite(TypeBlock, err)
}

// ReadFrame reads one frame from r into a newly allocated payload. Use a
// Reader to reuse one buffer across frames.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [HeaderSize]byte
	f, n, err := readHeader(r, h[:], MaxPayloadSize)
	if err != nil {
		return Frame{}, err
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
	}
	return f, nil
}

// readHeader reads and checks a header; it returns the frame without its
// payload and the payload length.
func readHeader(r io.Reader, h []byte, maxPayload int) (Frame, int, error) {
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		if errors.Is(err, io.EOF) {
			return Frame{}, 0, io.EOF // clean end between frames
		}
		return Frame{}, 0, fmt.Errorf("read frame header: %w", unexpectedEOF(err))
	}
	length := binary.BigEndian.Uint32(h[:4])
	if length < minLength {
		return Frame{}, 0, fmt.Errorf("read frame header: length %d below the %d-byte minimum: %w", length, minLength, ErrMalformed)
	}
	n := int64(length) - minLength
	if n > int64(maxPayload) {
		return Frame{}, 0, fmt.Errorf("read frame header: payload of %d bytes over the %d-byte cap: %w", n, maxPayload, ErrFrameTooLarge)
	}
	if _, err := io.ReadFull(r, h[4:HeaderSize]); err != nil {
		return Frame{}, 0, fmt.Errorf("read frame header: %w", unexpectedEOF(err))
	}
	return Frame{Type: MsgType(h[4]), ReqID: binary.BigEndian.Uint64(h[5:13])}, int(n), nil
}

// unexpectedEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Reader reads frames from one stream into a buffer it reuses. Not safe for
// concurrent use.
type Reader struct {
	r          *bufio.Reader
	buf        []byte
	maxPayload int
	hdr        [HeaderSize]byte
	cid        []byte // the last Block's CID, from ReadFrameAlloc
}

// NewReader returns a Reader over r, buffered, refusing payloads over
// maxPayload bytes (0 or less means MaxPayloadSize).
func NewReader(r io.Reader, maxPayload int) *Reader {
	if maxPayload <= 0 {
		maxPayload = MaxPayloadSize
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < blockPrefixMax {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, maxPayload: maxPayload}
}

// ReadFrame reads the next frame. Its Payload, and any message decoded from
// it that holds byte slices (Block.Data in particular), stays valid only
// until the next call: copy what must outlive it. At a clean end of stream
// between frames it returns io.EOF; a frame cut short gives io.ErrUnexpectedEOF.
func (r *Reader) ReadFrame() (Frame, error) {
	f, n, err := readHeader(r.r, r.hdr[:], r.maxPayload)
	if err != nil {
		return Frame{}, err
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	f.Payload = r.buf[:n]
	if _, err := io.ReadFull(r.r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
	}
	return f, nil
}

// ReadMessage reads and decodes the next message, returning it with the
// frame's request id. The same lifetime rule as ReadFrame applies.
func (r *Reader) ReadMessage() (Message, uint64, error) {
	f, err := r.ReadFrame()
	if err != nil {
		return nil, 0, err
	}
	m, err := Decode(f)
	if err != nil {
		return nil, f.ReqID, err
	}
	return m, f.ReqID, nil
}

// blockPrefixMax is the longest prefix of a Block payload before its data:
// a minimal uvarint of at most MaxCIDLen, and the CID.
const blockPrefixMax = 2 + MaxCIDLen

// ReadFrameAlloc is ReadFrame, except for a Block frame: that one is
// decoded here, its data read straight from the stream into alloc(n) (a
// buffer of exactly n bytes that the caller owns from then on), without
// passing through the reader's own buffer. For a Block frame the returned
// Frame has no Payload and the Block's CID stays valid only until the next
// call; for any other frame the Block is zero. The checks are Decode's.
func (r *Reader) ReadFrameAlloc(alloc func(n int) []byte) (Frame, Block, error) {
	f, n, err := readHeader(r.r, r.hdr[:], r.maxPayload)
	if err != nil {
		return Frame{}, Block{}, err
	}
	if f.Type != TypeBlock {
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		f.Payload = r.buf[:n]
		if _, err := io.ReadFull(r.r, f.Payload); err != nil {
			return Frame{}, Block{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
		}
		return f, Block{}, nil
	}
	prefix, err := r.r.Peek(min(n, blockPrefixMax))
	if err != nil {
		return Frame{}, Block{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
	}
	b, err := decodeBlock(prefix)
	if err != nil {
		return Frame{}, Block{}, fmt.Errorf("decode %s: %w", f.Type, err)
	}
	head := len(prefix) - len(b.Data) // varint and CID
	dataLen := n - head
	if dataLen > MaxBlockSize {
		return Frame{}, Block{}, fmt.Errorf("decode %s: %w: %d bytes of data", f.Type, ErrFrameTooLarge, dataLen)
	}
	r.cid = append(r.cid[:0], b.CID...)
	if _, err := r.r.Discard(head); err != nil {
		return Frame{}, Block{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
	}
	data := alloc(dataLen)
	if len(data) != dataLen {
		return Frame{}, Block{}, fmt.Errorf("read %s frame: alloc gave %d bytes for %d", f.Type, len(data), dataLen)
	}
	if _, err := io.ReadFull(r.r, data); err != nil {
		return Frame{}, Block{}, fmt.Errorf("read %s frame payload of %d bytes: %w", f.Type, n, unexpectedEOF(err))
	}
	return f, Block{CID: r.cid, Data: data}, nil
}
