// Package cborx holds the one strict CBOR profile shoal decodes and
// encodes with, so that the wire protocol and the folder index cannot
// drift apart: definite lengths only, no tags, no duplicate map keys,
// valid UTF-8, no integer conversions, and the deterministic (core)
// encoding. Callers set only the size limits.
package cborx

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits bound what one decoded item may hold.
type Limits struct {
	Nesting  int // depth of arrays and maps
	Array    int // elements of one array
	MapPairs int // pairs of one map
}

// DecMode returns the strict decoding mode with limits l. It panics on
// limits the library refuses, which is a programming error.
func DecMode(l Limits) cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  l.Nesting,
		MaxArrayElements: l.Array,
		MaxMapPairs:      l.MapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("cborx: decode options %+v: %v", l, err))
	}
	return dm
}

// EncMode returns the deterministic encoding mode, definite lengths only.
func EncMode() cbor.EncMode {
	opts := cbor.CoreDetEncOptions()
	opts.IndefLength = cbor.IndefLengthForbidden
	em, err := opts.EncMode()
	if err != nil {
		panic(fmt.Sprintf("cborx: encode options: %v", err))
	}
	return em
}
