package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/sync/identity"
)

// TestChangeSelection walks a folder through every way of changing its
// selection: each change is applied to the running folder and kept in
// its config; a refused one changes neither.
func TestChangeSelection(t *testing.T) {
	d := start(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, p := range []string{"docs/a", "music/b"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	rw, _ := identity.NewRWKey()
	rf, err := d.folders.add(dir, identity.FolderKeyFromRW(rw))
	if err != nil {
		t.Fatal(err)
	}
	const all = "(all)"
	steps := []struct {
		mode     string
		patterns []string
		err      string // "" for success
		want     string // the selection after: all, or the patterns
	}{
		{"show", nil, "", all},
		{"add", []string{"/x"}, "syncs every path already", all},
		{"remove", []string{"/x"}, "no pattern to remove", all},
		{"set", nil, "no patterns given", all},
		{"", []string{"/docs"}, "", "/docs"},
		{"add", []string{"/music", "/docs"}, "", "/docs /music"},
		{"remove", []string{"/nope"}, `"/nope" is not in the selection`, "/docs /music"},
		{"remove", []string{"/music"}, "", "/docs"},
		{"set", []string{"../x"}, "would leave the folder", "/docs"},
		{"set", []string{"ok", "[bad"}, "not a valid glob", "/docs"},
		{"add", []string{dir + "/music"}, "patterns are relative to the folder root", "/docs"},
		{"none", nil, "", ""},
		{"all", nil, "", all},
		{"frob", nil, "unknown selection mode", all},
	}
	for _, st := range steps {
		err := d.folders.changeSelection(ctx, rf, st.mode, st.patterns)
		switch {
		case st.err == "" && err != nil:
			t.Fatalf("%s %v: %v", st.mode, st.patterns, err)
		case st.err != "" && (err == nil || !strings.Contains(err.Error(), st.err)):
			t.Fatalf("%s %v: %v, want an error saying %q", st.mode, st.patterns, err, st.err)
		}
		sel := rf.f.Selection()
		got := strings.Join(sel.Patterns(), " ")
		if sel.All() {
			got = all
		}
		if got != st.want {
			t.Fatalf("after %s %v: the folder selects %q, want %q", st.mode, st.patterns, got, st.want)
		}
		id := rf.key.ID()
		raw, err := d.folders.cfgKV.Get(ctx, id[:])
		if err != nil {
			t.Fatal(err)
		}
		var cfg folderConfig
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		kept := strings.Join(cfg.Only, " ")
		if !cfg.Selective {
			kept = all
		}
		if kept != st.want {
			t.Fatalf("after %s %v: the config keeps %q, want %q", st.mode, st.patterns, kept, st.want)
		}
	}
	// A join of a folder joined already with another selection says how to change it.
	if _, err := d.folders.add(dir, rf.key, "/other"); err == nil || !strings.Contains(err.Error(), "folder select") {
		t.Errorf("second join with another selection: %v", err)
	}
	rw2, _ := identity.NewRWKey()
	other := filepath.Join(t.TempDir(), "other")
	if _, err := d.folders.add(other, identity.FolderKeyFromRW(rw2), "../x"); err == nil || !strings.Contains(err.Error(), "would leave the folder") {
		t.Errorf("a join with an escaping pattern: %v", err)
	}
	if _, err := os.Stat(other); err == nil || len(d.folders.list()) != 1 {
		t.Error("a refused join left a folder behind")
	}
	if !slices.Equal(rf.f.Selection().Patterns(), nil) || !rf.f.Selection().All() {
		t.Error("the failed joins changed the selection")
	}
}
