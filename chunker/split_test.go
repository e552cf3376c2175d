package chunker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"
)

// collect reads every chunk of a Splitter, copied.
func collect(t *testing.T, s Splitter) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		c, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, bytes.Clone(c))
	}
}

// readers returns the ways the tests feed data: in memory, from a real file,
// and through readers that return short reads.
func readers(t *testing.T, data []byte) map[string]func() io.Reader {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]func() io.Reader{
		"bytes": func() io.Reader { return bytes.NewReader(data) },
		"file": func() io.Reader {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		},
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
		"opaque":  func() io.Reader { return io.MultiReader(bytes.NewReader(data)) }, // no size hint
		"lying":   func() io.Reader { return lyingLen{bytes.NewReader(data)} },       // size hint too small
	}
	if len(data) <= 300<<10 {
		m["onebyte"] = func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }
	}
	return m
}

// lyingLen claims to have 10 bytes left, whatever it has.
type lyingLen struct{ io.Reader }

func (lyingLen) Len() int { return 10 }

var splitConfigs = []Config{
	DefaultConfig(),
	{Min: 2048, Avg: 8192, Max: 32768},
	{Min: 64, Avg: 128, Max: MaxChunkSize},
	{Kind: Fixed, Size: 262144},
	{Kind: Fixed, Size: 4093},
	{Kind: Fixed, Size: MaxChunkSize},
}

var splitSizes = []int{0, 1, 100, 16 << 10, 300 << 10, 5<<20 + 17}

func TestSplitterMatchesCut(t *testing.T) {
	for _, n := range splitSizes {
		data := randBytes(uint64(n), n)
		rs := readers(t, data)
		for _, c := range splitConfigs {
			want := cutAll(newCutter(c), data, refCutAny)
			for name, r := range rs {
				got := collect(t, NewSplitter(r(), c))
				if !bytes.Equal(bytes.Join(got, nil), data) {
					t.Fatalf("%s, %d bytes, %s reader: chunks do not join to the input", c, n, name)
				}
				lens := make([]int, len(got))
				for i, g := range got {
					lens[i] = len(g)
				}
				if fmt.Sprint(lens) != fmt.Sprint(want) {
					t.Fatalf("%s, %d bytes, %s reader: chunk lengths %v, want %v", c, n, name, lens, want)
				}
			}
		}
	}
}

// refCutAny is refCut, also for fixed-size configs.
func refCutAny(k *cutter, b []byte) int { return refCut(k, b) }

func TestSplitterEOFSticky(t *testing.T) {
	s := NewSplitter(bytes.NewReader(nil), Config{})
	for range 3 {
		if c, err := s.Next(); err != io.EOF || c != nil {
			t.Fatalf("Next on empty stream = %d bytes, %v; want io.EOF", len(c), err)
		}
	}
}

func TestSplitterErrors(t *testing.T) {
	if _, err := NewSplitter(bytes.NewReader([]byte("x")), Config{Kind: Fixed}).Next(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid config: Next error %v, want ErrInvalidConfig", err)
	}
	boom := errors.New("boom")
	data := randBytes(5, 3<<20)
	s := NewSplitter(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)), DefaultConfig())
	total := 0
	var err error
	for err == nil {
		var c []byte
		c, err = s.Next()
		total += len(c)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("read error: Next returned %v, want %v", err, boom)
	}
	if total == 0 || total > len(data) {
		t.Errorf("read error: got %d bytes of chunks before it, want some of %d", total, len(data))
	}
	if _, again := s.Next(); !errors.Is(again, boom) {
		t.Errorf("Next after error = %v, want the same error", again)
	}
	s = NewSplitter(iotest.ErrReader(nil), DefaultConfig()) // (0, nil) forever
	if _, err := s.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("reader without progress: %v, want io.ErrNoProgress", err)
	}
}

// sequential is what Split must equal: Splitter plus SHA-256, in order.
func sequential(t *testing.T, data []byte, c Config) []Chunk {
	var out []Chunk
	off := int64(0)
	for i, d := range collect(t, NewSplitter(bytes.NewReader(data), c)) {
		out = append(out, Chunk{Index: i, Offset: off, Data: d, Sum: sha256.Sum256(d)})
		off += int64(len(d))
	}
	return out
}

// splitFunc runs Split or SplitBytes on some fixed input.
type splitFunc func(context.Context, Options, func(Chunk) error) error

// splits returns Split on each of readers(data), and SplitBytes on data.
func splits(t *testing.T, data []byte) map[string]splitFunc {
	m := map[string]splitFunc{
		"SplitBytes": func(ctx context.Context, opt Options, fn func(Chunk) error) error {
			return SplitBytes(ctx, data, opt, fn)
		},
	}
	for name, r := range readers(t, data) {
		m["Split/"+name] = func(ctx context.Context, opt Options, fn func(Chunk) error) error {
			return Split(ctx, r(), opt, fn)
		}
	}
	return m
}

func TestSplitMatchesSequential(t *testing.T) {
	for _, n := range splitSizes {
		data := randBytes(uint64(n)+1, n)
		ss := splits(t, data)
		for _, c := range splitConfigs {
			want := sequential(t, data, c)
			for _, workers := range []int{1, 0, 7} { // 0: GOMAXPROCS
				for name, split := range ss {
					var got []Chunk
					err := split(context.Background(), Options{Config: c, Workers: workers}, func(ch Chunk) error {
						ch.Data = bytes.Clone(ch.Data)
						got = append(got, ch)
						return nil
					})
					where := fmt.Sprintf("%s, %d bytes, %d workers, %s", c, n, workers, name)
					if err != nil {
						t.Fatalf("%s: Split: %v", where, err)
					}
					if len(got) != len(want) {
						t.Fatalf("%s: %d chunks, want %d", where, len(got), len(want))
					}
					for i := range want {
						g, w := got[i], want[i]
						if g.Index != w.Index || g.Offset != w.Offset || g.Sum != w.Sum || !bytes.Equal(g.Data, w.Data) {
							t.Fatalf("%s: chunk %d = {%d %d %x %d bytes}, want {%d %d %x %d bytes}", where, i,
								g.Index, g.Offset, g.Sum[:4], len(g.Data), w.Index, w.Offset, w.Sum[:4], len(w.Data))
						}
					}
				}
			}
		}
	}
}

func TestSplitStops(t *testing.T) {
	data := randBytes(9, 16<<20)
	stop := errors.New("stop here")

	for name, split := range splits(t, data) {
		if name != "SplitBytes" && name != "Split/bytes" && name != "Split/file" {
			continue
		}
		t.Run(name+"/fn error", func(t *testing.T) {
			calls := 0
			err := split(context.Background(), Options{Workers: 2}, func(Chunk) error {
				calls++
				if calls == 5 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || calls != 5 {
				t.Fatalf("Split = %v after %d calls, want %v after 5", err, calls, stop)
			}
		})
		t.Run(name+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			err := split(ctx, Options{Workers: 2}, func(Chunk) error {
				calls++
				if calls == 3 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) || calls != 3 {
				t.Fatalf("Split = %v after %d calls, want context.Canceled after 3", err, calls)
			}
		})
	}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Split(ctx, bytes.NewReader(data), Options{}, func(Chunk) error {
			t.Fatal("fn called with a cancelled context")
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Split = %v, want context.Canceled", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(data[:5<<20]), iotest.ErrReader(stop))
		var got int64
		err := Split(context.Background(), r, Options{Workers: 2}, func(c Chunk) error {
			if c.Offset != got {
				t.Fatalf("chunk at offset %d, want %d", c.Offset, got)
			}
			got += int64(len(c.Data))
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("Split = %v, want %v", err, stop)
		}
		if got == 0 || got > 5<<20 {
			t.Errorf("got %d bytes of chunks before the read error, want some of %d", got, 5<<20)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		err := Split(context.Background(), bytes.NewReader(data), Options{Config: Config{Kind: Fixed}}, func(Chunk) error { return nil })
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("Split = %v, want ErrInvalidConfig", err)
		}
	})
}

// TestSplitAllocs checks that buffers are recycled: allocations do not grow
// with the number of chunks.
func TestSplitAllocs(t *testing.T) {
	data := randBytes(10, 32<<20)
	opt := Options{Config: Config{Kind: Fixed, Size: 4096}, Workers: 2} // 8192 chunks
	allocs := testing.AllocsPerRun(3, func() {
		if err := Split(context.Background(), bytes.NewReader(data), opt, func(Chunk) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 60 {
		t.Errorf("Split of 8192 chunks made %.0f allocations, want a small constant", allocs)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := Split(context.Background(), bytes.NewReader(data), opt, func(Chunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Four 2 MiB buffers plus bookkeeping; without recycling it would be
	// at least the 32 MiB of input.
	if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
		t.Errorf("Split of 32 MiB allocated %d bytes, want buffers recycled (< 10 MiB)", n)
	}
	t.Logf("%.0f allocations, %d bytes", allocs, after.TotalAlloc-before.TotalAlloc)
}
