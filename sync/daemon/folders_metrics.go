package daemon

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// folderCollector gives the shoal_folder_* metrics.
type folderCollector struct {
	fs                                              *folders
	files, bytes, needFiles, needBytes, localChange *prometheus.Desc
	pulledFiles, pulledBytes, conflicts, peers      *prometheus.Desc
	recordsIn, recordsOut                           *prometheus.Desc
}

func newFolderCollector(fs *folders) *folderCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_folder_"+name, help, labels, nil)
	}
	return &folderCollector{
		fs:          fs,
		files:       d("files", "Files in the folder's global index.", "folder"),
		bytes:       d("bytes", "Bytes of the files in the folder's global index.", "folder"),
		needFiles:   d("need_files", "Paths whose global version is not on disk here yet.", "folder"),
		needBytes:   d("need_bytes", "Bytes still to pull.", "folder"),
		localChange: d("local_changed_files", "Read-only folders: paths changed here and not sent.", "folder"),
		pulledFiles: d("pulled_files_total", "Paths written from peers' records since the daemon started.", "folder"),
		pulledBytes: d("pulled_bytes_total", "Bytes of the files written from peers' records.", "folder"),
		conflicts:   d("conflicts_total", "Conflict copies made.", "folder"),
		peers:       d("peers", "Peers sharing the folder now.", "folder"),
		recordsIn:   d("records_received_total", "Index records received from peers, all folders."),
		recordsOut:  d("records_sent_total", "Index records sent to peers, all folders."),
	}
}

func (c *folderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.files, c.bytes, c.needFiles, c.needBytes, c.localChange,
		c.pulledFiles, c.pulledBytes, c.conflicts, c.peers, c.recordsIn, c.recordsOut} {
		ch <- d
	}
}

func (c *folderCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g := func(d *prometheus.Desc, v float64, id string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, id)
	}
	k := func(d *prometheus.Desc, v float64, id string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, id)
	}
	for _, rf := range c.fs.list() {
		id := rf.key.ID().String()
		if st, err := folderStats(ctx, rf); err == nil {
			g(c.files, float64(st.Files), id)
			g(c.bytes, float64(st.Bytes), id)
			g(c.needFiles, float64(st.NeedFiles), id)
			g(c.needBytes, float64(st.NeedBytes), id)
			g(c.localChange, float64(st.LocalChanged), id)
		}
		s := rf.f.Status()
		k(c.pulledFiles, float64(s.PulledFiles), id)
		k(c.pulledBytes, float64(s.PulledBytes), id)
		k(c.conflicts, float64(len(s.Conflicts)), id)
		g(c.peers, float64(len(c.fs.session.Peers(rf.key.ID()))), id)
	}
	in, out := c.fs.session.Counts()
	ch <- prometheus.MustNewConstMetric(c.recordsIn, prometheus.CounterValue, float64(in))
	ch <- prometheus.MustNewConstMetric(c.recordsOut, prometheus.CounterValue, float64(out))
}
