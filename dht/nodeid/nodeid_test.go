package nodeid

import (
	"net/netip"
	"testing"
)

// BEP 42's test vectors: IP, r, and the first three bytes (the last one
// masked to its top 5 bits) of the ID.
func TestBEP42Vectors(t *testing.T) {
	tests := []struct {
		ip     string
		r      byte
		prefix [3]byte
	}{
		{"124.31.75.21", 1, [3]byte{0x5f, 0xbf, 0xb8}},
		{"21.75.31.124", 86, [3]byte{0x5a, 0x3c, 0xe8}},
		{"65.23.51.170", 22, [3]byte{0xa5, 0xd4, 0x30}},
		{"84.124.73.14", 65, [3]byte{0x1b, 0x03, 0x20}},
		{"43.213.53.83", 90, [3]byte{0xe5, 0x6f, 0x68}},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		id := Secure(ip, tt.r)
		got := [3]byte{id[0], id[1], id[2] & 0xf8}
		if got != tt.prefix || id[19] != tt.r {
			t.Errorf("Secure(%s, %d) = %x...%02x, want %x...%02x", tt.ip, tt.r, got, id[19], tt.prefix, tt.r)
		}
		if !Conforms(id, ip) {
			t.Errorf("Conforms(Secure(%s)) = false", tt.ip)
		}
		id[0] ^= 0x80
		if Conforms(id, ip) {
			t.Errorf("a changed ID still conforms for %s", tt.ip)
		}
	}
	// IPv6 IDs conform too.
	ip6 := netip.MustParseAddr("2001:4860:4860::8888")
	if id := Secure(ip6, 3); !Conforms(id, ip6) {
		t.Error("IPv6 secure ID does not conform")
	}
	// Local and private addresses are exempt.
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fd00::1"} {
		if !Conforms(Random(), netip.MustParseAddr(s)) {
			t.Errorf("%s is not exempt", s)
		}
	}
}

func TestDistance(t *testing.T) {
	var zero, one, top ID
	one[19] = 1
	top[0] = 0x80
	if PrefixLen(zero, zero) != 160 || PrefixLen(zero, one) != 159 || PrefixLen(zero, top) != 0 {
		t.Error("PrefixLen")
	}
	if Cmp(zero, one, top) != -1 || Cmp(zero, top, one) != 1 || Cmp(zero, one, one) != 0 {
		t.Error("Cmp")
	}
	if x := Xor(one, top); x[0] != 0x80 || x[19] != 1 {
		t.Error("Xor")
	}
}

func TestRandomInBucket(t *testing.T) {
	self := Random()
	for prefix := range 160 {
		for range 5 {
			id := RandomInBucket(self, prefix)
			if got := PrefixLen(self, id); got != prefix {
				t.Fatalf("RandomInBucket(%d) has prefix %d", prefix, got)
			}
		}
	}
}

func TestParse(t *testing.T) {
	id := Random()
	got, err := Parse(String(id))
	if err != nil || got != id {
		t.Errorf("Parse(String(id)) = %x, %v", got, err)
	}
	for _, bad := range []string{"", "abc", "zz" + String(id)[2:], String(id) + "00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
