package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func TestCheckCid(t *testing.T) {
	sum := func(code uint64, length int) cid.Cid {
		h, err := mh.Sum([]byte("x"), code, length)
		if err != nil {
			t.Fatal(err)
		}
		return cid.NewCidV1(cid.Raw, h)
	}
	tests := []struct {
		name string
		c    cid.Cid
		ok   bool
	}{
		{"sha2-256", sum(mh.SHA2_256, -1), true},
		{"sha2-256 v0", cid.NewCidV0(sum(mh.SHA2_256, -1).Hash()), true},
		{"truncated sha2-256", sum(mh.SHA2_256, 20), false},
		{"sha2-512", sum(mh.SHA2_512, -1), false},
		{"identity", sum(mh.IDENTITY, -1), false},
		{"undefined", cid.Undef, false},
	}
	for _, tc := range tests {
		err := CheckCid(tc.c)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnsupportedCid)) {
			t.Errorf("%s: CheckCid = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	good := sum(mh.SHA2_256, -1)
	if err := VerifyBlock(good, []byte("x")); err != nil {
		t.Errorf("VerifyBlock of the right bytes = %v", err)
	}
	if err := VerifyBlock(good, []byte("y")); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("VerifyBlock of other bytes = %v, want ErrHashMismatch", err)
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("lock call did not return")
		return nil
	}
}

func TestGCLock(t *testing.T) {
	ctx := context.Background()
	var l GCLock
	if err := l.RLock(ctx); err != nil {
		t.Fatal(err)
	}
	locked := make(chan error, 1)
	go func() { locked <- l.Lock(ctx) }()
	// A batch opened while the collection waits gets in (no deadlock for a
	// goroutine that holds one batch and opens another)...
	if err := l.RLock(ctx); err != nil {
		t.Fatal(err)
	}
	l.RUnlock()
	select {
	case err := <-locked:
		t.Fatalf("Lock returned (%v) while a batch was open", err)
	default:
	}
	// ...and the collection gets the lock once the last batch ends.
	l.RUnlock()
	if err := waitErr(t, locked); err != nil {
		t.Fatal(err)
	}
	// While it holds the lock, new batches wait, or give up with ctx.
	cctx, cancel := context.WithCancel(ctx)
	rl := make(chan error, 1)
	go func() { rl <- l.RLock(cctx) }()
	cancel()
	if err := waitErr(t, rl); !errors.Is(err, context.Canceled) {
		t.Fatalf("RLock while locked, cancelled = %v", err)
	}
	go func() { rl <- l.RLock(ctx) }()
	l.Unlock()
	if err := waitErr(t, rl); err != nil {
		t.Fatal(err)
	}
	// A collection waiting for a batch gives up with its ctx.
	cctx, cancel = context.WithCancel(ctx)
	go func() { locked <- l.Lock(cctx) }()
	cancel()
	if err := waitErr(t, locked); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock while a batch is open, cancelled = %v", err)
	}
	l.RUnlock()
	if err := l.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}

func TestRootSets(t *testing.T) {
	var r RootSets
	c1 := cid.NewCidV1(cid.Raw, mh.Multihash(append([]byte{mh.SHA2_256, 32}, make([]byte, 32)...)))
	r.Add("a", func(context.Context) ([]cid.Cid, error) { return []cid.Cid{c1}, nil })
	r.Add("b", func(context.Context) ([]cid.Cid, error) { return []cid.Cid{c1, c1}, nil })
	got, err := r.Collect(context.Background())
	if err != nil || len(got) != 3 {
		t.Fatalf("Collect = %v, %v; want 3 roots", got, err)
	}
	r.Add("b", nil) // removes
	r.Add("a", func(context.Context) ([]cid.Cid, error) { return nil, errors.New("broken") })
	if _, err := r.Collect(context.Background()); err == nil {
		t.Fatal("Collect with a failing set succeeded")
	}
}
