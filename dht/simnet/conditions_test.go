package simnet

import (
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func hostIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// quantile returns the nearest-rank q-quantile of xs (sorted in place).
func quantile(xs []time.Duration, q float64) time.Duration {
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}

// TestConditionKnobs draws each knob over 20,000 hosts (or host pairs) and
// checks the share or distribution it promises, that the zero value turns
// it off, and that the draws depend on the seed alone.
func TestConditionKnobs(t *testing.T) {
	const hosts = 20000
	m := Mainline(7)
	tests := []struct {
		name  string
		cond  Conditions
		check func(t *testing.T, c Conditions)
	}{
		{"unreachable 30%", m, func(t *testing.T, c Conditions) {
			n := 0
			for i := range hosts {
				if c.IsUnreachable(hostIP(i)) {
					n++
				}
			}
			if f := float64(n) / hosts; f < 0.28 || f > 0.32 {
				t.Errorf("%.3f of hosts unreachable, want 0.30 ± 0.02", f)
			}
		}},
		{"rtt log-normal median 100ms p99 > 1s", m, func(t *testing.T, c Conditions) {
			var rtts []time.Duration
			for i := range hosts {
				a, b := hostIP(i), hostIP(i+hosts)
				r := c.LinkRTT(a, b)
				if r != c.LinkRTT(b, a) {
					t.Fatalf("RTT %v→%v differs by direction", a, b)
				}
				rtts = append(rtts, r)
			}
			if med := quantile(rtts, 0.5); med < 93*time.Millisecond || med > 107*time.Millisecond {
				t.Errorf("median RTT %v, want 100ms ± 7%%", med)
			}
			if p99 := quantile(rtts, 0.99); p99 <= time.Second || p99 > 1300*time.Millisecond {
				t.Errorf("p99 RTT %v, want just over 1s", p99)
			}
		}},
		{"slow 5% by a median 500ms", m, func(t *testing.T, c Conditions) {
			var slow []time.Duration
			for i := range hosts {
				if d := c.SlowDelay(hostIP(i)); d > 0 {
					slow = append(slow, d)
				}
			}
			if f := float64(len(slow)) / hosts; f < 0.04 || f > 0.06 {
				t.Errorf("%.3f of hosts slow, want 0.05 ± 0.01", f)
			}
			if med := quantile(slow, 0.5); med < 400*time.Millisecond || med > 600*time.Millisecond {
				t.Errorf("median slow delay %v, want about 500ms", med)
			}
		}},
		{"sessions heavy-tailed, median 1h", m, func(t *testing.T, c Conditions) {
			var up, down []time.Duration
			for i := range hosts {
				u, d := c.Session(hostIP(i), 1+i%3) // whole sessions: the first is met mid-way
				up, down = append(up, u), append(down, d)
			}
			if med := quantile(up, 0.5); med < 55*time.Minute || med > 65*time.Minute {
				t.Errorf("median session %v, want 1h ± 5m", med)
			}
			if med := quantile(down, 0.5); med < 55*time.Minute || med > 65*time.Minute {
				t.Errorf("median offline period %v, want 1h ± 5m", med)
			}
			// Weibull of shape 0.5: p99/median = (ln 100 / ln 2)² ≈ 44; an
			// exponential would give 6.6.
			if r := float64(quantile(up, 0.99)) / float64(quantile(up, 0.5)); r < 30 {
				t.Errorf("session p99/median %.1f, want a heavy tail (> 30)", r)
			}
		}},
		{"met mid-session: few first sessions end soon", m, func(t *testing.T, c Conditions) {
			fresh := c
			fresh.MidSession = false
			soon := func(c Conditions) float64 {
				n := 0
				for i := range hosts {
					if up, _ := c.Session(hostIP(i), 0); up < 10*time.Minute {
						n++
					}
				}
				return float64(n) / hosts
			}
			// Weibull 0.5, median 1h: 1-exp(-√(10m/2.08h)) ≈ 24.6% of new
			// sessions end within 10 minutes; of sessions in progress
			// (mean 4.16h) about 10m·0.9/4.16h ≈ 3.6%.
			if f := soon(fresh); f < 0.22 || f > 0.27 {
				t.Errorf("%.3f of fresh sessions end within 10m, want about 0.246", f)
			}
			if f := soon(c); f < 0.025 || f > 0.05 {
				t.Errorf("%.3f of sessions met mid-way end within 10m, want about 0.036", f)
			}
			if u0, _ := c.Session(hostIP(1), 1); u0 != func() time.Duration { u, _ := fresh.Session(hostIP(1), 1); return u }() {
				t.Error("later sessions differ with MidSession")
			}
		}},
		{"all off", Conditions{}, func(t *testing.T, c Conditions) {
			if !c.Off() || c.String() != "all off" {
				t.Errorf("zero Conditions: Off %v, String %q", c.Off(), c.String())
			}
			for i := range 1000 {
				a, b := hostIP(i), hostIP(i+1)
				if c.IsUnreachable(a) || c.SlowDelay(a) != 0 || c.LinkRTT(a, b) != 0 {
					t.Fatalf("host %v: a knob is on in the zero Conditions", a)
				}
				if rt := c.RoundTrip(Link{Latency: 5 * time.Millisecond}, a, b); rt != 10*time.Millisecond {
					t.Fatalf("round trip %v, want twice the link's 5ms", rt)
				}
			}
		}},
		{"reproducible from the seed", m, func(t *testing.T, c Conditions) {
			other := c
			other.Seed++
			same, differ := 0, 0
			for i := range 1000 {
				a, b := hostIP(i), hostIP(i+7)
				again := Mainline(c.Seed)
				if again.LinkRTT(a, b) != c.LinkRTT(a, b) || again.IsUnreachable(a) != c.IsUnreachable(a) {
					t.Fatalf("same seed, different draws for %v", a)
				}
				if other.LinkRTT(a, b) == c.LinkRTT(a, b) {
					same++
				} else {
					differ++
				}
			}
			if same > 10 {
				t.Errorf("another seed gives the same RTT for %d of 1000 pairs", same)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, tt.cond) })
	}
	if s := m.String(); s != "30% unreachable (NAT 1m0s), RTT log-normal 100ms σ1, 1.5% loss, 5% slow (+500ms), sessions 1h0m0s, offline 1h0m0s (Weibull 0.5) met mid-session" {
		t.Errorf("Mainline().String() = %q", s)
	}
}

// firstHost returns the first host index whose address satisfies ok.
func firstHost(t *testing.T, ok func(netip.Addr) bool) netip.Addr {
	for i := 1; i < 10000; i++ {
		if ip := hostIP(i); ok(ip) {
			return ip
		}
	}
	t.Fatal("no host found")
	return netip.Addr{}
}

// TestNAT checks that a host behind a NAT hears only from addresses it
// sent to within NATTimeout, and that everyone else hears from it.
func TestNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cond := Conditions{Unreachable: 0.5, NATTimeout: 10 * time.Second, Seed: 1}
		n := New(Options{Link: Link{Latency: 10 * time.Millisecond}, Conditions: cond})
		defer n.Close()
		natIP := firstHost(t, cond.IsUnreachable)
		pubIP := firstHost(t, func(ip netip.Addr) bool { return !cond.IsUnreachable(ip) })
		nat := listen(t, n, netip.AddrPortFrom(natIP, 1).String())
		pub := listen(t, n, netip.AddrPortFrom(pubIP, 1).String())
		stranger := listen(t, n, netip.AddrPortFrom(pubIP, 2).String())
		send := func(from, to *Conn, s string) {
			if _, err := from.WriteTo([]byte(s), to.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		send(pub, nat, "unsolicited") // filtered
		time.Sleep(20 * time.Millisecond)
		if n.Reaches(pub.AddrPort(), nat.AddrPort()) {
			t.Error("Reaches says a stranger gets through the NAT")
		}
		send(nat, pub, "query") // opens nat → pub
		time.Sleep(20 * time.Millisecond)
		send(pub, nat, "answer")          // admitted
		send(stranger, nat, "other port") // filtered: mapping is per address and port
		time.Sleep(20 * time.Millisecond)
		if !n.Reaches(pub.AddrPort(), nat.AddrPort()) {
			t.Error("Reaches says the NAT drops the answer to its own query")
		}
		time.Sleep(11 * time.Second)
		send(pub, nat, "too late") // mapping expired
		time.Sleep(20 * time.Millisecond)

		nat.SetReadDeadline(time.Now())
		var got []string
		for {
			p, _, err := nat.ReadPacket()
			if err != nil {
				break
			}
			got = append(got, string(p))
		}
		if !slices.Equal(got, []string{"answer"}) {
			t.Errorf("host behind NAT received %q, want only the answer", got)
		}
		pub.SetReadDeadline(time.Now())
		if p, _, err := pub.ReadPacket(); err != nil || string(p) != "query" {
			t.Errorf("public host read %q, %v; want the query", p, err)
		}
		if st := n.Stats(); st.Filtered != 3 || st.Delivered != 2 {
			t.Errorf("stats %+v, want 3 filtered, 2 delivered", st)
		}
	})
}

// TestConditionsOnTheWire checks that packets take half the drawn RTT plus
// the sender's slow delay, and that hosts go down and come back on their
// session schedule.
func TestConditionsOnTheWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cond := Conditions{RTTMedian: 100 * time.Millisecond, RTTSigma: 1, Slow: 0.3, SlowMedian: 200 * time.Millisecond,
			SessionMedian: time.Hour, Seed: 3}
		n := New(Options{Conditions: cond})
		defer n.Close()
		slowIP := firstHost(t, func(ip netip.Addr) bool { return cond.SlowDelay(ip) > 0 })
		fastIP := firstHost(t, func(ip netip.Addr) bool { return cond.SlowDelay(ip) == 0 })
		slow := listen(t, n, netip.AddrPortFrom(slowIP, 1).String())
		fast := listen(t, n, netip.AddrPortFrom(fastIP, 1).String())
		start := time.Now()
		slow.WriteTo([]byte("x"), fast.LocalAddr())
		if _, _, err := fast.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		want := cond.LinkRTT(slowIP, fastIP)/2 + cond.SlowDelay(slowIP)
		if got := time.Since(start); got != want {
			t.Errorf("one way from the slow host took %v, want %v", got, want)
		}
		if rt := n.RoundTrip(slowIP, fastIP); rt != cond.LinkRTT(slowIP, fastIP)+cond.SlowDelay(slowIP) {
			t.Errorf("RoundTrip %v", rt)
		}

		// Follow the fast host through two sessions.
		t0 := time.Now()
		for i := range 2 {
			up, down := cond.Session(fastIP, i)
			time.Sleep(time.Until(t0.Add(up - time.Second)))
			if n.IsDown(fastIP) {
				t.Fatalf("session %d: down a second before its end", i)
			}
			time.Sleep(2 * time.Second)
			if !n.IsDown(fastIP) {
				t.Fatalf("session %d: still up a second after its end (%v)", i, up)
			}
			time.Sleep(time.Until(t0.Add(up + down + time.Second)))
			if n.IsDown(fastIP) {
				t.Fatalf("session %d: still down after its offline period (%v)", i, down)
			}
			t0 = t0.Add(up + down)
		}
	})
}
