package index

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxPathLen bounds a record's path in bytes.
const MaxPathLen = 4096

// ErrBadPath means a record's path is not a clean relative path inside
// the folder.
var ErrBadPath = errors.New("invalid path")

// ValidatePath checks that p is a path a record may carry: relative,
// slash separated, NFC, valid UTF-8, no empty, "." or ".." element, no
// NUL or backslash, at most MaxPathLen bytes, and not inside ".shoal/".
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrBadPath)
	case len(p) > MaxPathLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadPath, len(p), MaxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: %q is not UTF-8", ErrBadPath, p)
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("%w: %q holds a NUL or a backslash", ErrBadPath, p)
	case p[0] == '/':
		return fmt.Errorf("%w: %q is absolute", ErrBadPath, p)
	case !norm.NFC.IsNormalString(p):
		return fmt.Errorf("%w: %q is not in Unicode NFC", ErrBadPath, p)
	}
	for i, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Errorf("%w: %q has an empty element", ErrBadPath, p)
		case el == "." || el == "..":
			return fmt.Errorf("%w: %q has a %q element", ErrBadPath, p, el)
		case i == 0 && el == ".shoal":
			return fmt.Errorf("%w: %q is inside .shoal/", ErrBadPath, p)
		}
	}
	return nil
}
