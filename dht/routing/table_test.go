package routing

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func node(self nodeid.ID, bucket, n int) krpc.NodeInfo {
	id := nodeid.RandomInBucket(self, bucket)
	return krpc.NodeInfo{ID: id, Addr: netip.MustParseAddrPort(fmt.Sprintf("10.0.%d.%d:6881", bucket, n))}
}

// fill puts k nodes that answered at t0+i seconds into bucket b.
func fill(tb *Table, b int) []krpc.NodeInfo {
	var ns []krpc.NodeInfo
	for i := range tb.K() {
		n := node(tb.Self(), b, i)
		if act := tb.Heard(n, false, true, t0.Add(time.Duration(i)*time.Second)); act.Ping.Addr.IsValid() {
			panic("ping while filling")
		}
		ns = append(ns, n)
	}
	return ns
}

func ids(es []krpc.NodeInfo) []nodeid.ID {
	var out []nodeid.ID
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func bucketIDs(tb *Table, b int) []nodeid.ID {
	var out []nodeid.ID
	for _, e := range tb.buckets[b].entries {
		out = append(out, e.ID)
	}
	return out
}

func TestStates(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		now  time.Duration
		want State
	}{
		{"answered just now", Entry{LastResponse: t0}, 0, Good},
		{"answered 14m ago", Entry{LastResponse: t0}, 14 * time.Minute, Good},
		{"answered 15m ago", Entry{LastResponse: t0}, 15 * time.Minute, Questionable},
		{"answered long ago, queried us lately", Entry{LastResponse: t0, LastQuery: t0.Add(time.Hour)}, time.Hour + time.Minute, Good},
		{"only ever queried us", Entry{LastQuery: t0}, 0, Questionable},
		{"one failure", Entry{LastResponse: t0, Failures: 1}, 0, Good},
		{"two failures", Entry{LastResponse: t0, Failures: 2}, 0, Bad},
	}
	for _, tt := range tests {
		if got := tt.e.State(t0.Add(tt.now)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFullBucketOfGoodNodesKeepsThem(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	old := fill(tb, 3)
	extra := node(tb.Self(), 3, 99)
	if act := tb.Heard(extra, false, true, t0.Add(time.Minute)); act.Ping.Addr.IsValid() {
		t.Errorf("pinged %v though every node is good", act.Ping)
	}
	if !slices.Equal(bucketIDs(tb, 3), ids(old)) {
		t.Error("bucket changed")
	}
	if got := tb.Buckets(t0.Add(time.Minute)); len(got) != 1 || got[0].Replacements != 1 || got[0].Good != 8 {
		t.Errorf("buckets = %+v", got)
	}
}

func TestPingTheOldestThenEvict(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	old := fill(tb, 5)
	later := t0.Add(20 * time.Minute) // every node is questionable now
	cand := node(tb.Self(), 5, 50)
	act := tb.Heard(cand, false, true, later)
	if act.Ping.ID != old[0].ID {
		t.Fatalf("pinged %v, want the least recently seen %v", act.Ping, old[0])
	}
	// A second newcomer pings the next oldest, not the one already pinged.
	cand2 := node(tb.Self(), 5, 51)
	if act := tb.Heard(cand2, false, true, later.Add(time.Second)); act.Ping.ID != old[1].ID {
		t.Fatalf("second ping went to %v, want %v", act.Ping, old[1])
	}
	// old[1] answers: it stays and is good again.
	tb.Heard(old[1], false, true, later.Add(2*time.Second))
	if e, _ := tb.Get(old[1].ID); e.State(later.Add(2*time.Second)) != Good {
		t.Error("answering node not good")
	}
	// old[0] fails twice: it is replaced by the most recent replacement.
	tb.Failed(old[0].ID, later.Add(3*time.Second))
	if _, ok := tb.Get(old[0].ID); !ok {
		t.Fatal("evicted after one failure")
	}
	tb.Failed(old[0].ID, later.Add(4*time.Second))
	if _, ok := tb.Get(old[0].ID); ok {
		t.Fatal("still present after two failures")
	}
	if _, ok := tb.Get(cand2.ID); !ok {
		t.Errorf("replacement not promoted; bucket %x", bucketIDs(tb, 5))
	}
	if tb.Len() != 8 {
		t.Errorf("len %d", tb.Len())
	}
}

func TestBadNodeReplacedAtOnce(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	old := fill(tb, 0)
	// No replacements yet: failures leave the bad node in place.
	tb.Failed(old[4].ID, t0.Add(time.Minute))
	tb.Failed(old[4].ID, t0.Add(time.Minute))
	if e, ok := tb.Get(old[4].ID); !ok || e.State(t0.Add(time.Minute)) != Bad {
		t.Fatal("bad node missing")
	}
	if slices.Contains(ids(tb.Closest(old[4].ID, 8, t0.Add(time.Minute))), old[4].ID) {
		t.Error("Closest returned a bad node")
	}
	cand := node(tb.Self(), 0, 77)
	if act := tb.Heard(cand, false, false, t0.Add(2*time.Minute)); act.Ping.Addr.IsValid() {
		t.Error("pinged instead of replacing the bad node")
	}
	if _, ok := tb.Get(cand.ID); !ok {
		t.Error("newcomer did not replace the bad node")
	}
	if _, ok := tb.Get(old[4].ID); ok {
		t.Error("bad node still present")
	}
}

func TestBEP42Preference(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	old := fill(tb, 2) // all non-conforming
	secure := node(tb.Self(), 2, 42)
	// A conforming node that only queried us does not displace anyone.
	tb.Heard(secure, true, false, t0.Add(time.Minute))
	if _, ok := tb.Get(secure.ID); ok {
		t.Fatal("unverified conforming node displaced a good one")
	}
	tb.Heard(secure, true, true, t0.Add(2*time.Minute))
	if _, ok := tb.Get(secure.ID); !ok {
		t.Fatal("conforming node that answered was not preferred")
	}
	if _, ok := tb.Get(old[0].ID); ok {
		t.Error("the oldest non-conforming node was kept")
	}
	// The displaced node waits in the replacement cache.
	if b := tb.Buckets(t0.Add(2 * time.Minute)); b[0].Replacements != 1 {
		t.Errorf("replacements = %d, want 1", b[0].Replacements)
	}
}

func TestAddressChange(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	n := node(tb.Self(), 7, 1)
	tb.Heard(n, false, true, t0)
	moved := n
	moved.Addr = netip.MustParseAddrPort("10.9.9.9:1")
	tb.Heard(moved, false, false, t0.Add(time.Minute))
	if e, _ := tb.Get(n.ID); e.Addr != n.Addr {
		t.Error("a good node's address was moved by a query from elsewhere")
	}
	tb.Heard(moved, false, true, t0.Add(time.Hour)) // n is questionable now
	if e, _ := tb.Get(n.ID); e.Addr != moved.Addr {
		t.Error("a questionable node's address did not follow its answers")
	}
}

func TestSelfIgnoredAndClosest(t *testing.T) {
	self := nodeid.Random()
	tb := New(self, 8, t0)
	tb.Heard(krpc.NodeInfo{ID: self, Addr: netip.MustParseAddrPort("1.1.1.1:1")}, false, true, t0)
	if tb.Len() != 0 {
		t.Fatal("self entered the table")
	}
	var all []krpc.NodeInfo
	for b := range 20 {
		for i := range 3 {
			n := node(self, b, i)
			tb.Heard(n, false, true, t0)
			all = append(all, n)
		}
	}
	target := nodeid.Random()
	slices.SortFunc(all, func(a, b krpc.NodeInfo) int { return nodeid.Cmp(target, a.ID, b.ID) })
	if got := tb.Closest(target, 8, t0); !slices.Equal(ids(got), ids(all[:8])) {
		t.Errorf("Closest = %x\nwant %x", ids(got), ids(all[:8]))
	}
}

func TestStaleBuckets(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	tb.Heard(node(tb.Self(), 4, 1), false, true, t0)
	if got := tb.Stale(t0.Add(14 * time.Minute)); len(got) != 0 {
		t.Errorf("stale after 14m: %v", got)
	}
	// Buckets 0..4 (up to the deepest occupied) are due after 15 minutes;
	// bucket 4 changed at t0 too.
	got := tb.Stale(t0.Add(15 * time.Minute))
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("stale = %v", got)
	}
	tb.Refreshed(2, t0.Add(15*time.Minute))
	tb.Heard(node(tb.Self(), 3, 2), false, true, t0.Add(15*time.Minute))
	if got := tb.Stale(t0.Add(16 * time.Minute)); !slices.Equal(got, []int{0, 1, 4}) {
		t.Errorf("stale after refresh = %v", got)
	}
}

func TestReplacementCacheBounded(t *testing.T) {
	tb := New(nodeid.Random(), 2, t0)
	fill(tb, 1)
	for i := range 10 {
		tb.Heard(node(tb.Self(), 1, 10+i), false, true, t0.Add(time.Duration(i)*time.Second))
	}
	if b := tb.Buckets(t0); b[0].Replacements != 2 {
		t.Errorf("replacement cache holds %d, want 2", b[0].Replacements)
	}
}

func TestNewcomerFromQueryIsVerified(t *testing.T) {
	tb := New(nodeid.Random(), 8, t0)
	n := node(tb.Self(), 9, 1)
	act := tb.Heard(n, false, false, t0)
	if act.Ping.ID != n.ID {
		t.Fatalf("a node that only queried us was not pinged: %+v", act)
	}
	if len(tb.Closest(n.ID, 8, t0)) != 0 {
		t.Error("an unverified node is handed out by Closest")
	}
	// Its answer makes it good and visible.
	tb.Heard(n, false, true, t0.Add(time.Second))
	if got := tb.Closest(n.ID, 8, t0.Add(time.Second)); len(got) != 1 {
		t.Errorf("verified node not in Closest: %v", got)
	}
	// A node that never answered is bad after one failure.
	m := node(tb.Self(), 9, 2)
	tb.Heard(m, false, false, t0)
	tb.Failed(m.ID, t0.Add(time.Second))
	if e, _ := tb.Get(m.ID); e.State(t0.Add(time.Second)) != Bad {
		t.Errorf("unverified node after a failure is %v, want bad", e.State(t0.Add(time.Second)))
	}
	// Its next query earns it another ping, but only one at a time.
	if act := tb.Heard(m, false, false, t0.Add(2*time.Second)); act.Ping.ID != m.ID {
		t.Errorf("unverified node not pinged again: %+v", act)
	}
	if act := tb.Heard(m, false, false, t0.Add(3*time.Second)); act.Ping.Addr.IsValid() {
		t.Errorf("pinged twice at once: %+v", act)
	}
}

// TestQuarantine: a node that failed one query is not handed out until it
// answers again.
func TestQuarantine(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var self nodeid.ID
	tb := New(self, 8, t0)
	n := krpc.NodeInfo{ID: nodeid.ID{0x80, 1}, Addr: netip.MustParseAddrPort("10.0.0.1:1")}
	steps := []struct {
		name   string
		do     func()
		handed bool
	}{
		{"answered", func() { tb.Heard(n, false, true, t0) }, true},
		{"failed once", func() { tb.Failed(n.ID, t0.Add(time.Second)) }, false},
		{"answered again", func() { tb.Heard(n, false, true, t0.Add(2*time.Second)) }, true},
	}
	for _, st := range steps {
		st.do()
		got := len(tb.Closest(n.ID, 8, t0.Add(3*time.Second))) == 1
		if got != st.handed {
			t.Errorf("%s: handed out %v, want %v", st.name, got, st.handed)
		}
	}
}
