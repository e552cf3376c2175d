package selection

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
)

// A case is one selection and the verdict on paths under it; a path
// ending in "/" is a directory.
type selCase struct {
	name     string
	patterns []string
	selected []string // Selected
	wanted   []string // not selected, but kept as the way to a selected path (directories)
	skipped  []string // neither
}

var selCases = []selCase{
	{
		name:     "a directory selects everything below it, at any depth without a slash",
		patterns: []string{"docs"},
		selected: []string{"docs/", "docs/a.txt", "docs/x/y/z.bin", "sub/docs/", "sub/docs/f"},
		wanted:   []string{"music/"}, // music/docs would be selected
		skipped:  []string{"music/a.mp3", "docsx", "a.txt"},
	},
	{
		name:     "anchored directory",
		patterns: []string{"/docs/"},
		selected: []string{"docs/", "docs/a.txt", "docs/x/y"},
		skipped:  []string{"docs", "sub/docs/", "sub/docs/f", "music/"},
	},
	{
		name:     "deep anchored pattern keeps the way there",
		patterns: []string{"photos/2026/*.jpg"},
		selected: []string{"photos/2026/a.jpg"},
		wanted:   []string{"photos/", "photos/2026/"},
		skipped:  []string{"photos/2025/", "photos/a.jpg", "photos/2026/a.png", "photos/2026/x/a.jpg", "video/"},
	},
	{
		name:     "base-name glob at any depth: every directory may hold one",
		patterns: []string{"*.pdf"},
		selected: []string{"a.pdf", "x/y/b.pdf"},
		wanted:   []string{"x/", "x/y/"},
		skipped:  []string{"a.txt", "x/y/b.pdfx"},
	},
	{
		name:     "double star",
		patterns: []string{"src/**/*.go"},
		selected: []string{"src/a.go", "src/x/y/b.go"},
		wanted:   []string{"src/", "src/x/", "src/x/y/"},
		skipped:  []string{"a.go", "lib/", "src/x/readme"},
	},
	{
		name:     "a negation after a directory unselects inside it",
		patterns: []string{"/docs", "!docs/drafts"},
		selected: []string{"docs/", "docs/a", "docs/sub/b"},
		skipped:  []string{"docs/drafts/", "docs/drafts/x", "docs/drafts/deep/y"},
	},
	{
		name:     "the last matching pattern decides",
		patterns: []string{"/docs", "!docs/drafts", "docs/drafts/keep.txt"},
		selected: []string{"docs/a", "docs/drafts/keep.txt"},
		wanted:   []string{"docs/drafts/"},
		skipped:  []string{"docs/drafts/other.txt"},
	},
	{
		name:     "a negation alone selects nothing",
		patterns: []string{"!*.tmp"},
		skipped:  []string{"a", "a.tmp", "d/"},
	},
	{
		name:     "escaped specials are literal",
		patterns: []string{Literal("we*ird [1]/f?le {a,b} "), Literal("#notes"), Literal("!bang")},
		selected: []string{"we*ird [1]/f?le {a,b} ", "#notes", "!bang", "#notes/inner"},
		wanted:   []string{"we*ird [1]/"},
		skipped:  []string{"weXird [1]/f?le {a,b} ", "we*ird 1/", "we*ird [1]/fxle {a,b} ", "we*ird [1]/f?le {a,b}", "notes", "bang"},
	},
	{
		name:     "a literal directory selects its subtree",
		patterns: []string{Literal("a/b")},
		selected: []string{"a/b", "a/b/", "a/b/c/d"},
		wanted:   []string{"a/"},
		skipped:  []string{"b", "x/a/b", "a/bc", "a/c"},
	},
}

func TestSelection(t *testing.T) {
	for _, c := range selCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("/home/u/folder", c.patterns)
			if err != nil {
				t.Fatal(err)
			}
			check := func(list []string, sel, want bool) {
				for _, p := range list {
					dir := strings.HasSuffix(p, "/")
					rel := strings.TrimSuffix(p, "/")
					if got := s.Selected(rel, dir); got != sel {
						t.Errorf("Selected(%q, dir=%v) = %v, want %v", rel, dir, got, sel)
					}
					if got := s.Wanted(rel, dir); got != want {
						t.Errorf("Wanted(%q, dir=%v) = %v, want %v", rel, dir, got, want)
					}
					if got := (Filter{Set: s}).Syncs(rel, dir); got != sel {
						t.Errorf("Syncs(%q, dir=%v) = %v, want %v", rel, dir, got, sel)
					}
					if sel && !(Filter{Set: s}).MayWant(rel) {
						t.Errorf("MayWant(%q) = false for a selected path", rel)
					}
				}
			}
			check(c.selected, true, true)
			check(c.wanted, false, true)
			check(c.skipped, false, false)
		})
	}
}

func TestAllAndNone(t *testing.T) {
	var all *Set
	if !all.Selected("x/y", false) || !all.Wanted("x/", true) || !all.AbsenceIsDelete("x", false) || !all.All() {
		t.Error("a nil Set does not select everything")
	}
	none := None()
	if none.Selected("x", false) || none.Wanted("d", true) || none.AbsenceIsDelete("x", false) || none.All() {
		t.Error("None selects something")
	}
	if !none.Selected("", true) {
		t.Error("the root is not selected")
	}
}

func TestParseRefuses(t *testing.T) {
	root := "/home/u/folder"
	for _, c := range []struct{ pattern, says string }{
		{"", "empty"},
		{"   ", "empty"},
		{"!", "empty"},
		{"# notes", "comment"},
		{"../other", `".."`},
		{"docs/../../etc", `".."`},
		{"!../x", `".."`},
		{"./docs", `"."`},
		{"/home/u/folder/docs", "write /docs"},
		{"//etc/passwd", "relative to the folder root"},
		{".shoal/folder", ".shoal/"},
		{"[unclosed", "not a valid glob"},
		{`trailing\`, "not a valid glob"},
		{"a\x00b", "NUL"},
		{"a\nb", "line break"},
	} {
		_, err := Parse(root, []string{"docs", c.pattern})
		if !errors.Is(err, ErrBadPattern) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%q) = %v, want an ErrBadPattern saying %q", c.pattern, err, c.says)
		}
	}
	if _, err := Parse(root, []string{"/docs", "docs/", "**/*.pdf", "!docs/x", `\#x`}); err != nil {
		t.Errorf("good patterns refused: %v", err)
	}
}

// TestAbsenceIsDelete: which paths that were here and are gone from disk
// are deletes to publish. Only what the selection selects (and
// .shoalignore does not ignore) is; a file fetched once and unselected
// since, a directory kept only as the way to selected files, and an
// ignored path are gone from this machine alone.
func TestAbsenceIsDelete(t *testing.T) {
	sel, err := Parse("", []string{"/docs", "!docs/drafts", "photos/2026/*.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{Ignore: ignore.Parse([]string{"*.tmp"}), Set: sel}
	for _, c := range []struct {
		path   string
		dir    bool
		delete bool
		why    string
	}{
		{"docs/report.txt", false, true, "a selected file deleted by the user"},
		{"docs", true, true, "a selected directory"},
		{"docs/sub", true, true, "a directory inside a selected one"},
		{"docs/drafts/old.txt", false, false, "unselected by a negation (fetched, then unselected)"},
		{"music/a.mp3", false, false, "never selected (fetched once, then unselected)"},
		{"photos", true, false, "a directory kept only as the way to selected files"},
		{"photos/2026", true, false, "likewise, deeper"},
		{"photos/2026/a.jpg", false, true, "a selected file, deep"},
		{"photos/2026/a.png", false, false, "beside a selected file, not selected"},
		{"docs/x.tmp", false, false, "ignored by .shoalignore"},
		{".shoal/folder", false, false, "shoal's own"},
		{".shoalignore", false, true, "the root .shoalignore, synced whatever the selection"},
	} {
		if got := f.AbsenceIsDelete(c.path, c.dir); got != c.delete {
			t.Errorf("%s (%s): AbsenceIsDelete = %v, want %v", c.path, c.why, got, c.delete)
		}
	}
	// Without a selection every path the ignore rules keep is a delete.
	all := Filter{Ignore: ignore.Parse(nil)}
	if !all.AbsenceIsDelete("music/a.mp3", false) || !all.AbsenceIsDelete("photos", true) || all.AbsenceIsDelete(".shoal/x", false) {
		t.Error("a full folder's absences")
	}
}

func TestAddRemove(t *testing.T) {
	got := Add([]string{"a", "b"}, []string{"b", "c"})
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("Add = %v", got)
	}
	got, err := Remove([]string{"a", "b", "c"}, []string{"b"})
	if err != nil || strings.Join(got, ",") != "a,c" {
		t.Errorf("Remove = %v, %v", got, err)
	}
	if _, err := Remove([]string{"a"}, []string{"z"}); err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Errorf("Remove of a missing pattern: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range selCases {
		for _, p := range c.patterns {
			f.Add(p, "docs/a/b.txt")
		}
	}
	f.Add("../x", "x")
	f.Add(`a\`, "a")
	f.Fuzz(func(t *testing.T, pattern, rel string) {
		s, err := Parse("/r", []string{pattern})
		if err != nil {
			return
		}
		sel := s.Selected(rel, false)
		if sel && !s.Wanted(rel, false) {
			t.Fatalf("%q selects %q but does not want it", pattern, rel)
		}
		for _, dir := range []bool{false, true} {
			if (Filter{Set: s}).Syncs(rel, dir) && !(Filter{Set: s}).MayWant(rel) {
				t.Fatalf("%q syncs %q (dir %v), but MayWant says no", pattern, rel, dir)
			}
		}
		if s.Selected(rel, true) && !s.MayHoldSelected(rel) {
			t.Fatalf("%q selects directory %q but says nothing below may be selected", pattern, rel)
		}
	})
}
