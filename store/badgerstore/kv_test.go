package badgerstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

func mustCast(t *testing.T, key string) cid.Cid {
	t.Helper()
	c, err := cid.Cast([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kvDump(t *testing.T, kv *KV, prefix string) string {
	t.Helper()
	out := ""
	err := kv.Iterate(ctx, []byte(prefix), func(k, v []byte) error {
		out += fmt.Sprintf("%s=%s;", k, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKV(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	a, ab := s.KV("a"), s.KV("ab")
	for _, kv := range []struct {
		ns   *KV
		k, v string
	}{{a, "x/2", "2"}, {a, "x/1", "1"}, {a, "y", "3"}, {ab, "x/9", "other"}} {
		if err := kv.ns.Put(ctx, []byte(kv.k), []byte(kv.v)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ns     *KV
		prefix string
		want   string
	}{
		{a, "", "x/1=1;x/2=2;y=3;"},
		{a, "x/", "x/1=1;x/2=2;"},
		{a, "z", ""},
		{ab, "", "x/9=other;"},
	}
	for _, tc := range tests {
		if got := kvDump(t, tc.ns, tc.prefix); got != tc.want {
			t.Errorf("Iterate(%s, %q) = %q, want %q", tc.ns.name, tc.prefix, got, tc.want)
		}
	}
	if v, err := a.Get(ctx, []byte("y")); err != nil || string(v) != "3" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := a.Delete(ctx, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, []byte("y")); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), `kv a: key "y": `) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound naming the key", err)
	}
	// Namespaces do not see blocks or pins either.
	if got := kvDump(t, s.KV("b"), ""); got != "" {
		t.Fatalf("namespace b sees %q", got)
	}
}

func TestKVUpdateAtomic(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	kv := s.KV("idx")
	if err := kv.Put(ctx, []byte("seq"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := kv.Update(ctx, func(txn *KVTxn) error {
		if err := txn.Put([]byte("seq"), []byte("2")); err != nil {
			return err
		}
		if err := txn.Put([]byte("rec/2"), []byte("r")); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if v, err := txn.Get([]byte("seq")); err != nil || string(v) != "2" {
			t.Errorf("Get inside Update = %q, %v", v, err)
		}
		n := 0
		if err := txn.Iterate([]byte("rec/"), func(k, v []byte) error { n++; return nil }); err != nil || n != 1 {
			t.Errorf("Iterate inside Update saw %d keys, %v", n, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if got := kvDump(t, kv, ""); got != "seq=1;" {
		t.Fatalf("after a failed Update: %q, want only seq=1", got)
	}
	err = kv.Update(ctx, func(txn *KVTxn) error {
		if err := txn.Put([]byte("seq"), []byte("2")); err != nil {
			return err
		}
		return txn.Put([]byte("rec/2"), []byte("r"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := kvDump(t, kv, ""); got != "rec/2=r;seq=2;" {
		t.Fatalf("after Update: %q", got)
	}
}

func TestKVUpdateConcurrentIncrements(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	kv := s.KV("ctr")
	const workers, each = 4, 25
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				err := kv.Update(ctx, func(txn *KVTxn) error {
					v, err := txn.Get([]byte("n"))
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					n := 0
					if v != nil {
						fmt.Sscan(string(v), &n)
					}
					return txn.Put([]byte("n"), []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if v, err := kv.Get(ctx, []byte("n")); err != nil || string(v) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %q, %v; want %d (lost updates)", v, err, workers*each)
	}
}

func TestKVUpdateTooBig(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	kv := s.KV("big")
	value := make([]byte, 1000)
	err := kv.Update(ctx, func(txn *KVTxn) error {
		for i := range 10000 { // ~10 MB
			if err := txn.Put([]byte(fmt.Sprint(i)), value); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTxnTooBig) {
		t.Fatalf("Update of 10 MB = %v, want ErrTxnTooBig", err)
	}
	if got := kvDump(t, kv, ""); got != "" {
		t.Fatalf("a failed Update left %d bytes of keys", len(got))
	}
}

func TestKVIterateFromAndView(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	kv := s.KV("t")
	for _, k := range []string{"a1", "a2", "a3", "b1"} {
		if err := kv.Put(ctx, []byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		prefix, start string
		stopAt        string
		want          []string
	}{
		{"a", "a2", "", []string{"a2", "a3"}},
		{"a", "a", "", []string{"a1", "a2", "a3"}},
		{"a", "a25", "", []string{"a3"}},
		{"a", "b", "", nil},
		{"a", "a1", "a2", []string{"a1", "a2"}},
		{"", "a3", "", []string{"a3", "b1"}},
	}
	for _, tt := range tests {
		var got []string
		err := kv.View(ctx, func(txn *KVTxn) error {
			return txn.IterateFrom([]byte(tt.prefix), []byte(tt.start), func(k, v []byte) error {
				if string(v) != "v"+string(k) {
					t.Errorf("value of %s = %s", k, v)
				}
				got = append(got, string(k))
				if string(k) == tt.stopAt {
					return ErrStop
				}
				return nil
			})
		})
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("IterateFrom(%q, %q) = %v, %v; want %v", tt.prefix, tt.start, got, err, tt.want)
		}
	}
}

func TestKVIterateBefore(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	kv := s.KV("t")
	other := s.KV("u") // the namespace right after: never seen
	for _, k := range []string{"a1", "a2", "a3", "b1", "b\xff"} {
		if err := kv.Put(ctx, []byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Put(ctx, []byte("a0"), []byte("other")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix, end string
		noEnd       bool
		stopAt      string
		want        []string
	}{
		{"a", "", true, "", []string{"a3", "a2", "a1"}},
		{"a", "a3", false, "", []string{"a2", "a1"}},
		{"a", "a25", false, "", []string{"a2", "a1"}},
		{"a", "a1", false, "", nil},
		{"a", "", false, "", nil},
		{"a", "", true, "a2", []string{"a3", "a2"}},
		{"b", "", true, "", []string{"b\xff", "b1"}},
		{"", "", true, "", []string{"b\xff", "b1", "a3", "a2", "a1"}},
		{"", "b1", false, "", []string{"a3", "a2", "a1"}},
		{"c", "", true, "", nil},
	}
	for _, tt := range tests {
		var end []byte
		if !tt.noEnd {
			end = []byte(tt.end)
		}
		var got []string
		err := kv.View(ctx, func(txn *KVTxn) error {
			return txn.IterateBefore([]byte(tt.prefix), end, func(k, v []byte) error {
				if string(v) != "v"+string(k) {
					t.Errorf("value of %q = %q", k, v)
				}
				got = append(got, string(k))
				if string(k) == tt.stopAt {
					return ErrStop
				}
				return nil
			})
		})
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("IterateBefore(%q, %q) = %q, %v; want %q", tt.prefix, end, got, err, tt.want)
		}
	}
}
