package ignore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ErrBadPattern means a pattern is not one a Pattern can hold.
var ErrBadPattern = errors.New("malformed pattern")

// Pattern is one gitignore-style pattern on its own, for callers that
// combine patterns by rules of their own (selective sync). It is safe for
// concurrent use.
type Pattern struct {
	r rule
}

// ParsePattern parses one pattern as a line of a .shoalignore would be
// read; unlike Parse, it refuses a blank line, a comment and a pattern
// that would match nothing, saying why.
func ParsePattern(s string) (Pattern, error) {
	switch t := strings.TrimSpace(s); {
	case t == "" || t == "!" || t == "/" || t == "!/":
		return Pattern{}, fmt.Errorf("%w %q: empty", ErrBadPattern, s)
	case strings.HasPrefix(s, "#"):
		return Pattern{}, fmt.Errorf(`%w %q: a line starting with # is a comment (write \# for a literal #)`, ErrBadPattern, s)
	case strings.ContainsAny(s, "\x00\n\r"):
		return Pattern{}, fmt.Errorf("%w %q: holds a NUL or a line break", ErrBadPattern, s)
	}
	r, ok := parseLine(s)
	if !ok {
		return Pattern{}, fmt.Errorf("%w %q: not a valid glob (an unclosed [ or a trailing backslash?)", ErrBadPattern, s)
	}
	return Pattern{r: r}, nil
}

// Negate reports whether the pattern began with "!".
func (p Pattern) Negate() bool { return p.r.negate }

// Anchored reports whether the pattern is matched from the folder root
// (it holds a slash), not against base names at any depth.
func (p Pattern) Anchored() bool { return !p.r.base }

// Glob returns the doublestar glob the pattern matches with.
func (p Pattern) Glob() string { return p.r.glob }

// Match reports whether the pattern matches rel itself (slash separated,
// relative to the root), regardless of the ancestors of rel.
func (p Pattern) Match(rel string, isDir bool) bool {
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return false
	}
	if p.r.dirOnly && !isDir {
		return false
	}
	name := rel
	if p.r.base {
		name = rel[strings.LastIndexByte(rel, '/')+1:]
	}
	return doublestar.MatchUnvalidated(p.r.glob, name)
}

// MayMatchBelow reports whether some path strictly below the directory
// dir could match the pattern itself (not only through dir or one of
// its ancestors matching). It errs towards yes.
func (p Pattern) MayMatchBelow(dir string) bool {
	dir = strings.Trim(dir, "/")
	if p.r.base || dir == "" {
		return true
	}
	pc := strings.Split(p.r.glob, "/")
	dc := strings.Split(dir, "/")
	for i, d := range dc {
		if i >= len(pc) {
			return false
		}
		if strings.Contains(pc[i], "**") {
			return true
		}
		if !doublestar.MatchUnvalidated(pc[i], d) {
			return false
		}
	}
	return len(dc) < len(pc)
}
