package mdns

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/shoal-sync/shoal/sync/identity"
)

func testID(t testing.TB) identity.NodeID {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return id.ID()
}

func TestTextRoundTrip(t *testing.T) {
	r := Record{ID: testID(t), TCPPort: 4777, UDPPort: 4777, Version: 1}
	got, err := ParseText(r.Text())
	if err != nil || got != r {
		t.Fatalf("ParseText(Text()) = %+v, %v; want %+v", got, err, r)
	}
}

// TestParseTextMalformed: every bad record is refused, none panics.
func TestParseTextMalformed(t *testing.T) {
	id := testID(t).String()
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	for _, txt := range [][]string{
		nil,
		{"tcp=4777", "v=1"},
		{"id=" + id, "v=1"},
		{"id=" + id, "tcp=4777"},
		{"id=garbage", "tcp=4777", "v=1"},
		{"id=" + id, "tcp=0", "v=1"},
		{"id=" + id, "tcp=70000", "v=1"},
		{"id=" + id, "tcp=-1", "v=1"},
		{"id=" + id, "tcp=4777", "v=x"},
		{"id=" + id, "tcp=4777", "v=1", "udp=port"},
		{"id=" + id, "tcp=4777", "v=1", "tcp=4778"},
		{"id=" + id, "tcp=4777", "v=1", string(long)},
		slices.Repeat([]string{"x=y"}, 17),
	} {
		if r, err := ParseText(txt); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseText(%q) = %+v, %v; want ErrMalformed", txt, r, err)
		}
	}
	if _, err := ParseText([]string{"id=" + id, "tcp=4777", "v=1", "future=x", "flag"}); err != nil {
		t.Errorf("unknown keys refused: %v", err)
	}
}

func TestAddrs(t *testing.T) {
	ips := []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("127.0.0.1"), net.ParseIP("fe80::1"), net.ParseIP("2001:db8::5"), net.ParseIP("::"), net.ParseIP("10.0.0.5")}
	ifaces := []Iface{{Name: "eth0", LinkLocal6: true}, {Name: "wlan0"}, {Name: "eth1", LinkLocal6: true}}
	got := Addrs(ips, 4777, ifaces)
	want := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.5:4777"),
		netip.MustParseAddrPort("[fe80::1%eth0]:4777"),
		netip.MustParseAddrPort("[fe80::1%eth1]:4777"),
		netip.MustParseAddrPort("[2001:db8::5]:4777"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Addrs = %v, want %v", got, want)
	}
	sortAddrs(got)
	if got[0] != want[0] || got[1] != want[3] {
		t.Fatalf("sorted: %v, want IPv4, then global IPv6, then link-local", got)
	}
}

func FuzzParseText(f *testing.F) {
	f.Add("id=bciqbp2xrkbdjtgwzs4rl6c3muj6jwyctcxchmsyfp5fml6bepc5caaa", "tcp=4777", "v=1")
	f.Add("tcp=1", "udp=65535", "v=0")
	f.Add("=", "==", "id=")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		r, err := ParseText([]string{a, b, c})
		if err != nil {
			return
		}
		if r.ID.IsZero() || r.TCPPort < 1 || r.TCPPort > 65535 {
			t.Fatalf("accepted %+v", r)
		}
		if back, err := ParseText(r.Text()); err != nil || back != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, back, err)
		}
	})
}
