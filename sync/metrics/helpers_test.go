package metrics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
)

var discard = slog.New(slog.DiscardHandler)

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// scrape GETs url and parses the text exposition format.
func scrape(t *testing.T, url string) families {
	t.Helper()
	f, err := fetchMetrics(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fetchMetrics is scrape for goroutines other than the test's.
func fetchMetrics(ctx context.Context, url string) (families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse scrape of %s: %w\n%s", url, err, body)
	}
	return fams, nil
}

// serve starts a real HTTP server for m.
func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// value returns the value of the sample of family name whose labels are
// exactly the name=value pairs given.
func (f families) value(name string, labels ...string) (float64, bool) {
	mf, ok := f[name]
	if !ok {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// must returns the value or fails the test.
func (f families) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := f.value(name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape (families: %v)", name, labels, f.names("shoal_"))
	}
	return v
}

// names lists the families whose names start with prefix.
func (f families) names(prefix string) []string {
	var out []string
	for n := range f {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// openStore opens a real badger store in a temp dir, closed at cleanup.
func openStore(t *testing.T) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func randBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// putFile stores data in st as a UnixFS file of raw leaves of chunk bytes
// and returns its root and how many blocks the DAG has.
func putFile(t *testing.T, ctx context.Context, st store.Store, data []byte, chunk int) (cid.Cid, int) {
	root, n, _ := putFileBytes(t, ctx, st, data, chunk)
	return root, n
}

// putFileBytes is putFile that also returns the bytes of the DAG's
// blocks (the file's bytes and its inner nodes').
func putFileBytes(t *testing.T, ctx context.Context, st store.Store, data []byte, chunk int) (cid.Cid, int, int64) {
	t.Helper()
	b := st.NewBatch(ctx)
	defer b.Discard()
	n, size := 0, int64(len(data))
	fb := unixfs.NewFileBuilder(func(blk unixfs.Block) error {
		n++
		size += int64(len(blk.Data))
		return b.Put(blk.Cid, blk.Data)
	})
	for off := 0; off < len(data); off += chunk {
		leaf := data[off:min(off+chunk, len(data))]
		c := unixfs.RawCID(sha256.Sum256(leaf))
		if err := b.Put(c, leaf); err != nil {
			t.Fatal(err)
		}
		n++
		if err := fb.Add(c, uint64(len(leaf))); err != nil {
			t.Fatal(err)
		}
	}
	root, _, err := fb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return root, n, size
}

// waitFor waits until cond holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
