package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// banStore keeps the swarm's ban list in the node's database, so that a
// restarted daemon still refuses the peers it caught sending bad blocks.
type banStore struct {
	kv *badgerstore.KV
}

var bansKey = []byte("bans")

func (b banStore) LoadBans() ([]swarm.Ban, error) {
	v, err := b.kv.Get(context.Background(), bansKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	var bans []swarm.Ban
	if err := json.Unmarshal(v, &bans); err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	return bans, nil
}

func (b banStore) SaveBans(bans []swarm.Ban) error {
	v, err := json.Marshal(bans)
	if err != nil {
		return fmt.Errorf("save bans: %w", err)
	}
	return b.kv.Put(context.Background(), bansKey, v)
}
