package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

var (
	cidA = []byte{0x01, 0x55, 0x12, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	cidB = []byte{0x01, 0x70, 0x12, 0x20, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
)

// sampleMessages has one filled-in value of every message type.
func sampleMessages() []Message {
	return []Message{
		NewHello(bytes.Repeat([]byte{7}, 34), "shoal", "0.1.0", []string{"127.0.0.1:4001", "[::1]:4001"}),
		Ping{Nonce: 42},
		Pong{Nonce: 42},
		Error{Code: CodeVersion, Message: "speak 1.x"},
		WantHave{Wants: []Want{{CID: cidA, Flags: SendDontHave}, {CID: cidB}}},
		WantBlock{Wants: []Want{{CID: cidB, Flags: SendDontHave}}},
		Have{CIDs: [][]byte{cidA, cidB}},
		DontHave{CIDs: [][]byte{cidA}},
		Block{CID: cidA, Data: []byte("hello block")},
		Cancel{CIDs: [][]byte{cidB}},
		Interested{},
		NotInterested{},
		Choke{},
		Unchoke{},
		FolderProof{Proof: bytes.Repeat([]byte{7}, 32)},
		IndexSummary{Folder: bytes.Repeat([]byte{1}, 32), Marks: []Mark{{Origin: 9, Seq: 3}}, Reply: true},
		IndexSummary{Folder: bytes.Repeat([]byte{1}, 32), Marks: []Mark{{Origin: 9, Seq: 5}}, Announce: true},
		IndexRecords{Folder: bytes.Repeat([]byte{1}, 32), Records: []SignedRecord{{Data: []byte{0xa0}, Sig: bytes.Repeat([]byte{2}, 64)}},
			Complete: []Mark{{Origin: 9, Seq: 4}}, Last: true},
		PeerExchange{Scope: bytes.Repeat([]byte{3}, 20),
			Added:   []PexPeer{{ID: append([]byte{0x12, 0x20}, bytes.Repeat([]byte{4}, 32)...), Addrs: []string{"192.0.2.1:4777", "[2001:db8::1]:4777"}}},
			Dropped: []PexPeer{{ID: append([]byte{0x12, 0x20}, bytes.Repeat([]byte{5}, 32)...)}}},
		VersionQuery{Folder: bytes.Repeat([]byte{1}, 32), Nonce: 77, Path: "docs/report.doc", Roots: [][]byte{cidA, cidB}},
		VersionHave{Folder: bytes.Repeat([]byte{1}, 32), Nonce: 77, Have: []byte{0x02}},
		IndexAck{Messages: 3},
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	seen := map[MsgType]bool{}
	for i, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			seen[m.Type()] = true
			reqID := uint64(i)<<40 | 0xabcdef
			var buf bytes.Buffer
			if err := WriteMessage(&buf, m, reqID); err != nil {
				t.Fatalf("WriteMessage: %v", err)
			}
			f, err := ReadFrame(&buf)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if f.Type != m.Type() || f.ReqID != reqID {
				t.Fatalf("frame header = %s/%d, want %s/%d", f.Type, f.ReqID, m.Type(), reqID)
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes left after the frame", buf.Len())
			}
			got, err := Decode(f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
			// Encode must produce exactly what WriteMessage wrote.
			enc, err := Encode(m, reqID)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(enc.Payload, f.Payload) {
				t.Fatalf("Encode payload %x != written payload %x", enc.Payload, f.Payload)
			}
		})
	}
	for typ := range typeNames {
		if !typ.Reserved() && !seen[typ] {
			t.Errorf("no round-trip sample for %s", typ)
		}
	}
}

func TestEncodePointerMessages(t *testing.T) {
	for _, m := range []Message{&Hello{Major: 1}, &Block{CID: cidA, Data: []byte{1}}, &Have{CIDs: [][]byte{cidA}}} {
		f, err := Encode(m, 1)
		if err != nil {
			t.Fatalf("Encode(%T): %v", m, err)
		}
		got, err := Decode(f)
		if err != nil {
			t.Fatalf("Decode(%T): %v", m, err)
		}
		if !reflect.DeepEqual(got, reflect.ValueOf(m).Elem().Interface()) {
			t.Fatalf("got %#v, want %#v", got, m)
		}
	}
}

// header builds a frame header with an arbitrary length field.
func header(length uint32, t MsgType, reqID uint64) []byte {
	h := make([]byte, HeaderSize)
	binary.BigEndian.PutUint32(h, length)
	h[4] = byte(t)
	binary.BigEndian.PutUint64(h[5:], reqID)
	return h
}

func TestReadFrameMalformed(t *testing.T) {
	ping, _ := Encode(Ping{Nonce: 1}, 9)
	var good bytes.Buffer
	if err := WriteFrame(&good, ping); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"truncated length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated header", good.Bytes()[:7], io.ErrUnexpectedEOF},
		{"truncated payload", good.Bytes()[:good.Len()-1], io.ErrUnexpectedEOF},
		{"zero length", header(0, TypePing, 0), ErrMalformed},
		{"length below header", header(minLength-1, TypePing, 0), ErrMalformed},
		{"length over cap", header(minLength+MaxPayloadSize+1, TypeBlock, 0), ErrFrameTooLarge},
		{"length max uint32", header(^uint32(0), TypeBlock, 0), ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadFrame error = %v, want %v", err, tc.want)
			}
			_, err = NewReader(bytes.NewReader(tc.in), 0).ReadFrame()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reader.ReadFrame error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadFrameAtCap(t *testing.T) {
	data := bytes.Repeat([]byte{0x5a}, MaxBlockSize)
	var buf bytes.Buffer
	if err := WriteBlock(&buf, 3, cidA, data); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(&buf, 0).ReadFrame()
	if err != nil {
		t.Fatalf("largest block frame refused: %v", err)
	}
	m, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := m.(Block); !bytes.Equal(b.Data, data) || !bytes.Equal(b.CID, cidA) {
		t.Fatal("largest block did not round-trip")
	}
	if err := WriteBlock(io.Discard, 3, cidA, make([]byte, MaxBlockSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteBlock over cap: %v, want ErrFrameTooLarge", err)
	}
	if err := WriteFrame(io.Discard, Frame{Type: TypeBlock, Payload: make([]byte, MaxPayloadSize+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame over cap: %v, want ErrFrameTooLarge", err)
	}
	// A smaller cap on the Reader applies too.
	buf.Reset()
	if err := WriteBlock(&buf, 3, cidA, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReader(&buf, 500).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Reader with 500-byte cap: %v, want ErrFrameTooLarge", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	cborOf := func(v any) []byte {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		f    Frame
		want error
		text string // must appear in the error
	}{
		{"unknown type", Frame{Type: 0x7f, Payload: []byte{0xa0}}, ErrUnknownType, "0x7f"},
		{"type zero", Frame{Type: 0, Payload: []byte{0xa0}}, ErrUnknownType, "0x00"},
		{"pex without scope", Frame{Type: TypePeerExchange, Payload: []byte{0xa0}}, ErrMalformed, "scope of 0 bytes"},
		{"pex flood", Frame{Type: TypePeerExchange, Payload: cborOf(PeerExchange{Scope: make([]byte, 20), Added: make([]PexPeer, MaxPexAdded+1)})}, ErrMalformed, "51 added"},
		{"pex host name", Frame{Type: TypePeerExchange, Payload: cborOf(PeerExchange{Scope: make([]byte, 32),
			Added: []PexPeer{{ID: make([]byte, 34), Addrs: []string{"example.org:1"}}}})}, ErrMalformed, "address"},
		{"pex port 0", Frame{Type: TypePeerExchange, Payload: cborOf(PeerExchange{Scope: make([]byte, 20),
			Dropped: []PexPeer{{ID: make([]byte, 34), Addrs: []string{"192.0.2.1:0"}}}})}, ErrMalformed, "address"},
		{"pex short node ID", Frame{Type: TypePeerExchange, Payload: cborOf(PeerExchange{Scope: make([]byte, 20),
			Added: []PexPeer{{ID: make([]byte, 3)}}})}, ErrMalformed, "node ID"},
		{"short folder proof", Frame{Type: TypeFolderProof, Payload: []byte{0xa1, 0x01, 0x41, 0x00}}, ErrMalformed, "proof"},
		{"records without folder", Frame{Type: TypeIndexRecords, Payload: []byte{0xa0}}, ErrMalformed, "folder ID"},
		{"summary with short folder", Frame{Type: TypeIndexSummary, Payload: []byte{0xa1, 0x01, 0x41, 0x00}}, ErrMalformed, "folder ID"},
		{"announcement as a reply", Frame{Type: TypeIndexSummary, Payload: cborOf(IndexSummary{Folder: make([]byte, 32), Reply: true, Announce: true})}, ErrMalformed, "both an announcement and a reply"},
		{"empty payload", Frame{Type: TypePing}, ErrMalformed, "empty"},
		{"bad CBOR", Frame{Type: TypeHave, Payload: []byte{0xa1, 0x01}}, ErrMalformed, ""},
		{"trailing bytes", Frame{Type: TypePing, Payload: []byte{0xa0, 0x00}}, ErrMalformed, ""},
		{"array not map", Frame{Type: TypeHello, Payload: []byte{0x80}}, ErrMalformed, "not a CBOR map"},
		{"null payload", Frame{Type: TypeChoke, Payload: []byte{0xf6}}, ErrMalformed, "not a CBOR map"},
		{"wrong field type", Frame{Type: TypeHave, Payload: cborOf(map[int]string{1: "x"})}, ErrMalformed, ""},
		{"hello payload on Have", Frame{Type: TypeHave, Payload: cborOf(map[int]any{1: 1, 3: []byte{1}})}, ErrMalformed, ""},
		{"indefinite map", Frame{Type: TypePing, Payload: []byte{0xbf, 0xff}}, ErrMalformed, "indefinite-length"},
		{"indefinite array", Frame{Type: TypeHave, Payload: []byte{0xa1, 0x01, 0x9f, 0xff}}, ErrMalformed, "indefinite-length"},
		{"tag", Frame{Type: TypeHave, Payload: []byte{0xa1, 0x01, 0xc1, 0x80}}, ErrMalformed, "tag"},
		{"duplicate key", Frame{Type: TypePing, Payload: []byte{0xa2, 0x01, 0x01, 0x01, 0x02}}, ErrMalformed, "duplicate map key"},
		{"invalid UTF-8", Frame{Type: TypeError, Payload: []byte{0xa1, 0x02, 0x61, 0xff}}, ErrMalformed, "UTF-8"},
		{"too deep", Frame{Type: TypePing, Payload: append([]byte{0xa1, 0x05}, append(bytes.Repeat([]byte{0x81}, 10), 0x00)...)}, ErrMalformed, "nested level"},
		{"too many elements", Frame{Type: TypeHave, Payload: append([]byte{0xa1, 0x01, 0x9a, 0x00, 0x01, 0x00, 0x00}, make([]byte, 16)...)}, ErrMalformed, "max number of elements"},
		{"empty CID", Frame{Type: TypeHave, Payload: cborOf(Have{CIDs: [][]byte{{}}})}, ErrMalformed, "CID of 0 bytes"},
		{"long CID", Frame{Type: TypeCancel, Payload: cborOf(Cancel{CIDs: [][]byte{make([]byte, MaxCIDLen+1)}})}, ErrMalformed, "CID of 129"},
		{"want without CID", Frame{Type: TypeWantBlock, Payload: cborOf(map[int]any{1: []map[int]int{{2: 1}}})}, ErrMalformed, "CID of 0"},
		{"long node ID", Frame{Type: TypeHello, Payload: cborOf(Hello{Major: 1, NodeID: make([]byte, 65)})}, ErrMalformed, "node ID"},
		{"block empty", Frame{Type: TypeBlock}, ErrMalformed, "length prefix"},
		{"block zero CID", Frame{Type: TypeBlock, Payload: []byte{0x00, 1, 2}}, ErrMalformed, "CID length 0"},
		{"block CID cut", Frame{Type: TypeBlock, Payload: []byte{0x22, 1, 2}}, ErrMalformed, "cut short"},
		{"block CID too long", Frame{Type: TypeBlock, Payload: append([]byte{0x81, 0x01}, make([]byte, 200)...)}, ErrMalformed, "CID length 129"},
		{"block overlong varint", Frame{Type: TypeBlock, Payload: []byte{0x81, 0x00, 1}}, ErrMalformed, "non-minimal"},
		{"block data too large", Frame{Type: TypeBlock, Payload: append([]byte{0x01, 0x01}, make([]byte, MaxBlockSize+1)...)}, ErrFrameTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.f)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %#v, %v; want error %v", m, err, tc.want)
			}
			if m != nil {
				t.Fatalf("Decode returned a message with an error: %#v", m)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	// A later minor version adds field 99 to Ping: an older peer skips it.
	p := []byte{0xa2, 0x01, 0x05, 0x18, 99, 0x63, 'n', 'e', 'w'}
	m, err := Decode(Frame{Type: TypePing, Payload: p})
	if err != nil {
		t.Fatalf("Decode with an unknown field: %v", err)
	}
	if m != (Ping{Nonce: 5}) {
		t.Fatalf("got %#v, want Ping{Nonce: 5}", m)
	}
}

func TestEncodeRefusesWhatDecodeRejects(t *testing.T) {
	for _, m := range []Message{
		Have{CIDs: [][]byte{nil}},
		WantBlock{Wants: []Want{{CID: make([]byte, MaxCIDLen+1)}}},
		Block{CID: nil, Data: []byte{1}},
		Hello{Major: 1, ListenAddrs: make([]string, maxListenAddrs+1)},
		Error{Message: strings.Repeat("x", maxErrorLen+1)},
	} {
		if _, err := Encode(m, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("Encode(%s) = %v, want ErrMalformed", m.Type(), err)
		}
		if err := WriteMessage(io.Discard, m, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("WriteMessage(%s) = %v, want ErrMalformed", m.Type(), err)
		}
	}
	if _, err := Encode(nil, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode(nil) = %v", err)
	}
}

func TestReaderStreamReusesBuffer(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	msgs := sampleMessages()
	for i, m := range msgs {
		if err := WriteMessage(w, m, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf, 0)
	for i, want := range msgs {
		m, reqID, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if reqID != uint64(i) || !reflect.DeepEqual(m, want) {
			t.Fatalf("message %d = %#v (req %d), want %#v", i, m, reqID, want)
		}
	}
	if _, _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		buf.Reset()
		_ = WriteBlock(&buf, 1, cidA, make([]byte, 0))
		rr := bytes.NewReader(buf.Bytes())
		r.r.Reset(rr)
		if _, err := r.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("Reader.ReadFrame of a small frame: %.0f allocations, want at most 2", allocs)
	}
}

func TestCheckHello(t *testing.T) {
	tests := []struct {
		name string
		h    Hello
		ok   bool
		text string
	}{
		{"same version", NewHello(nil, "shoal", "1", nil), true, ""},
		{"newer minor", Hello{Major: ProtocolMajor, Minor: ProtocolMinor + 3}, true, ""},
		{"older major", Hello{Major: 0, Minor: 9, Client: "shoal", ClientVersion: "0.0.1"}, false, "peer (shoal 0.0.1) speaks shoal protocol 0.9, this node speaks 1.3"},
		{"newer major", Hello{Major: ProtocolMajor + 1}, false, "unknown client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHello(tc.h)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckHello: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("CheckHello = %v, want ErrVersion mentioning %q", err, tc.text)
			}
			// The Error we send survives the wire and keeps the reason.
			var buf bytes.Buffer
			if err := WriteMessage(&buf, ErrorFor(err), 0); err != nil {
				t.Fatal(err)
			}
			m, _, rerr := NewReader(&buf, 0).ReadMessage()
			if rerr != nil {
				t.Fatal(rerr)
			}
			e := m.(Error)
			if e.Code != CodeVersion || !strings.Contains(e.Error(), tc.text) {
				t.Fatalf("peer got %v, want code %d with %q", e, CodeVersion, tc.text)
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	tests := []struct {
		err  error
		code uint16
	}{
		{ErrVersion, CodeVersion},
		{ErrFrameTooLarge, CodeFrameTooLarge},
		{ErrMalformed, CodeProtocol},
		{ErrUnknownType, CodeProtocol},
		{io.ErrUnexpectedEOF, CodeInternal},
	}
	for _, tc := range tests {
		if got := ErrorFor(tc.err); got.Code != tc.code || got.Message != tc.err.Error() {
			t.Errorf("ErrorFor(%v) = %+v, want code %d", tc.err, got, tc.code)
		}
	}
	// An Error, wrapped or not, goes out as it is.
	refused := Error{Code: CodeRefused, Message: "banned"}
	for _, err := range []error{refused, fmt.Errorf("add peer: %w", refused)} {
		if got := ErrorFor(err); got != refused {
			t.Errorf("ErrorFor(%v) = %+v, want %+v", err, got, refused)
		}
	}
	// A long reason is cut to what a peer accepts, on a rune boundary.
	long := ErrorFor(errors.New(strings.Repeat("é", maxErrorLen)))
	if _, err := Encode(long, 0); err != nil {
		t.Fatalf("ErrorFor of a long error does not encode: %v", err)
	}
}

func TestMsgTypeString(t *testing.T) {
	if s := TypeWantBlock.String(); s != "WantBlock" {
		t.Errorf("TypeWantBlock = %q", s)
	}
	if s := MsgType(0xee).String(); s != "type 0xee" {
		t.Errorf("MsgType(0xee) = %q", s)
	}
	if TypePeerExchange.Reserved() || TypeBlock.Reserved() {
		t.Error("Reserved() wrong")
	}
}

// TestReadFrameAlloc reads a stream of every message, with blocks of
// several sizes among them, and checks each block's data lands in the
// buffer alloc gave and equals what was sent.
func TestReadFrameAlloc(t *testing.T) {
	var sent []Message
	sent = append(sent, sampleMessages()...)
	for _, n := range []int{0, 1, 16<<10 - 1, 16 << 10, 300 << 10, MaxBlockSize} {
		sent = append(sent, Block{CID: cidB, Data: bytes.Repeat([]byte{byte(n)}, n)}, Ping{Nonce: uint64(n)})
	}
	var stream bytes.Buffer
	for i, m := range sent {
		if err := WriteMessage(&stream, m, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bufio.NewReaderSize(&stream, 16<<10), 0)
	for i, want := range sent {
		var given []byte
		f, b, err := r.ReadFrameAlloc(func(n int) []byte { given = make([]byte, n, n+10); return given })
		if err != nil {
			t.Fatalf("message %d (%s): %v", i, want.Type(), err)
		}
		if f.Type != want.Type() || f.ReqID != uint64(i) {
			t.Fatalf("message %d: got %s #%d, want %s #%d", i, f.Type, f.ReqID, want.Type(), i)
		}
		wb, isBlock := want.(Block)
		if !isBlock {
			if given != nil || b.CID != nil {
				t.Fatalf("message %d (%s): alloc called or a block returned", i, f.Type)
			}
			m, err := Decode(f)
			if err != nil || !reflect.DeepEqual(m, want) {
				t.Fatalf("message %d: decoded %#v, %v; want %#v", i, m, err, want)
			}
			continue
		}
		if !bytes.Equal(b.CID, wb.CID) || !bytes.Equal(b.Data, wb.Data) {
			t.Fatalf("block %d: CID or %d bytes of data differ", i, len(wb.Data))
		}
		if len(b.Data) > 0 && &b.Data[0] != &given[0] {
			t.Fatalf("block %d: data not in the buffer alloc gave", i)
		}
	}
	if _, _, err := r.ReadFrameAlloc(func(n int) []byte { return make([]byte, n) }); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestReadFrameAllocMalformed(t *testing.T) {
	over := MaxBlockSize + 1
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty block payload", header(minLength, TypeBlock, 1), ErrMalformed},
		{"CID length zero", append(header(minLength+1, TypeBlock, 1), 0), ErrMalformed},
		{"CID over the limit", append(header(minLength+2, TypeBlock, 1), 0x81, 0x01), ErrMalformed},
		{"non-minimal CID length", append(header(minLength+3, TypeBlock, 1), 0x81, 0x00, 1), ErrMalformed},
		{"CID cut short", append(header(minLength+3, TypeBlock, 1), 5, 1, 2), ErrMalformed},
		{"data over the limit", append(append(header(uint32(minLength+2+over), TypeBlock, 1), 1, 1), make([]byte, over)...), ErrFrameTooLarge},
		{"stream ends in the data", append(header(minLength+10, TypeBlock, 1), 1, 1, 2, 3), io.ErrUnexpectedEOF},
		{"stream ends in the CID", append(header(minLength+10, TypeBlock, 1), 4, 1), io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			r := NewReader(bytes.NewReader(tc.in), 0)
			_, _, err := r.ReadFrameAlloc(func(n int) []byte { called = true; return make([]byte, n) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if called && tc.want != io.ErrUnexpectedEOF {
				t.Fatal("alloc called for a frame that was refused")
			}
		})
	}
}
