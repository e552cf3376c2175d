package index

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestNeedsWhere: only the paths keep accepts are read and passed on,
// and Stats counts needs among them alone.
func TestNeedsWhere(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, true)
	for _, p := range []string{"docs/a", "docs/b", "music/c", "top"} {
		a.write(t, p, p, 1)
	}
	exchange(t, a, b)
	var asked, got []string
	keep := func(p string) bool { asked = append(asked, p); return strings.HasPrefix(p, "docs/") }
	if err := b.ix.NeedsWhere(ctx, keep, func(g *Record, _ *Local) error { got = append(got, g.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "docs/a docs/b" || len(asked) != 4 {
		t.Fatalf("NeedsWhere gave %v (asked about %v)", got, asked)
	}
	st, err := b.ix.StatsWhere(ctx, keep)
	if err != nil || st.NeedFiles != 2 || st.Files != 4 {
		t.Fatalf("StatsWhere: %+v, %v", st, err)
	}
	if all := needPaths(t, b); len(all) != 4 {
		t.Fatalf("Needs: %v", all)
	}
}

// TestNeedsPaged: more needed paths than one page holds come each once,
// in path order forwards and in reverse backwards, the keep filter and
// pulls made by the callback itself (which end needs of later pages and
// of the page in hand) included.
func TestNeedsPaged(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, true)
	const n = 3*needsPage + 7
	var all []string
	for i := range n {
		p := fmt.Sprintf("d%d/f%04d", i%3, i)
		a.write(t, p, p, 1)
		all = append(all, p)
	}
	exchange(t, a, b)
	sort.Strings(all)
	rev := slices.Clone(all)
	slices.Reverse(rev)
	skip := func(p string) bool { return strings.HasSuffix(p, "3") }
	var kept, keptRev []string
	for _, p := range all {
		if !skip(p) {
			kept = append(kept, p)
		}
	}
	for _, p := range rev {
		if !skip(p) {
			keptRev = append(keptRev, p)
		}
	}
	// Pulled by the callback when the walk starts: paths of later pages
	// (each ending in 7) are not passed on; one of the page in hand (the
	// sixth) is, as its page read it.
	gone := map[string]bool{}
	for i, p := range rev {
		if i >= needsPage && strings.HasSuffix(p, "7") {
			gone[p] = true
		}
	}
	var pulledRev []string
	for _, p := range rev {
		if !gone[p] {
			pulledRev = append(pulledRev, p)
		}
	}
	tests := []struct {
		name     string
		backward bool
		keep     func(string) bool
		pull     bool
		want     []string
	}{
		{"forward", false, nil, false, all},
		{"backward", true, nil, false, rev},
		{"forward keep", false, func(p string) bool { return !skip(p) }, false, kept},
		{"backward keep", true, func(p string) bool { return !skip(p) }, false, keptRev},
		{"backward pulling", true, nil, true, pulledRev},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			fn := func(g *Record, l *Local) error {
				if l != nil {
					t.Errorf("%s: local state %+v", g.Path, l)
				}
				if tt.pull && len(got) == 0 {
					b.pulled(t, rev[5])
					for p := range gone {
						b.pulled(t, p)
					}
				}
				got = append(got, g.Path)
				return nil
			}
			needs := b.ix.NeedsWhere
			if tt.backward {
				needs = b.ix.NeedsBackward
			}
			if err := needs(ctx, tt.keep, fn); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %d paths, want %d; first difference at %d", len(got), len(tt.want), firstDiff(got, tt.want))
			}
		})
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
