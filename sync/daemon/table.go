package daemon

import (
	"time"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// TableInfo is the DHT routing table as `shoal dht table` prints it.
type TableInfo struct {
	ID      string       `json:"id"`
	Addr    string       `json:"addr"`
	Buckets []BucketInfo `json:"buckets"`
}

// BucketInfo is one non-empty bucket.
type BucketInfo struct {
	Index        int        `json:"index"`
	Good         int        `json:"good"`
	Questionable int        `json:"questionable"`
	Bad          int        `json:"bad"`
	Replacements int        `json:"replacements"`
	Nodes        []NodeInfo `json:"nodes"`
}

// NodeInfo is one routing-table entry.
type NodeInfo struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	State string `json:"state"`
}

// NewTableInfo describes s's routing table as of now.
func NewTableInfo(s *dht.Server, now time.Time) TableInfo {
	t := TableInfo{ID: nodeid.String(s.ID()), Addr: s.Addr().String()}
	for _, b := range s.Table() {
		bi := BucketInfo{Index: b.Index, Good: b.Good, Questionable: b.Questionable, Bad: b.Bad, Replacements: b.Replacements}
		for _, e := range b.Nodes {
			bi.Nodes = append(bi.Nodes, NodeInfo{ID: nodeid.String(e.ID), Addr: e.Addr.String(), State: e.State(now).String()})
		}
		t.Buckets = append(t.Buckets, bi)
	}
	return t
}
