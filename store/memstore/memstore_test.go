package memstore

import (
	"testing"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := New(Options{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
