package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary streams to the three frame readers: they
// must agree (ReadFrameAlloc with ReadFrame plus Decode for blocks), never
// panic, and every frame read must write back byte for byte.
func FuzzReadFrame(f *testing.F) {
	for i, m := range sampleMessages() {
		var buf bytes.Buffer
		if err := WriteMessage(&buf, m, uint64(i)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Add(header(0, TypePing, 0))
	f.Add(header(^uint32(0), TypeBlock, 0))
	f.Add(append(header(minLength+2, TypeBlock, 5), 0x01))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 0)
		ra := NewReader(bytes.NewReader(in), 0)
		src := bytes.NewReader(in)
		var consumed int
		for {
			f1, err1 := ReadFrame(src)
			f2, err2 := r.ReadFrame()
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("ReadFrame error %v, Reader.ReadFrame error %v", err1, err2)
			}
			f3, b3, err3 := ra.ReadFrameAlloc(func(n int) []byte { return make([]byte, n) })
			if err1 == nil && f1.Type == TypeBlock {
				m, err := Decode(f1)
				if (err == nil) != (err3 == nil) {
					t.Fatalf("Decode error %v, ReadFrameAlloc error %v", err, err3)
				}
				if err != nil {
					return // ReadFrameAlloc stopped inside this frame
				}
				b1 := m.(Block)
				if f3.ReqID != f1.ReqID || !bytes.Equal(b1.CID, b3.CID) || !bytes.Equal(b1.Data, b3.Data) {
					t.Fatal("ReadFrameAlloc and Decode disagree on a block")
				}
			} else {
				if (err1 == nil) != (err3 == nil) {
					t.Fatalf("ReadFrame error %v, ReadFrameAlloc error %v", err1, err3)
				}
				if err1 == nil && (f3.Type != f1.Type || f3.ReqID != f1.ReqID || !bytes.Equal(f3.Payload, f1.Payload)) {
					t.Fatal("ReadFrameAlloc and ReadFrame disagree")
				}
			}
			if err1 != nil {
				if !errors.Is(err1, io.EOF) && !errors.Is(err1, io.ErrUnexpectedEOF) &&
					!errors.Is(err1, ErrMalformed) && !errors.Is(err1, ErrFrameTooLarge) {
					t.Fatalf("unexpected error class: %v", err1)
				}
				return
			}
			if f1.Type != f2.Type || f1.ReqID != f2.ReqID || !bytes.Equal(f1.Payload, f2.Payload) {
				t.Fatal("the two readers disagree")
			}
			var out bytes.Buffer
			if err := WriteFrame(&out, f1); err != nil {
				t.Fatalf("WriteFrame of a frame just read: %v", err)
			}
			if !bytes.Equal(out.Bytes(), in[consumed:consumed+out.Len()]) {
				t.Fatal("frame does not write back to the bytes it was read from")
			}
			consumed += out.Len()
			// Decoding must not panic whatever the type.
			_, _ = Decode(f1)
		}
	})
}

// FuzzDecode decodes arbitrary payloads as every message type. A payload
// that decodes must re-encode, and the re-encoding must be a fixed point.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		fr, err := Encode(m, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(fr.Type), fr.Payload)
	}
	f.Add(byte(TypeBlock), []byte{0x81, 0x00, 1})
	f.Add(byte(TypeHave), []byte{0xa1, 0x01, 0x9f, 0xff})
	f.Add(byte(TypePing), []byte{0xa2, 0x01, 0x05, 0x18, 99, 0x63, 'n', 'e', 'w'})
	f.Add(byte(TypeFolderProof), []byte{0xa0})
	f.Add(byte(TypePeerExchange), []byte{0xa1, 0x01, 0x54, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add(byte(0xff), []byte{})
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		m, err := Decode(Frame{Type: MsgType(typ), ReqID: 7, Payload: payload})
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if m.Type() != MsgType(typ) {
			t.Fatalf("decoded %s from a %s frame", m.Type(), MsgType(typ))
		}
		f1, err := Encode(m, 7)
		if err != nil {
			t.Fatalf("decoded %s does not re-encode: %v", m.Type(), err)
		}
		m2, err := Decode(f1)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", m.Type(), err)
		}
		f2, err := Encode(m2, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f1.Payload, f2.Payload) {
			t.Fatalf("encoding is not stable: %x then %x", f1.Payload, f2.Payload)
		}
		if m.Type() == TypeBlock && !bytes.Equal(f1.Payload, payload) {
			t.Fatalf("block payload %x re-encodes as %x", payload, f1.Payload)
		}
	})
}
