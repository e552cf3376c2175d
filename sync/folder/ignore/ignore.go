package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// FileName is the name of the ignore file at a folder's root.
const FileName = ".shoalignore"

// InternalDir is the folder marker directory at the root, shoal's own.
const InternalDir = ".shoal"

// TempPrefix starts the base name of every temp file the puller and get write.
const TempPrefix = ".shoal-tmp-"

// Matcher says which paths of a folder are not synced.
// A nil or zero Matcher ignores only the built-ins. It is safe for
// concurrent use: nothing changes it after Parse.
type Matcher struct {
	rules []rule
}

// rule is one pattern line of a .shoalignore.
type rule struct {
	glob    string // doublestar pattern: braces escaped, leading slash dropped
	negate  bool   // "!pattern": re-include
	dirOnly bool   // "pattern/": matches directories only
	base    bool   // no slash in the pattern: matched against the base name at any depth
}

// Load reads root/.shoalignore (missing file: nothing but the built-ins is ignored).
func Load(root string) (*Matcher, error) {
	b, err := os.ReadFile(filepath.Join(root, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return Parse(nil), nil
	}
	if err != nil {
		return nil, fmt.Errorf("load ignore file: %w", err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 BOM, as git skips it
	return Parse(strings.Split(string(b), "\n")), nil
}

// Parse builds a Matcher from the lines of a .shoalignore.
// Lines that are not valid patterns (an unclosed "[", a trailing
// backslash) match nothing, as in git.
func Parse(lines []string) *Matcher {
	m := &Matcher{}
	for _, l := range lines {
		if r, ok := parseLine(l); ok {
			m.rules = append(m.rules, r)
		}
	}
	return m
}

// parseLine turns one line into a rule, following gitignore(5).
func parseLine(line string) (rule, bool) {
	line = strings.TrimSuffix(line, "\r")
	if line == "" || line[0] == '#' {
		return rule{}, false
	}
	line = trimTrailingSpaces(line)
	var r rule
	if line != "" && line[0] == '!' {
		r.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly = true
		line = strings.TrimSuffix(line, "/")
	}
	if line == "" {
		return rule{}, false
	}
	if strings.Contains(line, "/") {
		// A slash at the start or in the middle anchors the pattern at the root.
		line = strings.TrimPrefix(line, "/")
	} else {
		r.base = true
	}
	if line == "" {
		return rule{}, false
	}
	r.glob = escapeBraces(line)
	if strings.HasSuffix(r.glob, "/**") {
		// Git's trailing "/**" matches what is inside, not the directory
		// itself; doublestar's also matches the directory.
		r.glob = strings.TrimSuffix(r.glob, "**") + "*/**"
	}
	if !doublestar.ValidatePattern(r.glob) {
		return rule{}, false
	}
	return r, true
}

// trimTrailingSpaces drops trailing spaces unless a backslash quotes them.
func trimTrailingSpaces(s string) string {
	end := 0 // length of s up to its last significant byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			continue
		case '\\':
			i++
		}
		end = min(i+1, len(s))
	}
	return s[:end]
}

// escapeBraces makes "{", "}" and "," literal: git's wildmatch has no
// alternatives, doublestar does.
func escapeBraces(s string) string {
	if !strings.ContainsAny(s, "{},") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == '{' || c == '}' || c == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Ignored reports whether rel (slash-separated, relative to the folder root, no leading slash) is ignored.
func (m *Matcher) Ignored(rel string, isDir bool) bool {
	rel = strings.Trim(rel, "/")
	if rel == "" || rel == "." {
		return false
	}
	if IsInternal(rel) {
		return true
	}
	if rel == FileName {
		return false
	}
	if m == nil || len(m.rules) == 0 {
		return false
	}
	// Git never looks inside an ignored directory, so no rule can
	// re-include a path below one.
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && m.match(rel[:i], true) {
			return true
		}
	}
	return m.match(rel, isDir)
}

// match applies the rules to one path, ignoring its ancestors: the last
// rule that matches decides.
func (m *Matcher) match(rel string, isDir bool) bool {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	for i := len(m.rules) - 1; i >= 0; i-- {
		r := &m.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		name := rel
		if r.base {
			name = base
		}
		if doublestar.MatchUnvalidated(r.glob, name) {
			return !r.negate
		}
	}
	return false
}

// IsInternal reports whether rel is shoal's own: ".shoal" or anything under it, or a temp file of the puller/get (base name starting with ".shoal-tmp-"). Always ignored, whatever .shoalignore says (a negation cannot un-ignore it).
func IsInternal(rel string) bool {
	rel = strings.Trim(rel, "/")
	if rel == InternalDir || strings.HasPrefix(rel, InternalDir+"/") {
		return true
	}
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	return strings.HasPrefix(base, TempPrefix)
}
