package simnet

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Conditions are mainline-like network conditions (issue 15), each a knob
// whose zero value turns it off; Options.Conditions applies them on top of
// Options.Link. Every draw is a pure function of Seed and the hosts'
// addresses (and a session's number), so a run is reproducible and a test
// can ask what a link is like without sending anything.
type Conditions struct {
	// Unreachable is the share of hosts behind a filtering NAT: a packet
	// reaches such a host only from an address it sent to within
	// NATTimeout, so it queries and hears the answers, but never answers a
	// node it has not just talked to. Mainline: about 30 %.
	Unreachable float64
	// NATTimeout is how long a NAT keeps a mapping open after the host's
	// last packet to that address; default 60 s.
	NATTimeout time.Duration
	// RTTMedian, when positive, draws each pair of hosts' round-trip time
	// once from a log-normal distribution with this median and RTTSigma
	// (the σ of its logarithm); each direction takes half. It replaces
	// Link's latency and jitter.
	RTTMedian time.Duration
	RTTSigma  float64
	// Loss, when positive, is every packet's loss probability (instead of
	// Link.Loss).
	Loss float64
	// Slow is the share of hosts that answer slowly: every packet such a
	// host sends waits a delay of its own, drawn once per host from a
	// log-normal distribution of median SlowMedian (σ 0.5).
	Slow       float64
	SlowMedian time.Duration
	// SessionMedian, when positive, makes hosts come and go: a host is up
	// for a session, down for an offline period, up again, and so on, with
	// lengths drawn from Weibull distributions of shape SessionShape
	// (default 0.5: heavy-tailed, as measured in deployed DHTs) and
	// medians SessionMedian and OfflineMedian (default SessionMedian). A
	// host's first session starts when its first conn listens.
	SessionMedian time.Duration
	OfflineMedian time.Duration
	SessionShape  float64
	// MidSession starts every host part-way through its first session, as
	// in a network that ran long before the simulation began: what is
	// left of it is drawn as the remainder of a session in progress (a
	// length-biased session, cut at a uniform point) rather than a whole
	// new session. A heavy tail makes the difference: of hosts that just
	// arrived a quarter leave within 10 minutes at median 1 h, of hosts
	// met mid-session a few percent. It needs 1/SessionShape whole (0.5,
	// 1, 0.25, ...); otherwise the first session is a whole one.
	MidSession bool
	// Seed seeds every draw above (Options.Seed seeds the per-packet loss).
	Seed uint64
}

// Mainline returns issue 15's default conditions: 30 % of hosts
// unreachable, log-normal RTTs of median 100 ms and σ 1 (p99 ≈ 1.02 s),
// 1.5 % loss, 5 % of hosts slow by a median 500 ms, and sessions of median
// one hour, met mid-session.
func Mainline(seed uint64) Conditions {
	return Conditions{
		Unreachable: 0.30,
		RTTMedian:   100 * time.Millisecond, RTTSigma: 1.0,
		Loss: 0.015,
		Slow: 0.05, SlowMedian: 500 * time.Millisecond,
		SessionMedian: time.Hour, MidSession: true,
		Seed: seed,
	}
}

// Off reports whether every knob is off.
func (c Conditions) Off() bool {
	return c.Unreachable <= 0 && c.RTTMedian <= 0 && c.Loss <= 0 && c.Slow <= 0 && c.SessionMedian <= 0
}

// String lists the knobs that are on, as "30% unreachable (NAT 1m0s),
// RTT log-normal 100ms σ1, 1.5% loss, 5% slow (+500ms), sessions 1h0m0s
// (Weibull 0.5)", or "all off".
func (c Conditions) String() string {
	var parts []string
	if c.Unreachable > 0 {
		parts = append(parts, fmt.Sprintf("%g%% unreachable (NAT %v)", 100*c.Unreachable, c.natTimeout()))
	}
	if c.RTTMedian > 0 {
		parts = append(parts, fmt.Sprintf("RTT log-normal %v σ%g", c.RTTMedian, c.RTTSigma))
	}
	if c.Loss > 0 {
		parts = append(parts, fmt.Sprintf("%g%% loss", 100*c.Loss))
	}
	if c.Slow > 0 {
		parts = append(parts, fmt.Sprintf("%g%% slow (+%v)", 100*c.Slow, c.SlowMedian))
	}
	if c.SessionMedian > 0 {
		p := fmt.Sprintf("sessions %v, offline %v (Weibull %g)", c.SessionMedian, c.offlineMedian(), c.shape())
		if c.MidSession {
			p += " met mid-session"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "all off"
	}
	return strings.Join(parts, ", ")
}

func (c Conditions) natTimeout() time.Duration {
	if c.NATTimeout > 0 {
		return c.NATTimeout
	}
	return time.Minute
}

func (c Conditions) shape() float64 {
	if c.SessionShape > 0 {
		return c.SessionShape
	}
	return 0.5
}

func (c Conditions) offlineMedian() time.Duration {
	if c.OfflineMedian > 0 {
		return c.OfflineMedian
	}
	return c.SessionMedian
}

// Draw streams: each property of a host draws from its own stream.
const (
	streamNAT uint64 = iota + 1
	streamSlow
	streamSlowDelay
	streamRTT
	streamSession
	streamMidSession
)

// IsUnreachable reports whether ip is behind a filtering NAT.
func (c Conditions) IsUnreachable(ip netip.Addr) bool {
	return c.Unreachable > 0 && c.uniform(streamNAT, hostKey(ip), 0) < c.Unreachable
}

// SlowDelay returns how long ip holds each packet it sends (zero for most
// hosts).
func (c Conditions) SlowDelay(ip netip.Addr) time.Duration {
	h := hostKey(ip)
	if c.Slow <= 0 || c.SlowMedian <= 0 || c.uniform(streamSlow, h, 0) >= c.Slow {
		return 0
	}
	return logNormal(c.SlowMedian, 0.5, c.uniform(streamSlowDelay, h, 0), c.uniform(streamSlowDelay, h, 1))
}

// LinkRTT returns the round-trip time drawn for the pair a, b (the same
// both ways), or zero when RTTMedian is off. Slow hosts' delays come on top.
func (c Conditions) LinkRTT(a, b netip.Addr) time.Duration {
	if c.RTTMedian <= 0 {
		return 0
	}
	ka, kb := hostKey(a), hostKey(b)
	lo, hi := min(ka, kb), max(ka, kb)
	pair := mix(lo*0x9e3779b97f4a7c15 ^ hi)
	return logNormal(c.RTTMedian, c.RTTSigma, c.uniform(streamRTT, pair, 0), c.uniform(streamRTT, pair, 1))
}

// RoundTrip returns the time a query from a to b and its answer take
// without loss: the link's RTT (or twice Link latency when RTT is off) and
// both hosts' slow delays.
func (c Conditions) RoundTrip(link Link, a, b netip.Addr) time.Duration {
	rtt := c.LinkRTT(a, b)
	if c.RTTMedian <= 0 {
		rtt = 2 * link.Latency
	}
	return rtt + c.SlowDelay(a) + c.SlowDelay(b)
}

// Session returns the length of ip's i-th session (up) and of the offline
// period that follows it.
func (c Conditions) Session(ip netip.Addr, i int) (up, down time.Duration) {
	h := hostKey(ip)
	k := c.shape()
	up = weibull(c.SessionMedian, k, c.uniform(streamSession, h, uint64(2*i)))
	if n := math.Round(1 / k); i == 0 && c.MidSession && math.Abs(n-1/k) < 1e-9 {
		up = c.residual(h, k, int(n))
	}
	down = weibull(c.offlineMedian(), k, c.uniform(streamSession, h, uint64(2*i+1)))
	return max(up, time.Second), max(down, time.Second)
}

// residual draws what is left of a session in progress for host h: a
// session picked in proportion to its length is, for Weibull(k, scale),
// scale·X^(1/k) with X of Gamma(1+1/k) (here n+1 exponentials, n = 1/k),
// and the host is at a uniform point of it.
func (c Conditions) residual(h uint64, k float64, n int) time.Duration {
	scale := float64(c.SessionMedian) / math.Pow(math.Ln2, 1/k)
	x := 0.0
	for j := range n + 1 {
		x -= math.Log(c.uniform(streamMidSession, h, uint64(j)))
	}
	return time.Duration(c.uniform(streamMidSession, h, uint64(n+1)) * scale * math.Pow(x, 1/k))
}

// uniform returns a draw in (0, 1) for (stream, key, i).
func (c Conditions) uniform(stream, key, i uint64) float64 {
	x := mix(c.Seed ^ mix(stream<<56^key) ^ mix(i+0x632be59bd9b4e019))
	return (float64(x>>11) + 0.5) / (1 << 53)
}

// logNormal returns median·e^(σZ), Z standard normal from u1, u2 (Box–Muller).
func logNormal(median time.Duration, sigma, u1, u2 float64) time.Duration {
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return time.Duration(float64(median) * math.Exp(sigma*z))
}

// weibull returns the draw of u from the Weibull distribution of shape k
// and the given median (scale = median / ln2^(1/k)).
func weibull(median time.Duration, k, u float64) time.Duration {
	scale := float64(median) / math.Pow(math.Ln2, 1/k)
	return time.Duration(scale * math.Pow(-math.Log(u), 1/k))
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hostKey packs an IPv4 address into 32 bits and hashes an IPv6 one.
func hostKey(ip netip.Addr) uint64 {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return uint64(binary.BigEndian.Uint32(b[:]))
	}
	h := fnv.New64a()
	b := ip.As16()
	h.Write(b[:])
	return h.Sum64() | 1<<63
}

// addrKey packs an address and port into 64 bits (IPv4 exactly, IPv6 by hash).
func addrKey(a netip.AddrPort) uint64 {
	return hostKey(a.Addr())<<16 ^ uint64(a.Port())
}
