package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reads a daemon's figures at scrape time. Create it with
// NewCollector and register it on a prometheus.Registry.
type Collector struct {
	opt   Options
	descs []*prometheus.Desc
	store *storeCache
}

var _ prometheus.Collector = (*Collector)(nil)

// descriptions, shared by every Collector (they hold no state).
var (
	descBuildInfo = prometheus.NewDesc("shoal_build_info",
		"Always 1; labels give the daemon's version and the Go version it was built with.",
		[]string{"version", "goversion"}, nil)

	descSwarmBytes = prometheus.NewDesc("shoal_swarm_block_bytes_total",
		"Block payload bytes received (direction=in) and sent (direction=out) over the peer protocol.",
		[]string{"direction"}, nil)
	descSwarmDupBytes = prometheus.NewDesc("shoal_swarm_duplicate_bytes_total",
		"Bytes of good blocks received that were no longer wanted (endgame duplicates, races).",
		nil, nil)
	descSwarmBadBlocks = prometheus.NewDesc("shoal_swarm_bad_blocks_total",
		"Blocks received whose bytes did not match their CID.",
		nil, nil)
	descSwarmBlocks = prometheus.NewDesc("shoal_swarm_blocks_total",
		"Blocks received (direction=in) and sent (direction=out) over the peer protocol.",
		[]string{"direction"}, nil)
	descSwarmBanned = prometheus.NewDesc("shoal_swarm_banned_peers",
		"Peers refused now for having sent blocks that did not match their CID.",
		nil, nil)
	descSwarmPeers = prometheus.NewDesc("shoal_swarm_peers",
		"Connected peers, by who dialed (direction=inbound: they did; outbound: we did).",
		[]string{"direction"}, nil)
	descSwarmChoking = prometheus.NewDesc("shoal_swarm_peers_choking",
		"Connected peers choked: side=local counts peers we do not upload to, side=remote peers that do not upload to us.",
		[]string{"side"}, nil)
	descSwarmInterested = prometheus.NewDesc("shoal_swarm_peers_interested",
		"Connected peers with interest: side=local counts peers that have blocks we want, side=remote peers that want blocks from us.",
		[]string{"side"}, nil)

	descStoreBlocks = prometheus.NewDesc("shoal_store_blocks",
		"Blocks in the store, by kind (copy: bytes in the store; ref: a reference into a synced file).",
		[]string{"kind"}, nil)
	descStoreBytes = prometheus.NewDesc("shoal_store_block_bytes",
		"Bytes of block data in the store, by kind (copy: held in the store; ref: referenced in synced files).",
		[]string{"kind"}, nil)
	descStorePins = prometheus.NewDesc("shoal_store_pins",
		"Pinned roots.",
		nil, nil)
	descStoreDisk = prometheus.NewDesc("shoal_store_disk_bytes",
		"Bytes the store's database takes on disk.",
		nil, nil)
	descStoreErrors = prometheus.NewDesc("shoal_store_stats_errors_total",
		"Reads of the store statistics that failed or timed out; the shoal_store_* figures are absent while the last read failed.",
		nil, nil)
	descStoreLastSuccess = prometheus.NewDesc("shoal_store_stats_last_success_timestamp_seconds",
		"When the store statistics were last read successfully, in Unix seconds; 0 if never.",
		nil, nil)
	descStoreDuration = prometheus.NewDesc("shoal_store_stats_duration_seconds",
		"How long the last read of the store statistics took (they are cached between reads).",
		nil, nil)

	descDHTNodes = prometheus.NewDesc("shoal_dht_nodes",
		"Nodes in the DHT routing table, by state (good, questionable, bad).",
		[]string{"state"}, nil)
	descDHTReplacements = prometheus.NewDesc("shoal_dht_replacement_nodes",
		"Nodes waiting in the DHT routing table's replacement caches.",
		nil, nil)
	descDHTPackets = prometheus.NewDesc("shoal_dht_packets_total",
		"DHT datagrams read (direction=in) and sent (direction=out).",
		[]string{"direction"}, nil)
	descDHTDropped = prometheus.NewDesc("shoal_dht_dropped_packets_total",
		"DHT datagrams read and dropped, by reason (ignored: unusable address or unmatched response; malformed; rate_limited).",
		[]string{"reason"}, nil)
	descDHTQueries = prometheus.NewDesc("shoal_dht_queries_answered_total",
		"DHT queries from other nodes that this node answered.",
		nil, nil)
)

// NewCollector returns a collector of the sources in opt; sources that are
// nil are left out.
func NewCollector(opt Options) *Collector {
	opt = opt.withDefaults()
	c := &Collector{opt: opt, descs: []*prometheus.Desc{descBuildInfo}}
	if opt.Swarm != nil {
		c.descs = append(c.descs, descSwarmBytes, descSwarmDupBytes, descSwarmBadBlocks, descSwarmBlocks, descSwarmBanned,
			descSwarmPeers, descSwarmChoking, descSwarmInterested)
	}
	if opt.Store != nil {
		c.descs = append(c.descs, descStoreBlocks, descStoreBytes, descStorePins, descStoreDisk,
			descStoreErrors, descStoreLastSuccess, descStoreDuration)
		c.store = newStoreCache(opt)
	}
	if opt.DHT != nil {
		c.descs = append(c.descs, descDHTNodes, descDHTReplacements, descDHTPackets, descDHTDropped, descDHTQueries)
	}
	return c
}

// Describe sends the descriptions of every metric the collector may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect reads the sources and sends their figures.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.opt.Version, runtime.Version())
	if c.opt.Swarm != nil {
		c.collectSwarm(ch)
	}
	if c.store != nil {
		c.collectStore(ch)
	}
	if c.opt.DHT != nil {
		c.collectDHT(ch)
	}
}

func counter(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *Collector) collectSwarm(ch chan<- prometheus.Metric) {
	st := c.opt.Swarm.Stats()
	ch <- counter(descSwarmBytes, st.BytesIn, "in")
	ch <- counter(descSwarmBytes, st.BytesOut, "out")
	ch <- counter(descSwarmDupBytes, st.DupBytes)
	ch <- counter(descSwarmBadBlocks, st.BadBlocks)

	ch <- counter(descSwarmBlocks, st.BlocksIn, "in")
	ch <- counter(descSwarmBlocks, st.BlocksOut, "out")
	ch <- gauge(descSwarmBanned, float64(st.Banned))
	peers := c.opt.Swarm.Peers()
	var inbound, outbound, amChoking, peerChoking, amInterested, peerInterested float64
	for _, p := range peers {
		if p.Outbound {
			outbound++
		} else {
			inbound++
		}
		amChoking += b2f(p.AmChoking)
		peerChoking += b2f(p.PeerChoking)
		amInterested += b2f(p.AmInterested)
		peerInterested += b2f(p.PeerInterested)
	}
	ch <- gauge(descSwarmPeers, inbound, "inbound")
	ch <- gauge(descSwarmPeers, outbound, "outbound")
	ch <- gauge(descSwarmChoking, amChoking, "local")
	ch <- gauge(descSwarmChoking, peerChoking, "remote")
	ch <- gauge(descSwarmInterested, amInterested, "local")
	ch <- gauge(descSwarmInterested, peerInterested, "remote")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) collectStore(ch chan<- prometheus.Metric) {
	r := c.store.get()
	if r.ok {
		st := r.stats
		ch <- gauge(descStoreBlocks, float64(st.Blocks), "copy")
		ch <- gauge(descStoreBlocks, float64(st.Refs), "ref")
		ch <- gauge(descStoreBytes, float64(st.DataBytes), "copy")
		ch <- gauge(descStoreBytes, float64(st.RefBytes), "ref")
		ch <- gauge(descStorePins, float64(st.Pins))
		ch <- gauge(descStoreDisk, float64(st.DiskBytes))
	}
	ch <- counter(descStoreErrors, r.errors)
	last := 0.0
	if !r.lastSuccess.IsZero() {
		last = float64(r.lastSuccess.UnixNano()) / 1e9
	}
	ch <- gauge(descStoreLastSuccess, last)
	ch <- gauge(descStoreDuration, r.duration.Seconds())
}

func (c *Collector) collectDHT(ch chan<- prometheus.Metric) {
	var good, questionable, bad, repl float64
	for _, b := range c.opt.DHT.Table() {
		good += float64(b.Good)
		questionable += float64(b.Questionable)
		bad += float64(b.Bad)
		repl += float64(b.Replacements)
	}
	ch <- gauge(descDHTNodes, good, "good")
	ch <- gauge(descDHTNodes, questionable, "questionable")
	ch <- gauge(descDHTNodes, bad, "bad")
	ch <- gauge(descDHTReplacements, repl)
	st := c.opt.DHT.Stats()
	ch <- counter(descDHTPackets, st.PacketsIn, "in")
	ch <- counter(descDHTPackets, st.PacketsOut, "out")
	ch <- counter(descDHTDropped, st.Dropped, "ignored")
	ch <- counter(descDHTDropped, st.Malformed, "malformed")
	ch <- counter(descDHTDropped, st.RateLimited, "rate_limited")
	ch <- counter(descDHTQueries, st.Queries)
}

// mainVersion is the main module's version as the Go build records it.
func mainVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
