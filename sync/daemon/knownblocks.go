package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// knownBlocks remembers, for a while, blocks the folder's index said
// belong to it, and the blocks its nodes link to: a large file's blocks
// are asked for thousands of times a second, each by its own want-block,
// and an index lookup per block costs the sharer more than reading the
// block. Only positive answers are kept, and only for peers that proved
// the folder, so a block that has since left the folder may still be
// served to such a peer for a while: it was the folder's, which that
// peer holds the key to.
//
// The set keeps two generations of at most knownMax blocks each: when
// the newer is full it becomes the older and the oldest is dropped, so
// the blocks of a file being served (its nodes' links, added before its
// leaves are asked for) are not lost at once when the set fills. After
// knownIdle without an addition both are dropped: an idle daemon holds
// none of it.
type knownBlocks struct {
	mu       sync.Mutex
	cur, old map[string]struct{}
	idle     *time.Timer
	last     time.Time // of the latest addition
}

const (
	// knownMax: 16,384 blocks is 1 GiB of leaves of the chunker's
	// average size; two generations hold at most 2.5 MiB.
	knownMax  = 1 << 14
	knownIdle = 30 * time.Second
)

func (k *knownBlocks) has(mh []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cur[string(mh)]; ok {
		return true
	}
	_, ok := k.old[string(mh)]
	return ok
}

func (k *knownBlocks) add(mh []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.old[string(mh)]; ok {
		return
	}
	if k.cur == nil || len(k.cur) >= knownMax {
		k.old, k.cur = k.cur, make(map[string]struct{}, 256)
	}
	k.cur[string(mh)] = struct{}{}
	k.last = time.Now()
	if k.idle == nil {
		k.idle = time.AfterFunc(knownIdle, k.expire)
	}
}

// expire drops both generations once no block was added for knownIdle,
// and otherwise looks again when that much time has passed since the
// latest addition.
func (k *knownBlocks) expire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if wait := knownIdle - time.Since(k.last); wait > 0 {
		k.idle.Reset(wait)
		return
	}
	k.cur, k.old, k.idle = nil, nil, nil
}

// blockGetter is where addLinks reads a node (the store).
type blockGetter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// addLinks adds the blocks that folder node c links to: they are the
// folder's too, and a peer that fetches a file asks for them next (its
// leaves by want-block, one each), so each is then served without an
// index lookup of its own. A node that cannot be read adds nothing.
func (k *knownBlocks) addLinks(ctx context.Context, g blockGetter, c cid.Cid) {
	data, err := g.Get(ctx, c)
	if err != nil {
		return
	}
	links, err := unixfs.Links(c, data)
	if err != nil {
		return
	}
	for _, l := range links {
		k.add(l.Hash())
	}
}
