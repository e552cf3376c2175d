package strategy

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/identity"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testPeer returns a stable NodeID for a one-letter name.
func testPeer(name string) identity.NodeID {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	return identity.NodeIDFromPublicKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

func testBlock(i int) cid.Cid { return unixfs.RawCIDOf([]byte(fmt.Sprintf("block %d", i))) }

// env drives a Picker with names: peers "A".."Z", blocks 0..n.
type env struct {
	t     *testing.T
	p     *Picker
	now   time.Time
	names map[identity.NodeID]string
	seqs  map[cid.Cid]int
}

func newEnv(t *testing.T, cfg PickerConfig, nblocks, size int) *env {
	e := &env{t: t, p: NewPicker(cfg), now: t0, names: map[identity.NodeID]string{}, seqs: map[cid.Cid]int{}}
	for i := range nblocks {
		e.seqs[testBlock(i)] = i
		e.p.Want(testBlock(i), size)
	}
	return e
}

func (e *env) peer(name string, unchoke bool, has ...int) {
	id := testPeer(name)
	e.names[id] = name
	e.p.AddPeer(id)
	for _, i := range has {
		e.p.Have(id, testBlock(i))
	}
	if unchoke {
		e.p.SetChoking(id, false)
	}
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// next runs Next and formats its requests as "A:3" ("A:3*" for endgame duplicates).
func (e *env) next() string {
	var parts []string
	for _, r := range e.p.Next(e.now) {
		s := fmt.Sprintf("%s:%d", e.names[r.Peer], e.seqs[r.Cid])
		if r.Dup {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func (e *env) cancels(cs []Cancel) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s:%d", e.names[c.Peer], e.seqs[c.Cid]))
	}
	return strings.Join(parts, " ")
}

func (e *env) recv(name string, i int, ok bool) Result {
	return e.p.Received(e.now, testPeer(name), testBlock(i), 10, ok)
}

func TestPickerNext(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name string
		cfg  PickerConfig
		n    int // blocks wanted
		size int // size of each
		run  func(e *env) []string
		want []string
	}{
		{
			name: "rarest first, ties in DAG order",
			cfg:  PickerConfig{Window: 1, PeerBytes: 2 * kib},
			n:    6, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, span(0, 5)...)
				e.peer("B", true, 3, 4, 5)
				e.peer("C", true, 5)
				return []string{e.next()}
			},
			// A alone has 0-2; B's rarest are 3,4 (2 sources); C has only 5.
			want: []string{"A:0 A:1 B:3 B:4 C:5"},
		},
		{
			name: "pipelining bounded by bytes, one block over at most",
			cfg:  PickerConfig{Window: 1, PeerBytes: 100},
			n:    10, size: 40,
			run: func(e *env) []string {
				e.peer("A", true, span(0, 9)...)
				first := e.next()
				e.recv("A", 0, true)
				second := e.next() // 80 in flight: one more
				e.recv("A", 1, true)
				e.recv("A", 2, true)
				third := e.next() // 40 in flight: two more
				return []string{first, second, third, fmt.Sprint(e.p.InFlight(testPeer("A")))}
			},
			want: []string{"A:0 A:1 A:2", "A:3", "A:4 A:5", "120"},
		},
		{
			name: "choked peers get nothing until they unchoke",
			cfg:  PickerConfig{Window: 1},
			n:    2, size: kib,
			run: func(e *env) []string {
				e.peer("A", false, 0, 1)
				first := e.next()
				e.p.SetChoking(testPeer("A"), false)
				return []string{first, e.next()}
			},
			want: []string{"", "A:0 A:1"},
		},
		{
			name: "choke returns requests to the pool",
			cfg:  PickerConfig{Window: 1},
			n:    3, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1, 2)
				e.peer("B", false, 0, 1, 2)
				first := e.next()
				e.p.SetChoking(testPeer("A"), true)
				e.p.SetChoking(testPeer("B"), false)
				return []string{first, e.next()}
			},
			want: []string{"A:0 A:1 A:2", "B:0 B:1 B:2"},
		},
		{
			name: "endgame: idle peer duplicates, cancel on arrival",
			cfg:  PickerConfig{Window: 1, EndgamePeerBytes: kib},
			n:    3, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1, 2)
				first := e.next()
				e.peer("B", true, 0, 1, 2)
				e.now = e.now.Add(time.Second)
				second := e.next() // B idle: one duplicate, the oldest (all equal: DAG order)
				res := e.recv("B", 0, true)
				third := e.next() // B idle again: next duplicate; 0 is done
				res2 := e.recv("A", 1, true)
				return []string{first, second, e.cancels(res.Cancels), third, e.cancels(res2.Cancels), fmt.Sprint(e.p.Remaining())}
			},
			want: []string{"A:0 A:1 A:2", "B:0*", "A:0", "B:1*", "B:1", "1"},
		},
		{
			name: "endgame: no duplicate of a block about to arrive",
			cfg:  PickerConfig{Window: 1, EndgamePeerBytes: kib},
			n:    3, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0)
				e.peer("C", true, 1, 2)
				first := e.next()
				e.peer("B", true, 0, 1, 2)
				// Block 0 is alone in A's queue (about to arrive): B duplicates
				// one of C's (2 KiB queued), the first in DAG order at equal times.
				return []string{first, e.next()}
			},
			want: []string{"A:0 C:1 C:2", "B:1*"},
		},
		{
			name: "no endgame while blocks are still unrequested",
			cfg:  PickerConfig{Window: 1, PeerBytes: kib},
			n:    3, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1, 2)
				first := e.next()
				e.peer("B", true, 0)
				// B has only block 0 (in flight to A) but 1 and 2 are unrequested: no endgame.
				return []string{first, e.next()}
			},
			want: []string{"A:0", ""},
		},
		{
			name: "bad blocks: strikes, re-request elsewhere, drop after three",
			cfg:  PickerConfig{Window: 1, EndgamePeerBytes: kib},
			n:    4, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1, 2, 3)
				e.peer("B", false, 0, 1, 2, 3)
				first := e.next()
				e.p.SetChoking(testPeer("B"), false)
				r1 := e.recv("A", 0, false)
				after1 := e.next() // 0 goes to B; A is no longer a source of 0
				e.recv("A", 1, false)
				r3 := e.recv("A", 2, false)
				return []string{first, fmt.Sprint(r1.Dropped), after1, fmt.Sprint(r3.Dropped), e.next(), fmt.Sprint(e.p.InFlight(testPeer("A")))}
			},
			want: []string{"A:0 A:1 A:2 A:3", "false", "B:0", "true", "B:1 B:2 B:3", "0"},
		},
		{
			name: "dont-have returns a request to the pool",
			cfg:  PickerConfig{Window: 1, EndgamePeerBytes: kib},
			n:    2, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1)
				first := e.next()
				e.peer("B", true, 0, 1)
				e.p.DontHave(testPeer("A"), testBlock(1))
				return []string{first, e.next()}
			},
			want: []string{"A:0 A:1", "B:1"},
		},
		{
			name: "timeout: silent peer's requests go elsewhere, peer snubbed",
			cfg:  PickerConfig{Window: 1, Timeout: 10 * time.Second},
			n:    2, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1)
				first := e.next()
				e.peer("B", true, 0, 1)
				e.now = e.now.Add(9 * time.Second)
				early := e.cancels(e.p.Expire(e.now))
				e.recv("A", 0, true) // progress resets the clock
				e.now = e.now.Add(9 * time.Second)
				mid := e.cancels(e.p.Expire(e.now))
				e.now = e.now.Add(time.Second)
				late := e.cancels(e.p.Expire(e.now))
				return []string{first, early, mid, late, e.next()}
			},
			want: []string{"A:0 A:1", "", "", "A:1", "B:1"},
		},
		{
			name: "peer removal: requests and availability go",
			cfg:  PickerConfig{Window: 1, PeerBytes: kib},
			n:    3, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1, 2)
				e.peer("B", true, 1, 2)
				first := e.next()
				e.p.RemovePeer(testPeer("A"))
				e.recv("B", 1, true)
				return []string{first, e.next()}
			},
			// A: rarest is 0 (1 source); B: 1. After A goes, 0 has no source left.
			want: []string{"A:0 B:1", "B:2"},
		},
		{
			name: "unwant cancels",
			cfg:  PickerConfig{Window: 1},
			n:    2, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0, 1)
				first := e.next()
				c := e.cancels(e.p.Unwant(testBlock(0)))
				return []string{first, c, fmt.Sprint(e.p.Remaining(), e.p.Wants(testBlock(0)), e.p.Wants(testBlock(1)))}
			},
			want: []string{"A:0 A:1", "A:0", "1 false true"},
		},
		{
			name: "requested, and a don't-have returns the request to the pool for others",
			cfg:  PickerConfig{Window: 1, PeerBytes: 1},
			n:    1, size: kib,
			run: func(e *env) []string {
				e.peer("A", true, 0)
				first := e.next()
				asked := fmt.Sprint(e.p.Requested(testPeer("A"), testBlock(0)), e.p.Requested(testPeer("A"), testBlock(1)))
				e.p.DontHave(testPeer("A"), testBlock(0))
				after := fmt.Sprint(e.p.Requested(testPeer("A"), testBlock(0)))
				e.peer("B", true, 0)
				return []string{first, asked, after, e.next()}
			},
			want: []string{"A:0", "true false", "false", "B:0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg, tt.n, tt.size)
			got := tt.run(e)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestPickerWindowSpreads checks that with a window, pickers with different
// seeds start on different blocks, always among the first Window.
func TestPickerWindowSpreads(t *testing.T) {
	firsts := map[int]bool{}
	for seed := range uint64(32) {
		e := newEnv(t, PickerConfig{Window: 8, PeerBytes: 1, Seed: seed}, 100, 1)
		e.peer("A", true, span(0, 99)...)
		out := e.p.Next(t0)
		if len(out) != 1 {
			t.Fatalf("seed %d: %d requests, want 1", seed, len(out))
		}
		i := e.seqs[out[0].Cid]
		if i >= 8 {
			t.Fatalf("seed %d: picked block %d, outside the window of 8", seed, i)
		}
		firsts[i] = true
	}
	if len(firsts) < 4 {
		t.Errorf("32 seeds picked only %d distinct first blocks", len(firsts))
	}
}

// TestPickerCompletes runs a picker to the end with a random good/bad
// delivery order and checks every block arrives once and nothing is left in flight.
func TestPickerCompletes(t *testing.T) {
	e := newEnv(t, PickerConfig{PeerBytes: 4, Seed: 7}, 200, 1)
	e.peer("A", true, span(0, 199)...)
	e.peer("B", true, span(100, 199)...)
	e.peer("C", true, span(0, 150)...)
	got := map[int]int{}
	for round := 0; e.p.Remaining() > 0; round++ {
		if round > 1000 {
			t.Fatal("no progress")
		}
		for _, r := range e.p.Next(e.now) {
			if e.p.Received(e.now, r.Peer, r.Cid, 1, true).Wanted {
				got[e.seqs[r.Cid]]++
			}
		}
	}
	if len(got) != 200 {
		t.Fatalf("%d blocks arrived, want 200", len(got))
	}
	for i, n := range got {
		if n != 1 {
			t.Errorf("block %d passed on %d times", i, n)
		}
	}
	for _, name := range []string{"A", "B", "C"} {
		if b := e.p.InFlight(testPeer(name)); b != 0 {
			t.Errorf("peer %s: %d bytes still in flight", name, b)
		}
	}
	e.p.Compact()
	if len(e.p.blocks) != 0 {
		t.Error("Compact kept blocks")
	}
}
