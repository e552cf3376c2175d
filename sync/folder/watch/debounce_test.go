package watch

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// step is one thing done to a Debouncer at a fake time: events on paths,
// or a Due call and what it must return.
type step struct {
	at     int // ms after t0
	events []string
	due    []string // checked when events is nil
	next   int      // ms after t0 Next must say after this step; -1: nothing pending
}

func TestDebouncer(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"one event waits for the quiet period", []step{
			{at: 0, events: []string{"a"}, next: 75},
			{at: 74, due: nil, next: 75},
			{at: 75, due: []string{"a"}, next: -1},
			{at: 500, due: nil, next: -1},
		}},
		{"a new event restarts the quiet period", []step{
			{at: 0, events: []string{"a"}, next: 75},
			{at: 50, events: []string{"a"}, next: 125},
			{at: 100, due: nil, next: 125},
			{at: 125, due: []string{"a"}, next: -1},
		}},
		{"repeated events in one instant count once", []step{
			{at: 0, events: []string{"a", "a", "a"}, next: 75},
			{at: 75, due: []string{"a"}, next: -1},
		}},
		{"paths are independent and come out sorted", []step{
			{at: 0, events: []string{"b", "a"}, next: 75},
			{at: 10, events: []string{"c"}, next: 75},
			{at: 80, due: []string{"a", "b"}, next: 85},
			{at: 85, due: []string{"c"}, next: -1},
		}},
		{"a path that keeps changing is reported every MaxDelay", keepChanging()},
		{"a path reported early starts over", []step{
			{at: 0, events: []string{"a"}, next: 75},
			{at: 75, due: []string{"a"}, next: -1},
			{at: 76, events: []string{"a"}, next: 151},
			{at: 151, due: []string{"a"}, next: -1},
		}},
		{"Due late returns everything overdue", []step{
			{at: 0, events: []string{"x"}, next: 75},
			{at: 30, events: []string{"y"}, next: 75},
			{at: 5000, due: []string{"x", "y"}, next: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDebouncer(75*time.Millisecond, time.Second)
			for i, s := range tt.steps {
				if s.events != nil {
					for _, p := range s.events {
						d.Event(p, ms(s.at))
					}
				} else if got := d.Due(ms(s.at)); !slices.Equal(got, s.due) {
					t.Fatalf("step %d: Due(+%dms) = %q, want %q", i, s.at, got, s.due)
				}
				var want time.Time
				if s.next >= 0 {
					want = ms(s.next)
				}
				if got := d.Next(); !got.Equal(want) {
					t.Fatalf("step %d (+%dms): Next = %v, want %v", i, s.at, got.Sub(t0), want.Sub(t0))
				}
			}
		})
	}
}

// keepChanging writes to "log" every 50 ms for 2.5 s (never 75 ms quiet):
// it must come out at 1000 ms, at 2000 ms (1 s after the first event
// after the report, at 1000 ms), then once quiet after the last write.
func keepChanging() []step {
	var steps []step
	for at := 0; at <= 2500; at += 50 {
		switch at {
		case 1000:
			steps = append(steps, step{at: at, due: []string{"log"}, next: -1})
		case 2000:
			steps = append(steps, step{at: at, due: []string{"log"}, next: -1})
		}
		next := at + 75
		switch {
		case at < 1000:
			next = min(next, 1000)
		case at < 2000:
			next = min(next, 2000)
		}
		steps = append(steps, step{at: at, events: []string{"log"}, next: next})
	}
	return append(steps,
		step{at: 2574, due: nil, next: 2575},
		step{at: 2575, due: []string{"log"}, next: -1})
}

func TestDebouncerManyPaths(t *testing.T) {
	d := NewDebouncer(75*time.Millisecond, time.Second)
	const n = 20000
	for i := range n {
		d.Event(fmt.Sprintf("dir/%05d", i), ms(i/100)) // 100 paths per ms, over 200 ms
	}
	if d.Len() != n {
		t.Fatalf("Len = %d, want %d", d.Len(), n)
	}
	var got []string
	for at := 0; d.Len() > 0; at++ {
		due := d.Due(ms(at))
		for _, p := range due {
			var i int
			fmt.Sscanf(p, "dir/%05d", &i)
			if when := i/100 + 75; when != at {
				t.Fatalf("%s reported at +%dms, want +%dms", p, at, when)
			}
		}
		got = append(got, due...)
		if at > 1000 {
			t.Fatal("paths still pending after 1 s")
		}
	}
	if len(got) != n || !slices.IsSorted(got) {
		t.Fatalf("got %d paths (sorted %v), want %d in order", len(got), slices.IsSorted(got), n)
	}
}

// TestDebouncerBounded checks that a path hammered with events does not
// grow the queue without bound.
func TestDebouncerBounded(t *testing.T) {
	d := NewDebouncer(75*time.Millisecond, time.Hour)
	for i := range 100000 {
		d.Event("hot", t0.Add(time.Duration(i)*time.Microsecond))
	}
	if len(d.queue) > 4*d.Len()+65 {
		t.Fatalf("queue holds %d entries for %d paths", len(d.queue), d.Len())
	}
	last := t0.Add(99999 * time.Microsecond)
	if got, want := d.Next(), last.Add(75*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	if got := d.Due(last.Add(75 * time.Millisecond)); !slices.Equal(got, []string{"hot"}) {
		t.Fatalf("Due = %q", got)
	}
}
