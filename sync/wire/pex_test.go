package wire

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestPexGolden pins the bytes of a PeerExchange: a change that breaks
// older peers fails here.
func TestPexGolden(t *testing.T) {
	m := PeerExchange{
		Scope: bytes.Repeat([]byte{0xaa}, 20),
		Added: []PexPeer{{ID: append([]byte{0x12, 0x20}, bytes.Repeat([]byte{1}, 32)...), Addrs: []string{"192.0.2.1:4777"}}},
	}
	f, err := Encode(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	// map{1: bytes(20), 2: [[bytes(34) ID, [text "192.0.2.1:4777"]]]}
	const want = "a20154aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02818258221220" +
		"0101010101010101010101010101010101010101010101010101010101010101" +
		"816e3139322e302e322e313a34373737"
	if got := hex.EncodeToString(f.Payload); got != want {
		t.Fatalf("payload\n%s\nwant\n%s", got, want)
	}
}
