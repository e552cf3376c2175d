package lookup

import "time"

// RTT is a smoothed round-trip estimate in the manner of TCP (RFC 6298):
// the mean and the mean deviation of the samples seen. The zero value
// means no sample yet.
type RTT struct {
	SRTT, RTTVar time.Duration
	Samples      int
}

// Add returns the estimate updated with one sample (gains 1/8 and 1/4).
func (r RTT) Add(sample time.Duration) RTT {
	if r.Samples == 0 {
		return RTT{SRTT: sample, RTTVar: sample / 2, Samples: 1}
	}
	d := r.SRTT - sample
	if d < 0 {
		d = -d
	}
	r.RTTVar += (d - r.RTTVar) / 4
	r.SRTT += (sample - r.SRTT) / 8
	r.Samples++
	return r
}

// Policy turns RTT estimates into query timeouts.
type Policy struct {
	// Unknown is the timeout of a query to a contact never measured, while
	// the node has measured few round trips; default 700 ms. Once it has
	// measured enough round trips to anyone, such a query times out after
	// what the network's spread suggests (SRTT + 4·RTTVar over every
	// contact), sooner or later than Unknown.
	Unknown time.Duration
	// Min and Max bound a measured contact's timeout; default 300 ms
	// (so that a busy machine's scheduling delays on a LAN or loopback
	// do not count as timeouts) and 2 s.
	Min, Max time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Unknown <= 0 {
		p.Unknown = 700 * time.Millisecond
	}
	if p.Min <= 0 {
		p.Min = 300 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 2 * time.Second
	}
	return p
}

// minNetworkSamples is how many round trips the network-wide estimate
// needs before it shortens the timeout of unknown contacts.
const minNetworkSamples = 16

// Timeout returns when a query to a contact with estimate r counts as
// timed out: SRTT + 4·RTTVar (bounded by Min and Max); for a contact never
// measured, the same over the whole network's estimate all (bounded by
// Min and Max), or Unknown before all has enough samples to shorten it
// (it may lengthen it at once). The timeout follows the round trips this
// node sees up as well as down: one capped below them (a congested uplink,
// a loaded machine) turns every query into retransmissions and every
// contact into one given up.
func (p Policy) Timeout(r, all RTT) time.Duration {
	p = p.withDefaults()
	if r.Samples == 0 {
		est := min(all.SRTT+4*all.RTTVar, p.Max)
		if all.Samples < minNetworkSamples {
			// Too few to shorten Unknown, but enough to lengthen it: on a
			// congested link (or a starved machine) every answer is late,
			// and timeouts below them only add retransmissions.
			return max(p.Unknown, est)
		}
		return max(est, p.Min)
	}
	return min(max(r.SRTT+4*r.RTTVar, p.Min), p.Max)
}

// Timing returns a query's Stall and Timeout for a contact with estimate
// r: it stops holding an α slot after twice the contact's smoothed RTT
// (the network's when the contact was never measured; a third of the
// timeout before either is known), but not before Min/2, so that a
// sub-millisecond LAN does not widen every lookup at once; and it times
// out after Timeout.
func (p Policy) Timing(r, all RTT) Timing {
	t := Timing{Timeout: p.Timeout(r, all)}
	switch {
	case r.Samples > 0:
		t.Stall = 2 * r.SRTT
	case all.Samples >= minNetworkSamples:
		t.Stall = 2 * all.SRTT
	default:
		t.Stall = t.Timeout / 3
	}
	t.Stall = min(max(t.Stall, p.withDefaults().Min/2), t.Timeout)
	return t
}
