package conflict

import (
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/folder/index"
)

func TestWins(t *testing.T) {
	rec := func(mtime int64, origin uint64, deleted bool) *index.Record {
		return &index.Record{ModTime: mtime, Origin: origin, Deleted: deleted}
	}
	tests := []struct {
		name string
		a, b *index.Record
		want bool
	}{
		{"newer mtime", rec(20, 1, false), rec(10, 9, false), true},
		{"older mtime", rec(10, 9, false), rec(20, 1, false), false},
		{"same mtime, larger device", rec(10, 9, false), rec(10, 1, false), true},
		{"same mtime, smaller device", rec(10, 1, false), rec(10, 9, false), false},
		{"delete never beats a change", rec(99, 9, true), rec(1, 1, false), false},
		{"change beats a newer delete", rec(1, 1, false), rec(99, 9, true), true},
		{"two deletes: by mtime", rec(5, 1, true), rec(4, 2, true), true},
	}
	for _, tt := range tests {
		if got := Wins(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Wins = %v, want %v", tt.name, got, tt.want)
		}
		// Exactly one of two different records wins: the same on every peer.
		if Wins(tt.a, tt.b) == Wins(tt.b, tt.a) {
			t.Errorf("%s: Wins is not antisymmetric", tt.name)
		}
	}
}

func TestName(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 5, 0, time.FixedZone("x", 3600))
	tests := []struct{ in, want string }{
		{"report.docx", "report.sync-conflict-20261201-083005-ABCDEFG.docx"},
		{"a/b/notes.tar.gz", "a/b/notes.tar.sync-conflict-20261201-083005-ABCDEFG.gz"},
		{"Makefile", "Makefile.sync-conflict-20261201-083005-ABCDEFG"},
		{"dir/.bashrc", "dir/.bashrc.sync-conflict-20261201-083005-ABCDEFG"},
	}
	for _, tt := range tests {
		got := Name(tt.in, when, "abcdefghijk")
		if got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !IsConflictCopy(got) || IsConflictCopy(tt.in) {
			t.Errorf("IsConflictCopy wrong for %q", got)
		}
	}
}
