package testcluster

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Tree reads a folder into path → description ("file <bytes>",
// "dir", "link <target>", plus " x" for an executable file), leaving
// out .shoal/.
func Tree(root string) (map[string]string, error) {
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rel == ".shoal" {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + t
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file " + string(b)
			if info.Mode()&0o100 != 0 {
				out[rel] += " x"
			}
		}
		return nil
	})
	return out, err
}

// SameTrees returns nil if every root holds the same tree.
func SameTrees(roots ...string) error {
	var first map[string]string
	for i, r := range roots {
		t, err := Tree(r)
		if err != nil {
			return err
		}
		if i == 0 {
			first = t
			continue
		}
		if d := diff(first, t); d != "" {
			return fmt.Errorf("%s and %s differ:\n%s", roots[0], r, d)
		}
	}
	return nil
}

func diff(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		if a[k] != b[k] {
			fmt.Fprintf(&buf, "  %s: %q vs %q\n", k, short(a[k]), short(b[k]))
		}
	}
	return buf.String()
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return strings.TrimSpace(s)
}
