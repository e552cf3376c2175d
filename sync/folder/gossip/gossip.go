// Package gossip holds the pure decision of Scuttlebutt-style
// anti-entropy: given what this peer holds of each origin device's
// records and what another peer says it holds, which records to send.
// No I/O: the index reads the records, the session sends them.
package gossip

import "sort"

// Mark says that every record of Origin up to Seq is held.
type Mark struct {
	Origin, Seq uint64
}

// Range is the records of one origin to send: sequences in (After, Upto].
type Range struct {
	Origin, After, Upto uint64
}

// Missing returns, in origin order, the ranges of records that mine holds
// and theirs lacks. Origins theirs does not know at all are sent from the
// start; origins only theirs knows are theirs to send.
func Missing(mine, theirs []Mark) []Range {
	have := make(map[uint64]uint64, len(theirs))
	for _, m := range theirs {
		have[m.Origin] = max(have[m.Origin], m.Seq)
	}
	var out []Range
	for _, m := range mine {
		if from := have[m.Origin]; m.Seq > from {
			out = append(out, Range{Origin: m.Origin, After: from, Upto: m.Seq})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}
