package dag

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// A get never writes into an existing output path: a directory tree is
// written beside it (stagePath) and swapped in when complete (swapIn), so
// that --force leaves exactly the CID's tree, a failed get leaves nothing
// at the output, and the old content goes only once the new is in place.

// stagePath is where a get of the directory root to out writes the tree
// before it is swapped in: beside out, named for out and root, so that a
// get run again after an interrupted one finds the large files' partial
// temporary files (see resume) where it left them.
func stagePath(out string, root cid.Cid) string {
	dir, base := filepath.Split(filepath.Clean(out))
	h := sha256.Sum256(root.Bytes())
	return filepath.Join(dir, ".shoal-get-"+fitName(base)+"-"+hex.EncodeToString(h[:6]))
}

// fitName cuts a long entry name so that a name made of it and a short
// prefix and suffix stays within the 255 bytes filesystems allow, as
// tempPrefix does: its first 200 bytes and a hash of the rest.
func fitName(base string) string {
	const keep = 200
	if len(base) <= keep+10 {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	cut := keep
	for cut > 0 && !utf8.RuneStart(base[cut]) {
		cut--
	}
	return base[:cut] + "~" + hex.EncodeToString(sum[:4])
}

// CheckOut refuses to write a get to out when out exists, unless force is
// set or out is an empty directory and the get writes a directory (dir).
func CheckOut(out string, force, dir bool) error {
	fi, err := os.Lstat(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if force {
		return nil
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(out)
		if err != nil {
			return fmt.Errorf("get: %w", err)
		}
		if len(ents) == 0 && dir {
			return nil
		}
		if !dir {
			return fmt.Errorf("get: %s is a directory and the CID a file: %w", out, ErrExists)
		}
	}
	return fmt.Errorf("get: %s: %w", out, ErrExists)
}

// swapIn puts src (a finished file or tree beside out) at out. An existing
// out (allowed by CheckOut) is first renamed aside, and removed only once
// src is in its place; if src cannot be moved, out is put back.
func swapIn(src, out string, force bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("get %s: %w", out, err)
	}
	if err := CheckOut(out, force, fi.IsDir()); err != nil {
		return err
	}
	dir, base := filepath.Split(filepath.Clean(out))
	if dir == "" {
		dir = "."
	}
	var old string
	if _, err := os.Lstat(out); err == nil {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		old = filepath.Join(dir, ".shoal-old-"+fitName(base)+"-"+hex.EncodeToString(b))
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("get: replace %s: %w", out, err)
		}
	}
	if err := os.Rename(src, out); err != nil {
		if old != "" {
			_ = os.Rename(old, out)
		}
		return fmt.Errorf("get %s: %w", out, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("get: remove the replaced %s (now %s): %w", out, old, err)
		}
	}
	return nil
}

// pruneDirs removes the empty directories under and including root,
// deepest first; anything left in them stays.
func pruneDirs(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, as it should, on a non-empty one
	}
}

// atOut is an error about a path in a stage, told as the output path the
// user named; it unwraps to the error itself.
type atOut struct {
	err        error
	stage, out string
}

func (e atOut) Error() string { return strings.ReplaceAll(e.err.Error(), e.stage, e.out) }
func (e atOut) Unwrap() error { return e.err }

// stageErr returns err told at out instead of stage (nil stays nil).
func stageErr(err error, stage, out string) error {
	if err == nil {
		return nil
	}
	return atOut{err, stage, out}
}
