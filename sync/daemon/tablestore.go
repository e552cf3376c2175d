package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
)

// tableStore keeps the DHT's routing table in the node's database, so a
// restarted daemon rejoins through the nodes it knew.
type tableStore struct {
	kv *badgerstore.KV
}

var tableKey = []byte("nodes")

func (t tableStore) LoadNodes() ([]dht.NodeInfo, error) {
	b, err := t.kv.Get(context.Background(), tableKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load DHT table: %w", err)
	}
	var nodes []dht.NodeInfo
	if err := json.Unmarshal(b, &nodes); err != nil {
		return nil, fmt.Errorf("load DHT table: %w", err)
	}
	return nodes, nil
}

func (t tableStore) SaveNodes(nodes []dht.NodeInfo) error {
	b, err := json.Marshal(nodes)
	if err != nil {
		return fmt.Errorf("save DHT table: %w", err)
	}
	return t.kv.Put(context.Background(), tableKey, b)
}
