// Package conflict decides concurrent changes of a file the same way on
// every peer, and names the copy that keeps the losing version. It is
// pure: no disk, no network.
package conflict

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/shoal-sync/shoal/sync/folder/index"
)

// Wins reports whether a beats b, two records of one path with
// concurrent versions. A deletion never beats a change; otherwise the
// newer mtime wins, then the larger origin device ID, so every peer
// picks the same winner whatever order the records came in.
func Wins(a, b *index.Record) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	if a.ModTime != b.ModTime {
		return a.ModTime > b.ModTime
	}
	return a.Origin > b.Origin
}

// Name returns the name of the copy that keeps a losing version of p,
// Syncthing style: NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT, the
// time in UTC and DEVICE the first seven base32 characters of the device
// that made the losing change.
func Name(p string, when time.Time, device string) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base { // ".bashrc": all name, no extension
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	if len(device) > 7 {
		device = device[:7]
	}
	return fmt.Sprintf("%s%s.sync-conflict-%s-%s%s", dir, stem, when.UTC().Format("20060102-150405"), strings.ToUpper(device), ext)
}

// IsConflictCopy reports whether p names a conflict copy.
func IsConflictCopy(p string) bool { return strings.Contains(path.Base(p), ".sync-conflict-") }
