package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// Defaults for the store statistics cache.
const (
	// DefaultStoreInterval is how long a store read is reused.
	DefaultStoreInterval = 30 * time.Second
	// DefaultStoreTimeout bounds one store read, below Prometheus's
	// default 10 s scrape timeout.
	DefaultStoreTimeout = 5 * time.Second
)

// Swarm is the part of *swarm.Swarm the metrics read.
type Swarm interface {
	Stats() swarm.Stats
	Peers() []swarm.PeerStats
}

// Store is the part of store.Store the metrics read.
type Store interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// DHT is the part of *dht.Server the metrics read.
type DHT interface {
	Table() []dht.BucketInfo
	Stats() dht.Stats
}

// Options says what to measure. A nil source (also a nil pointer in the
// interface) leaves its metrics out; every other zero value is a default.
type Options struct {
	// Version is the daemon's version for shoal_build_info; default the
	// main module's version from the build info.
	Version string
	// Swarm gives the shoal_swarm_* metrics (a *swarm.Swarm).
	Swarm Swarm
	// Store gives the shoal_store_* metrics (the node's store.Store).
	Store Store
	// DHT gives the shoal_dht_* metrics (a *dht.Server).
	DHT DHT
	// StoreInterval is how long a store read (successful or not) is
	// reused before the next scrape reads again. Default
	// DefaultStoreInterval; negative: read on every scrape.
	StoreInterval time.Duration
	// StoreTimeout bounds one store read. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// Logger receives failed store reads and scrape errors. Default: discarded.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Version == "" {
		o.Version = mainVersion()
	}
	if isNil(o.Swarm) {
		o.Swarm = nil
	}
	if isNil(o.Store) {
		o.Store = nil
	}
	if isNil(o.DHT) {
		o.DHT = nil
	}
	if o.StoreInterval == 0 {
		o.StoreInterval = DefaultStoreInterval
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// isNil reports whether v is nil or a nil pointer in an interface, such
// as a daemon's *dht.Server when it runs no DHT.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Metrics is a daemon's registry and its HTTP handler.
type Metrics struct {
	reg *prometheus.Registry
	h   http.Handler
}

// New returns a registry holding the Go runtime and process collectors and
// a Collector over opt, with its handler.
func New(opt Options) (*Metrics, error) {
	opt = opt.withDefaults()
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		NewCollector(opt),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return &Metrics{reg: reg, h: Handler(reg, opt.Logger)}, nil
}

// Registry returns the registry, for adding collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ServeHTTP serves the metrics in the Prometheus exposition formats.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.h.ServeHTTP(w, r) }

// Handler serves reg's metrics. A collector that fails is logged and left
// out of the scrape instead of failing it; the handler counts its own
// requests and errors (promhttp_metric_handler_*) in reg.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
		// Scrapes are cheap; more than a few at once means something
		// loops on the endpoint.
		MaxRequestsInFlight: 4,
	})
	return promhttp.InstrumentMetricHandler(reg, h)
}

// errorLog passes promhttp's errors to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	e.l.Warn("metrics: " + fmt.Sprint(v...))
}
