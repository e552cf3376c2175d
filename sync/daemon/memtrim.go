package daemon

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/shoal-sync/shoal/sync/events"
	"github.com/shoal-sync/shoal/sync/folder"
)

// trimDelay is how long a folder stays idle before the daemon hands the
// heap's free memory back to the system.
const trimDelay = 2 * time.Second

// busyTrimEvery is how often a busy daemon unmaps its store's files: a
// sync of 100,000 files faults in 85-95 MiB of them within a few
// seconds (reading them back is a minor fault: the page cache keeps
// them). An idle daemon looks as often, and unmaps them when badger made
// or removed a file (a compaction ran). A compaction maps in the tables
// it reads and writes at hundreds of MB/s: at 250 ms a 100,000-file
// sync's peaks held 44-47 MiB of them, at 100 ms 16-27 MiB (peak RSS
// 147-167 MiB against 167-176). A look costs a read of /proc/self/maps.
const busyTrimEvery = 100 * time.Millisecond

// trimWhenIdle returns freed heap to the system once a folder has gone
// idle after a scan or a sync and stayed so for trimDelay. A sync of
// many files leaves tens of MiB of free heap behind, which the Go runtime
// otherwise gives back only over minutes; an idle daemon should be small.
// Any other folder event in the meantime defers the trim. Events can be
// dropped when a scan publishes thousands at once (the idle one too,
// with no notice until a later event), so the end of a busy spell seen
// by the ticker trims as well, and a trim waits until every folder is
// idle (or stopped).
func (d *Daemon) trimWhenIdle(ctx context.Context) error {
	sub := d.events.Subscribe(256)
	defer sub.Close()
	t := time.NewTimer(trimDelay)
	t.Stop()
	busy := time.NewTicker(busyTrimEvery)
	defer busy.Stop()
	var lastMoved int64  // blocks the swarm had moved at the last tick
	var active time.Time // a folder last scanned or synced, or a block last moved; zero: trimmed since
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-busy.C:
			// A long sync keeps badger's maps filling: unmap them as
			// it goes, not only at the end. Serving peers leaves no
			// folder event behind: trimDelay of ticks with no block
			// moved (and no folder busy) is the end of it.
			st := d.swarm.Stats()
			moved := st.BlocksIn + st.BlocksOut
			switch {
			case d.folders.busy() || moved != lastMoved:
				active = time.Now()
				d.trimStore()
			case !active.IsZero() && quietSince(active, time.Now()):
				active = time.Time{}
				debug.FreeOSMemory()
				d.trimStore()
			default:
				d.trimChanged()
			}
			lastMoved = moved
		case ev, ok := <-sub.C():
			if !ok {
				return nil
			}
			switch {
			case ev.Type == events.FolderState && ev.Data == "idle", ev.Type == events.EventsDropped:
				t.Reset(trimDelay)
			default:
				t.Stop()
			}
		case <-t.C:
			// A peer may have started pulling since the folder went
			// idle: serving it is no folder event, only blocks moving.
			if d.folders.busy() || !quietSince(active, time.Now()) {
				t.Reset(trimDelay)
				continue
			}
			debug.FreeOSMemory()
			d.trimStore()
			active = time.Time{}
		}
	}
}

// quietSince reports whether no block has moved for trimDelay, given
// when one last did (zero: not since the last trim).
func quietSince(active, now time.Time) bool {
	return active.IsZero() || now.Sub(active) >= trimDelay
}

// trimmer is a store whose mapped files can leave resident memory.
type trimmer interface {
	Trim()
	TrimChanged() bool
}

func (d *Daemon) trimStore() {
	if t, ok := d.node.Store().(trimmer); ok {
		t.Trim()
	}
}

func (d *Daemon) trimChanged() {
	if t, ok := d.node.Store().(trimmer); ok {
		t.TrimChanged()
	}
}

// busy reports whether some folder is scanning or syncing.
func (fs *folders) busy() bool {
	for _, rf := range fs.list() {
		if st := rf.f.Status().State; st == folder.StateScanning || st == folder.StateSyncing {
			return true
		}
	}
	return false
}
