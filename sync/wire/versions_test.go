package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestVersionQueryGolden pins the bytes of the version messages: a change
// that breaks an older peer fails here.
func TestVersionQueryGolden(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{VersionQuery{Folder: bytes.Repeat([]byte{1}, 32), Nonce: 5, Path: "a/b", Roots: [][]byte{{1, 0x55, 0x12, 0}}},
			"a401582001010101010101010101010101010101010101010101010101010101010101010205036361" + "2f620481440155120" + "0"},
		{VersionHave{Folder: bytes.Repeat([]byte{1}, 32), Nonce: 5, Have: []byte{0x05}},
			"a30158200101010101010101010101010101010101010101010101010101010101010101020503410" + "5"},
	} {
		f, err := Encode(tc.m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(f.Payload); got != tc.want {
			t.Errorf("%s payload\n got %s\nwant %s", tc.m.Type(), got, tc.want)
		}
	}
}

func TestVersionMessagesRefuseBadInput(t *testing.T) {
	folder := bytes.Repeat([]byte{1}, 32)
	for _, m := range []Message{
		VersionQuery{Folder: folder[:31], Nonce: 1, Path: "a"},
		VersionQuery{Folder: folder, Nonce: 1},
		VersionQuery{Folder: folder, Nonce: 1, Path: "a", Roots: [][]byte{{}}},
		VersionQuery{Folder: folder, Nonce: 1, Path: "a", Roots: [][]byte{bytes.Repeat([]byte{1}, MaxCIDLen+1)}},
		VersionHave{Folder: folder, Have: make([]byte, MaxListLen/8+1)},
	} {
		if err := validate(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%#v: %v, want ErrMalformed", m, err)
		}
	}
	h := SetHaveBit(nil, 9)
	if !HaveBit(h, 9) || HaveBit(h, 8) || HaveBit(h, 100) || len(h) != 2 {
		t.Fatalf("have bits %x", h)
	}
}

// TestIndexAckRefusesBadInput: an ack of no messages, or of more than any
// one answer's messages, is malformed.
func TestIndexAckRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		okay bool
	}{{0, false}, {1, true}, {MaxListLen, true}, {MaxListLen + 1, false}, {^uint64(0), false}} {
		err := validate(IndexAck{Messages: tc.n})
		if tc.okay != (err == nil) || err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("IndexAck{%d}: %v", tc.n, err)
		}
	}
}
