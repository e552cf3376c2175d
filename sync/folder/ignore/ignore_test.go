package ignore

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A case is one .shoalignore and the verdict on each path under it, as
// gitignore(5) documents it (and as git itself decides: see TestAgainstGit).
// A path ending in "/" is a directory.
type ignoreCase struct {
	name    string
	lines   []string
	ignored []string
	kept    []string
}

var cases = []ignoreCase{
	{
		name:    "blank lines and comments match nothing",
		lines:   []string{"", "# a comment", "   ", "#*.go"},
		kept:    []string{"a.go", "# a comment", "#x.go", "x/"},
		ignored: nil,
	},
	{
		name:    "escaped hash and bang are literal",
		lines:   []string{`\#notes`, `\!important`},
		ignored: []string{"#notes", "!important", "sub/#notes"},
		kept:    []string{"notes", "important"},
	},
	{
		name:    "name without slash matches at any depth",
		lines:   []string{"*.o", "build"},
		ignored: []string{"a.o", "x/y/b.o", "build", "build/", "src/build/", "src/build", "build/x.c"},
		kept:    []string{"a.c", "o", "builds", "x/builder.c"},
	},
	{
		name:    "directory-only pattern",
		lines:   []string{"cache/"},
		ignored: []string{"cache/", "a/cache/", "cache/x", "a/cache/y/z"},
		kept:    []string{"cache", "a/cache", "cachex/"},
	},
	{
		name:    "leading slash anchors at the root",
		lines:   []string{"/*.c", "/top"},
		ignored: []string{"cat-file.c", "top", "top/", "top/x"},
		kept:    []string{"mozilla-sha1/sha1.c", "sub/top"},
	},
	{
		name:    "middle slash anchors too and star does not cross slashes",
		lines:   []string{"doc/*.html", "a/b"},
		ignored: []string{"doc/git.html", "a/b", "a/b/c"},
		kept:    []string{"doc/ppc/ppc.html", "tools/perf/doc/perf.html", "x/a/b"},
	},
	{
		name:    "leading double star matches in all directories",
		lines:   []string{"**/foo", "**/x/bar"},
		ignored: []string{"foo", "a/foo", "a/b/foo/", "x/bar", "q/x/bar"},
		kept:    []string{"foox", "bar", "x/y/bar"},
	},
	{
		name:    "trailing double star matches everything inside",
		lines:   []string{"abc/**"},
		ignored: []string{"abc/x", "abc/x/y/z", "abc/d/"},
		kept:    []string{"abc", "abc/", "x/abc/y"},
	},
	{
		name:    "slash double star slash matches zero or more directories",
		lines:   []string{"a/**/b"},
		ignored: []string{"a/b", "a/x/b", "a/x/y/b", "a/b/c"},
		kept:    []string{"b", "x/a/b", "a/bc"},
	},
	{
		name:    "other double stars are plain stars",
		lines:   []string{"x**y"},
		ignored: []string{"xy", "xaay", "d/xzy"},
		kept:    []string{"x/y"},
	},
	{
		name:    "question mark and classes",
		lines:   []string{"?.txt", "[ab].log", "[!0-9].dat", "[^x]q"},
		ignored: []string{"a.txt", "a.log", "b.log", "z.dat", "aq"},
		kept:    []string{"ab.txt", "c.log", "5.dat", "xq", ".txt"},
	},
	{
		name:    "escaped wildcards are literal",
		lines:   []string{`\*.md`, `what\?`, `\[x]`},
		ignored: []string{"*.md", "what?", "[x]"},
		kept:    []string{"a.md", "whatx", "x"},
	},
	{
		name:    "braces are literal, as git has no alternatives",
		lines:   []string{"{a,b}.c"},
		ignored: []string{"{a,b}.c"},
		kept:    []string{"a.c", "b.c"},
	},
	{
		name:    "trailing spaces dropped unless escaped",
		lines:   []string{"trail   ", `keep\ `},
		ignored: []string{"trail", "keep "},
		kept:    []string{"trail ", "keep"},
	},
	{
		name:    "negation re-includes",
		lines:   []string{"*.log", "!important.log"},
		ignored: []string{"a.log", "x/b.log"},
		kept:    []string{"important.log", "x/important.log"},
	},
	{
		name:    "last matching line wins",
		lines:   []string{"!a.log", "*.log"},
		ignored: []string{"a.log"},
	},
	{
		name:    "nothing under an ignored directory can be re-included",
		lines:   []string{"out/", "!out/keep.txt", "!out/sub/"},
		ignored: []string{"out/", "out/keep.txt", "out/sub/", "out/sub/x"},
	},
	{
		name:    "everything except foo/bar, the gitignore(5) example",
		lines:   []string{"/*", "!/foo", "/foo/*", "!/foo/bar"},
		ignored: []string{"a", "a/", "a/b", "foo/x", "foo/y/"},
		kept:    []string{"foo/", "foo/bar", "foo/bar/", "foo/bar/z"},
	},
	{
		name:    "negated directory-only pattern",
		lines:   []string{"*", "!*/", "!*.go"},
		ignored: []string{"a.txt", "d/a.txt"},
		kept:    []string{"d/", "d/e/", "main.go", "d/e/x.go"},
	},
	{
		name:    "bad patterns match nothing and never panic",
		lines:   []string{"[", "a[b", `tail\`, "(", "a)|b", "+x", "^$"},
		ignored: []string{"(", "a)|b", "+x", "^$"},
		kept:    []string{"[", "a[b", "ab", "tail", `tail\`, "x"},
	},
	{
		name:    "CRLF line ends",
		lines:   []string{"a.tmp\r", "!b.tmp\r"},
		ignored: []string{"a.tmp"},
		kept:    []string{"a.tmp\r"},
	},
	{
		name:    "dotfiles match stars",
		lines:   []string{"*~", ".*.swp"},
		ignored: []string{".x~", "a/.file.swp", "b~"},
		kept:    []string{"a.swp"},
	},
}

func isDirPath(p string) (string, bool) {
	if strings.HasSuffix(p, "/") {
		return strings.TrimSuffix(p, "/"), true
	}
	return p, false
}

func TestIgnored(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Parse(c.lines)
			for _, p := range c.ignored {
				rel, dir := isDirPath(p)
				if !m.Ignored(rel, dir) {
					t.Errorf("Ignored(%q, %v) = false, want true", rel, dir)
				}
			}
			for _, p := range c.kept {
				rel, dir := isDirPath(p)
				if m.Ignored(rel, dir) {
					t.Errorf("Ignored(%q, %v) = true, want false", rel, dir)
				}
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	for _, lines := range [][]string{nil, {"!.shoal", "!.shoal/", "!**", "!.shoal-tmp-*", "!*"}, {"*", "!.shoalignore"}, {".shoalignore", "/.shoalignore"}} {
		m := Parse(lines)
		for _, p := range []string{".shoal", ".shoal/", ".shoal/state", ".shoal/versions/a/b", ".shoal-tmp-123", "d/e/.shoal-tmp-x.part", ".shoal-tmp-dir/", "/.shoal", "/.shoal/x"} {
			rel, dir := isDirPath(p)
			if !m.Ignored(rel, dir) {
				t.Errorf("lines %q: Ignored(%q) = false, want true (internal)", lines, p)
			}
			if !IsInternal(rel) {
				t.Errorf("IsInternal(%q) = false", rel)
			}
		}
		if m.Ignored(FileName, false) {
			t.Errorf("lines %q: the root .shoalignore is ignored; it must be synced", lines)
		}
		if m.Ignored("", true) {
			t.Errorf("lines %q: the root itself is ignored", lines)
		}
	}
	for _, p := range []string{".shoalignore", ".shoalx", "a/.shoal", "a/.shoal/x", "shoal-tmp-1", ".shoal-tm", "x.shoal-tmp-1"} {
		if IsInternal(p) {
			t.Errorf("IsInternal(%q) = true, want false", p)
		}
	}
	var nilM *Matcher
	if nilM.Ignored("a", false) || !nilM.Ignored(".shoal/x", false) {
		t.Error("a nil Matcher should ignore exactly the built-ins")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(dir)
	if err != nil {
		t.Fatalf("Load without a file: %v", err)
	}
	if m.Ignored("a.log", false) || !m.Ignored(".shoal", true) {
		t.Fatal("Load without a file: want only the built-ins")
	}
	content := "\xef\xbb\xbf*.log\r\n# comment\r\n!keep.log\r\nbuild/\n"
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err = Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for p, want := range map[string]bool{"a.log": true, "keep.log": false, "build/": true, "build": false, "x.c": false} {
		rel, d := isDirPath(p)
		if got := m.Ignored(rel, d); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", p, got, want)
		}
	}
	// An ignore file that cannot be read is an error, not "ignore nothing".
	if err := os.Remove(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load of a .shoalignore that is a directory: want an error")
	}
}

// TestAgainstGit asks a real git which files of each case it ignores, so the
// table above states git's behaviour, not ours.
func TestAgainstGit(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed; the table stands on gitignore(5) alone")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			git := func(args ...string) string {
				cmd := exec.Command(gitPath, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "XDG_CONFIG_HOME="+dir)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("git %v: %v", args, err)
				}
				return string(out)
			}
			git("init", "-q")
			if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(strings.Join(c.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Only files are compared: git lists files, not directories.
			var files []string
			for _, p := range append(slices.Clone(c.ignored), c.kept...) {
				rel, d := isDirPath(p)
				if d || strings.ContainsAny(rel, "\r") {
					continue
				}
				if slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, rel+"/") || strings.HasPrefix(rel, f+"/") }) {
					continue // a path both a file and a parent directory in the table
				}
				full := filepath.Join(dir, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, rel)
			}
			gitIgnored := map[string]bool{}
			for _, l := range strings.Split(git("-c", "core.quotePath=false", "ls-files", "-z", "--others", "--ignored", "--exclude-standard"), "\x00") {
				gitIgnored[l] = true
			}
			m := Parse(c.lines)
			for _, f := range files {
				if got, want := m.Ignored(f, false), gitIgnored[f]; got != want {
					t.Errorf("%q: Ignored = %v, git says %v", f, got, want)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range cases {
		for _, p := range append(slices.Clone(c.ignored), c.kept...) {
			f.Add([]byte(strings.Join(c.lines, "\n")), p, strings.HasSuffix(p, "/"))
		}
	}
	f.Add([]byte("\xef\xbb\xbf[\\\n!\n/\n**/\n\\"), "a/b/c", false)
	f.Fuzz(func(t *testing.T, file []byte, rel string, isDir bool) {
		m := Parse(strings.Split(string(file), "\n"))
		ignored := m.Ignored(rel, isDir)
		if IsInternal(rel) && !ignored {
			t.Fatalf("internal path %q not ignored", rel)
		}
	})
}
