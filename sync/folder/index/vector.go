package index

import (
	"slices"
)

// Counter is one device's entry in a version vector.
// It encodes as a two-element CBOR array [ID, Value].
type Counter struct {
	_     struct{} `cbor:",toarray"`
	ID    uint64
	Value uint64
}

// Vector is a version vector: per device, how many changes of a file it
// has made. Counters are sorted by ID and none is zero.
type Vector []Counter

// Ordering is how two vectors relate.
type Ordering int

// Orderings of Vector.Compare.
const (
	Equal      Ordering = iota // the same changes
	Greater                    // the receiver has every change of the other and more
	Lesser                     // the other has every change of the receiver and more
	Concurrent                 // each has a change the other lacks: a conflict
)

func (o Ordering) String() string {
	return [...]string{"equal", "greater", "lesser", "concurrent"}[o]
}

// Get returns the counter of device id.
func (v Vector) Get(id uint64) uint64 {
	i, ok := slices.BinarySearchFunc(v, id, func(c Counter, id uint64) int { return cmpU64(c.ID, id) })
	if !ok {
		return 0
	}
	return v[i].Value
}

// Update returns a copy of v with device id's counter one higher.
func (v Vector) Update(id uint64) Vector {
	out := slices.Clone(v)
	i, ok := slices.BinarySearchFunc(out, id, func(c Counter, id uint64) int { return cmpU64(c.ID, id) })
	if ok {
		out[i].Value++
		return out
	}
	return slices.Insert(out, i, Counter{ID: id, Value: 1})
}

// Merge returns the vector holding, per device, the larger counter of v and o.
func (v Vector) Merge(o Vector) Vector {
	out := make(Vector, 0, max(len(v), len(o)))
	i, j := 0, 0
	for i < len(v) || j < len(o) {
		switch {
		case j == len(o) || (i < len(v) && v[i].ID < o[j].ID):
			out = append(out, v[i])
			i++
		case i == len(v) || o[j].ID < v[i].ID:
			out = append(out, o[j])
			j++
		default:
			out = append(out, Counter{ID: v[i].ID, Value: max(v[i].Value, o[j].Value)})
			i++
			j++
		}
	}
	return out
}

// Compare says how v relates to o.
func (v Vector) Compare(o Vector) Ordering {
	greater, lesser := false, false
	i, j := 0, 0
	for i < len(v) || j < len(o) {
		var a, b uint64
		switch {
		case j == len(o) || (i < len(v) && v[i].ID < o[j].ID):
			a = v[i].Value
			i++
		case i == len(v) || o[j].ID < v[i].ID:
			b = o[j].Value
			j++
		default:
			a, b = v[i].Value, o[j].Value
			i++
			j++
		}
		if a > b {
			greater = true
		} else if b > a {
			lesser = true
		}
	}
	switch {
	case greater && lesser:
		return Concurrent
	case greater:
		return Greater
	case lesser:
		return Lesser
	}
	return Equal
}

// valid reports whether v is sorted by ID with no duplicate or zero counter.
func (v Vector) valid() bool {
	for i, c := range v {
		if c.Value == 0 || (i > 0 && v[i-1].ID >= c.ID) {
			return false
		}
	}
	return true
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
