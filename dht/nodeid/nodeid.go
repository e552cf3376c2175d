package nodeid

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math/bits"
	"net/netip"
)

// ID is a 160-bit node ID, infohash or BEP 44 target.
type ID = [20]byte

// Xor returns the XOR distance between a and b.
func Xor(a, b ID) ID {
	var d ID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// Cmp compares the distances of a and b to target: -1 if a is closer,
// 1 if b is closer, 0 if they are equal.
func Cmp(target, a, b ID) int {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// PrefixLen returns the number of leading bits a and b share (160 when equal).
func PrefixLen(a, b ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 160
}

// Random returns a uniformly random ID.
func Random() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// RandomInBucket returns a random ID that shares exactly prefix leading
// bits with self (so it falls in bucket prefix of self's table).
func RandomInBucket(self ID, prefix int) ID {
	if prefix >= 160 {
		return self
	}
	id := Random()
	for i := 0; i < prefix/8; i++ {
		id[i] = self[i]
	}
	byteIdx, bit := prefix/8, uint(prefix%8)
	keep := byte(0xff) << (8 - bit) // bits of self to keep in byteIdx
	flip := byte(0x80) >> bit       // the first differing bit
	id[byteIdx] = (self[byteIdx] & keep) | ((self[byteIdx] ^ flip) & flip) | (id[byteIdx] &^ (keep | flip))
	return id
}

// Parse reads a 40-digit hex ID.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 40 {
		return id, fmt.Errorf("parse id %q: want 40 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("parse id %q: %w", s, err)
	}
	return id, nil
}

// String formats an ID as 40 hex digits.
func String(id ID) string { return hex.EncodeToString(id[:]) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// bep42Prefix returns the CRC32C that fixes the first 21 bits of a
// conforming ID for ip and the 3-bit random r.
func bep42Prefix(ip netip.Addr, r byte) uint32 {
	var b []byte
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		v := binary.BigEndian.Uint32(a[:]) & 0x030f3fff
		v |= uint32(r&7) << 29
		b = binary.BigEndian.AppendUint32(nil, v)
	} else {
		a := ip.As16()
		v := binary.BigEndian.Uint64(a[:8]) & 0x0103070f1f3f7fff
		v |= uint64(r&7) << 61
		b = binary.BigEndian.AppendUint64(nil, v)
	}
	return crc32.Checksum(b, castagnoli)
}

// Secure returns a BEP 42 node ID for the external address ip, using the
// random byte r (its low 3 bits pick one of eight valid prefixes) and
// random bytes for the rest.
func Secure(ip netip.Addr, r byte) ID {
	id := Random()
	crc := bep42Prefix(ip, r)
	id[0] = byte(crc >> 24)
	id[1] = byte(crc >> 16)
	id[2] = byte(crc>>8)&0xf8 | id[2]&7
	id[19] = r
	return id
}

// Exempt reports whether BEP 42 does not apply to ip (local, private or
// reserved addresses, where any ID is acceptable).
func Exempt(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsGlobalUnicast() || ip.IsPrivate() || IsReserved(ip)
}

// Conforms reports whether id is a valid BEP 42 ID for ip. Exempt
// addresses conform with any ID.
func Conforms(id ID, ip netip.Addr) bool {
	if Exempt(ip) {
		return true
	}
	crc := bep42Prefix(ip, id[19])
	want := [3]byte{byte(crc >> 24), byte(crc >> 16), byte(crc>>8) & 0xf8}
	return id[0] == want[0] && id[1] == want[1] && id[2]&0xf8 == want[2]
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("100::/64"),
}

// IsReserved reports whether ip is in a documentation, benchmarking,
// carrier-grade NAT or otherwise reserved range.
func IsReserved(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Equal reports whether a and b are the same ID.
func Equal(a, b ID) bool { return bytes.Equal(a[:], b[:]) }
