package transport

import (
	"testing"

	"github.com/shoal-sync/shoal/sync/identity"
)

// nodeIDFromByte returns a NodeID whose digest starts with b.
func nodeIDFromByte(t testing.TB, b byte) identity.NodeID {
	t.Helper()
	raw := make([]byte, identity.NodeIDLen)
	raw[0], raw[1] = 0x12, 0x20
	raw[2] = b
	id, err := identity.NodeIDFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPrefer(t *testing.T) {
	lo, hi := nodeIDFromByte(t, 1), nodeIDFromByte(t, 2)
	tests := []struct {
		name          string
		local, remote identity.NodeID
		outbound      bool
		keep          bool
	}{
		{"low dialed high: low keeps its outbound", lo, hi, true, true},
		{"low dialed high: high keeps its inbound", hi, lo, false, true},
		{"high dialed low: high drops its outbound", hi, lo, true, false},
		{"high dialed low: low drops its inbound", lo, hi, false, false},
		{"self outbound", lo, lo, true, false},
		{"self inbound", lo, lo, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Prefer(tc.local, tc.remote, tc.outbound); got != tc.keep {
				t.Fatalf("Prefer = %v, want %v", got, tc.keep)
			}
		})
	}
}

// With two connections between a pair, both sides keep the same one and
// exactly one survives.
func TestPreferAgreesOnBothSides(t *testing.T) {
	ids := []identity.NodeID{nodeIDFromByte(t, 0), nodeIDFromByte(t, 7), nodeIDFromByte(t, 0xff)}
	for _, x := range ids {
		for _, y := range ids {
			if x == y {
				continue
			}
			// Connection 1 dialed by x, connection 2 dialed by y.
			x1, y1 := Prefer(x, y, true), Prefer(y, x, false)
			x2, y2 := Prefer(x, y, false), Prefer(y, x, true)
			if x1 != y1 || x2 != y2 {
				t.Fatalf("%s/%s disagree: conn1 %v/%v conn2 %v/%v", x.Short(), y.Short(), x1, y1, x2, y2)
			}
			if x1 == x2 {
				t.Fatalf("%s/%s: keep conn1=%v conn2=%v, want exactly one", x.Short(), y.Short(), x1, x2)
			}
		}
	}
}
