package index

import (
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
