package events

import (
	"testing"
	"time"
)

func TestBus(t *testing.T) {
	b := New()
	s := b.Subscribe(2)
	b.Publish(Event{Type: FileSynced, Path: "a"})
	b.Publish(Event{Type: FileSynced, Path: "b"})
	b.Publish(Event{Type: FileSynced, Path: "c"}) // dropped: buffer full
	b.Publish(Event{Type: FileSynced, Path: "d"}) // dropped too
	if e := <-s.C(); e.Path != "a" || e.Seq != 1 {
		t.Fatalf("first = %+v", e)
	}
	<-s.C()
	b.Publish(Event{Type: FileSynced, Path: "e"})
	if e := <-s.C(); e.Type != EventsDropped || e.Data != "2" {
		t.Fatalf("want a drop notice of 2, got %+v", e)
	}
	if e := <-s.C(); e.Path != "e" || e.Seq != 5 {
		t.Fatalf("after the drop = %+v", e)
	}
	s.Close()
	s.Close()
	b.Publish(Event{Type: FileSynced})
	if _, ok := <-s.C(); ok {
		t.Fatal("closed subscription still delivers")
	}
}

// TestBusTellsOfLossWithoutLaterEvent: a subscriber that lost the last
// events of a burst hears of it once it has room, with no event after.
func TestBusTellsOfLossWithoutLaterEvent(t *testing.T) {
	b := New()
	s := b.Subscribe(1)
	defer s.Close()
	b.Publish(Event{Type: FileSynced, Path: "a"})
	b.Publish(Event{Type: FolderState, Data: "idle"}) // lost: buffer full
	if e := <-s.C(); e.Path != "a" {
		t.Fatalf("first = %+v", e)
	}
	select {
	case e := <-s.C():
		if e.Type != EventsDropped || e.Data != "1" {
			t.Fatalf("want a drop notice of 1, got %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no drop notice without a later event")
	}
	b.Publish(Event{Type: FileSynced, Path: "b"})
	if e := <-s.C(); e.Path != "b" {
		t.Fatalf("after the notice = %+v", e)
	}
}
