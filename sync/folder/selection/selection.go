package selection

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
)

// ErrBadPattern means a pattern was refused: malformed, or naming a path
// outside the folder.
var ErrBadPattern = errors.New("bad selection pattern")

// Set is a parsed selection. A nil *Set selects everything; a Set with no
// patterns (None) selects nothing. It is safe for concurrent use: nothing
// changes it after Parse.
type Set struct {
	src  []string
	pats []ignore.Pattern
}

// Parse checks and parses patterns (none: a Set that selects nothing). A pattern that escapes the folder ("..", an
// absolute path of this machine under root, a "." element), names
// shoal's own .shoal/ or is malformed is refused with the reason. root
// is the folder's absolute path on disk, slash separated ("" skips that
// check).
func Parse(root string, patterns []string) (*Set, error) {
	s := &Set{}
	for _, p := range patterns {
		if err := check(root, p); err != nil {
			return nil, err
		}
		pat, err := ignore.ParsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadPattern, err)
		}
		s.src = append(s.src, p)
		s.pats = append(s.pats, pat)
	}
	return s, nil
}

// check refuses a pattern that would reach outside the folder.
func check(root, p string) error {
	body := strings.TrimPrefix(p, "!")
	root = strings.TrimSuffix(root, "/")
	switch {
	case root != "" && (body == root || strings.HasPrefix(body, root+"/")):
		return fmt.Errorf("%w %q: an absolute path; patterns are relative to the folder root (write /%s)",
			ErrBadPattern, p, strings.TrimPrefix(strings.TrimPrefix(body, root), "/"))
	case strings.HasPrefix(body, "//"):
		return fmt.Errorf("%w %q: patterns are relative to the folder root", ErrBadPattern, p)
	}
	for _, el := range strings.Split(strings.Trim(body, "/"), "/") {
		switch el {
		case "..":
			return fmt.Errorf("%w %q: \"..\" would leave the folder", ErrBadPattern, p)
		case ".":
			return fmt.Errorf("%w %q: a \".\" element matches nothing", ErrBadPattern, p)
		case ignore.InternalDir:
			return fmt.Errorf("%w %q: .shoal/ is shoal's own and never synced", ErrBadPattern, p)
		}
	}
	return nil
}

// Patterns returns the patterns as given.
func (s *Set) Patterns() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.src)
}

// None returns a Set that selects nothing.
func None() *Set { return &Set{} }

// All reports whether the set selects everything (it is nil).
func (s *Set) All() bool { return s == nil }

// Selected reports whether rel is selected: the last pattern matching rel
// or one of its ancestors (as a directory) decides, and a negation
// unselects. This lets "docs" then "!docs/drafts" select docs without its
// drafts, unlike .shoalignore, where nothing below an ignored directory
// can come back.
func (s *Set) Selected(rel string, isDir bool) bool {
	if s.All() {
		return true
	}
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return true
	}
	for i := len(s.pats) - 1; i >= 0; i-- {
		p := &s.pats[i]
		if p.Match(rel, isDir) {
			return !p.Negate()
		}
		for a := path.Dir(rel); a != "."; a = path.Dir(a) {
			if p.Match(a, true) {
				return !p.Negate()
			}
		}
	}
	return false
}

// MayHoldSelected reports whether a path below the directory dir could be
// selected. It errs towards yes (a base-name pattern such as "*.pdf" may
// match in every directory).
func (s *Set) MayHoldSelected(dir string) bool {
	if s.All() || s.Selected(dir, true) {
		return true
	}
	for i := range s.pats {
		if p := &s.pats[i]; !p.Negate() && p.MayMatchBelow(dir) {
			return true
		}
	}
	return false
}

// Wanted reports whether this peer syncs rel: a selected path, or a
// directory on the way to one.
func (s *Set) Wanted(rel string, isDir bool) bool {
	if isDir {
		return s.MayHoldSelected(rel)
	}
	return s.Selected(rel, false)
}

// AbsenceIsDelete reports whether rel, which this machine held (the
// index has it here) and the disk no longer has, was deleted by the user
// and so is a change to publish. Only a selected path is: an unselected
// file that was fetched here once and removed since, or a directory kept
// only as the way to selected files, is gone from this machine alone and
// never deleted on the peers.
func (s *Set) AbsenceIsDelete(rel string, isDir bool) bool {
	return s.Selected(rel, isDir)
}

// Literal returns a pattern that selects exactly rel (and what is below
// it when it is a directory), whatever characters its name holds.
func Literal(rel string) string {
	rel = strings.Trim(rel, "/")
	var b strings.Builder
	b.WriteByte('/')
	for i := 0; i < len(rel); i++ {
		c := rel[i]
		switch c {
		case '\\', '*', '?', '[', ']', '{', '}', ',':
			b.WriteByte('\\')
		case ' ':
			if strings.TrimRight(rel[i:], " ") == "" {
				b.WriteByte('\\') // trailing spaces are trimmed unless quoted
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Add returns the patterns with extra appended (those already there are
// not repeated).
func Add(patterns, extra []string) []string {
	out := slices.Clone(patterns)
	for _, p := range extra {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Remove returns the patterns without those in drop; it fails on a
// pattern that is not in the list, naming it.
func Remove(patterns, drop []string) ([]string, error) {
	out := slices.Clone(patterns)
	for _, p := range drop {
		i := slices.Index(out, p)
		if i < 0 {
			return nil, fmt.Errorf("%q is not in the selection (%s)", p, strings.Join(patterns, " "))
		}
		out = slices.Delete(out, i, i+1)
	}
	return out, nil
}

// Ignorer is a folder's own ignore rules (its .shoalignore).
type Ignorer interface {
	Ignored(rel string, isDir bool) bool
}

// Filter is what the scanner and the puller of a selective folder ask:
// a path is skipped when the ignore rules ignore it or the selection does
// not want it, and a path gone from disk is a delete only when selected.
type Filter struct {
	Ignore Ignorer // may be nil
	Set    *Set    // nil: everything
}

// Ignored reports whether rel is left alone: not scanned, not pulled.
// The root .shoalignore is synced whatever the selection, so that every
// peer ignores the same.
func (f Filter) Ignored(rel string, isDir bool) bool {
	if f.Ignore != nil && f.Ignore.Ignored(rel, isDir) {
		return true
	}
	return rel != ignore.FileName && !f.Set.Wanted(rel, isDir)
}

// Syncs reports whether rel's record is synced here: pulled when a peer
// changes it, published when it changes here, its absence a delete. The
// ignore rules must keep it and the selection select it; a directory
// kept only as the way to selected paths is walked, not synced (it is
// made when a file in it is pulled).
func (f Filter) Syncs(rel string, isDir bool) bool {
	return !f.Ignored(rel, isDir) && (rel == ignore.FileName || f.Set.Selected(rel, isDir))
}

// MayWant reports whether rel, a file or a directory, may be synced (see
// Syncs): a check on the path alone, before its record is read. It errs
// towards yes (it does not ask the ignore rules).
func (f Filter) MayWant(rel string) bool {
	return rel == ignore.FileName || f.Set.Selected(rel, true) || f.Set.Selected(rel, false)
}

// AbsenceIsDelete reports whether rel, held here and now gone from
// disk, is a delete to publish (see Set.AbsenceIsDelete).
func (f Filter) AbsenceIsDelete(rel string, isDir bool) bool { return f.Syncs(rel, isDir) }
