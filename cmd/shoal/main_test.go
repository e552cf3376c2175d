package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// shoalBin is the shoal binary the end-to-end tests run as real processes.
var shoalBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shoalBin = filepath.Join(dir, "shoal")
	build := exec.Command("go", "build", "-o", shoalBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shoal:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const vectors = "../../testdata/vectors"

type result struct {
	stdout, stderr string
	code           int
}

// statSources stats every Go file and go.mod/go.sum of the module, once:
// go test caches a passing run by the files the test consulted, and the
// binary these tests run is built from those, by another process that the
// cache does not see. Without this a change to the daemon could leave a
// stale pass of these tests in the cache.
var statSources = sync.OnceFunc(func() {
	filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" {
			os.Stat(p)
		}
		return nil
	})
})

// shoal runs the binary with home and args, feeding stdin.
func shoal(t *testing.T, home string, stdin []byte, args ...string) result {
	t.Helper()
	statSources()
	// A command that hangs fails its test, instead of the whole run at
	// go test's 10-minute timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shoalBin, append([]string{"--home", home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("shoal %v: still running after 2 minutes: %s", args, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run shoal %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs shoal and fails the test unless it exits 0.
func ok(t *testing.T, home string, args ...string) string {
	t.Helper()
	r := shoal(t, home, nil, args...)
	if r.code != 0 {
		t.Fatalf("shoal %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func TestAddCatGetExportImport(t *testing.T) {
	home := t.TempDir()
	tree := filepath.Join(vectors, "tree")
	const treeCID = "bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm"

	out := ok(t, home, "add", "--chunker=size-262144", tree)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if want := "added " + treeCID + " " + filepath.ToSlash(filepath.Clean(tree)); last != want {
		t.Fatalf("last line %q, want %q", last, want)
	}
	if len(lines) != 8 { // 5 files, 3 directories
		t.Fatalf("add printed %d lines, want 8:\n%s", len(lines), out)
	}
	if got := strings.TrimSpace(ok(t, home, "add", "-Q", "--chunker=size-262144", tree)); got != treeCID {
		t.Fatalf("add -Q printed %q", got)
	}

	hello, _ := os.ReadFile(filepath.Join(tree, "hello.txt"))
	if got := ok(t, home, "cat", treeCID+"/hello.txt"); got != string(hello) {
		t.Fatalf("cat gave %q, want %q", got, hello)
	}
	ls := ok(t, home, "ls", treeCID)
	for _, name := range []string{"empty", "hello.txt", "sub", "unicodé ñame.txt"} {
		if !strings.Contains(ls, " "+name+"\n") {
			t.Errorf("ls lacks %q:\n%s", name, ls)
		}
	}

	outDir := filepath.Join(t.TempDir(), "restored")
	ok(t, home, "get", treeCID, "-o", outDir)
	for _, rel := range []string{"hello.txt", "empty", "sub/pattern-300000.bin", "sub/deeper/notes.md", "unicodé ñame.txt"} {
		want, _ := os.ReadFile(filepath.Join(tree, rel))
		got, err := os.ReadFile(filepath.Join(outDir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("get: %s differs (%v)", rel, err)
		}
	}

	car := filepath.Join(t.TempDir(), "tree.car")
	ok(t, home, "export", "-o", car, treeCID)
	home2 := t.TempDir()
	if got := ok(t, home2, "import", car); !strings.Contains(got, treeCID) {
		t.Fatalf("import printed %q", got)
	}
	if got := ok(t, home2, "cat", treeCID+"/hello.txt"); got != string(hello) {
		t.Fatalf("cat after import gave %q", got)
	}
	home3 := t.TempDir()
	vec, _ := os.ReadFile(filepath.Join(vectors, "tree.car"))
	if r := shoal(t, home3, vec, "import", "-"); r.code != 0 || !strings.Contains(r.stdout, treeCID) {
		t.Fatalf("import - of tree.car: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestPinAndGC(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	drop := filepath.Join(dir, "drop")
	os.WriteFile(keep, bytes.Repeat([]byte("keep me "), 100000), 0o644)
	os.WriteFile(drop, bytes.Repeat([]byte("drop me "), 100000), 0o644)
	keepCID := strings.TrimSpace(ok(t, home, "add", "-Q", keep))
	dropCID := strings.TrimSpace(ok(t, home, "add", "-Q", "--pin=false", drop))

	pins := ok(t, home, "pin", "ls")
	if !strings.Contains(pins, keepCID+" recursive") || strings.Contains(pins, dropCID) {
		t.Fatalf("pin ls:\n%s", pins)
	}
	gc := ok(t, home, "gc")
	if !strings.HasPrefix(gc, "removed ") || strings.HasPrefix(gc, "removed 0 ") {
		t.Fatalf("gc printed %q, want blocks removed", gc)
	}
	if r := shoal(t, home, nil, "cat", dropCID); r.code != 1 {
		t.Fatalf("cat of collected content: exit %d", r.code)
	}
	want, _ := os.ReadFile(keep)
	if got := ok(t, home, "cat", keepCID); got != string(want) {
		t.Fatal("pinned content changed after gc")
	}
	ok(t, home, "pin", "rm", keepCID)
	ok(t, home, "gc")
	if r := shoal(t, home, nil, "cat", keepCID); r.code != 1 {
		t.Fatalf("cat after unpin and gc: exit %d", r.code)
	}
	st := ok(t, home, "stat")
	if !strings.Contains(st, "pins:        0") {
		t.Fatalf("stat:\n%s", st)
	}
}

func TestNoCopyDetectsChange(t *testing.T) {
	home := t.TempDir()
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, bytes.Repeat([]byte("original "), 200000), 0o644)
	c := strings.TrimSpace(ok(t, home, "add", "-Q", "--nocopy", f))
	os.WriteFile(f, bytes.Repeat([]byte("modified "), 200000), 0o644)
	r := shoal(t, home, nil, "cat", c)
	if r.code != 1 || !strings.Contains(r.stderr, "changed") {
		t.Fatalf("cat of a changed --nocopy file: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "modified") {
		t.Fatal("served bytes of the changed file")
	}
}

// TestBadInput checks that every bad input gives exit 1, one line on
// stderr, and changes nothing in the store.
func TestBadInput(t *testing.T) {
	home := t.TempDir()
	existing := t.TempDir()
	os.WriteFile(filepath.Join(existing, "x"), []byte("x"), 0o644)
	hello := filepath.Join(vectors, "tree/hello.txt")
	helloCID := strings.TrimSpace(ok(t, home, "add", "-Q", "--chunker=size-262144", hello))
	vec, _ := os.ReadFile(filepath.Join(vectors, "tree.car"))
	badBlock := bytes.Clone(vec)
	badBlock[len(badBlock)-5] ^= 0x55
	carDir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(carDir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	tests := []struct {
		name string
		args []string
		want string // part of the error line
	}{
		{"missing path", []string{"add", "/nonexistent/file"}, "no such file"},
		{"invalid CID", []string{"cat", "notacid"}, "invalid CID"},
		{"CID not in store", []string{"cat", "bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm"}, "not found"},
		{"bad chunker", []string{"add", "--chunker=size-0", hello}, "chunker"},
		{"truncated CAR", []string{"import", write("trunc.car", vec[:len(vec)/3])}, ""},
		{"bad varint", []string{"import", write("varint.car", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})}, ""},
		{"block not matching CID", []string{"import", write("bad.car", badBlock)}, ""},
		{"get into existing dir", []string{"get", helloCID, "-o", existing}, "exists"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"pin of unknown subcommand", []string{"pin", "frob"}, "unknown subcommand"},
		{"argument to gc", []string{"gc", "now"}, "unexpected argument"},
	}
	contents := func() string {
		var keep []string
		for _, l := range strings.Split(ok(t, home, "stat"), "\n") {
			if strings.HasPrefix(l, "blocks:") || strings.HasPrefix(l, "pins:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	before := contents()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := shoal(t, home, nil, tt.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "shoal: ") {
				t.Fatalf("stderr is not one 'shoal: ...' line: %q", r.stderr)
			}
			if !strings.Contains(lines[0], tt.want) {
				t.Fatalf("error %q does not mention %q", lines[0], tt.want)
			}
		})
	}
	if after := contents(); after != before {
		t.Fatalf("bad input changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(existing, "x")); err != nil {
		t.Fatal("get touched the existing directory")
	}
}
