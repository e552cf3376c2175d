package daemon

import (
	"context"

	"github.com/shoal-sync/shoal/discovery/pex"
	"github.com/shoal-sync/shoal/sync/identity"
)

// folderSource returns the IDs of the folders discovery meets peers for:
// Options.Folders if set, else the daemon's own running folders.
func (d *Daemon) folderSource() func(ctx context.Context) ([][]byte, error) {
	if d.opt.Folders != nil {
		return d.opt.Folders
	}
	return func(context.Context) ([][]byte, error) {
		var ids [][]byte
		for _, rf := range d.folders.list() {
			id := rf.key.ID()
			ids = append(ids, id[:])
		}
		return ids, nil
	}
}

// sharedFolders is pex.Folders over the folder session: the folders a
// peer proved on its connection, which this node runs too.
type sharedFolders struct{ d *Daemon }

func (s sharedFolders) SharedFolders(peer identity.NodeID) [][]byte {
	var out [][]byte
	for _, rf := range s.d.folders.list() {
		if id := rf.key.ID(); s.d.folders.session.Shares(peer, id) {
			out = append(out, id[:])
		}
	}
	return out
}

// pexFolders is Options.SharedFolders if set, else the session's.
func (d *Daemon) pexFolders() pex.Folders {
	if d.opt.SharedFolders != nil {
		return d.opt.SharedFolders
	}
	return sharedFolders{d}
}
