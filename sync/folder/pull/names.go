package pull

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// ErrUnsupportedName means a valid record's name cannot be held on this
// machine's filesystem; the path is skipped here, never deleted on peers.
var ErrUnsupportedName = errors.New("name not allowed on this system")

// CheckName reports whether path (slash separated) can be created on
// goos ("" for this machine's).
func CheckName(goos, path string) error {
	if goos == "" {
		goos = runtime.GOOS
	}
	if goos != "windows" {
		return nil
	}
	for _, el := range strings.Split(path, "/") {
		if strings.ContainsAny(el, `<>:"|?*`) {
			return fmt.Errorf("%w: %q holds one of < > : \" | ? *", ErrUnsupportedName, el)
		}
		for _, r := range el {
			if r < 0x20 {
				return fmt.Errorf("%w: %q holds a control character", ErrUnsupportedName, el)
			}
		}
		if strings.HasSuffix(el, ".") || strings.HasSuffix(el, " ") {
			return fmt.Errorf("%w: %q ends in a dot or a space", ErrUnsupportedName, el)
		}
		base := strings.ToUpper(el)
		if i := strings.IndexByte(base, '.'); i >= 0 {
			base = base[:i]
		}
		switch base {
		case "CON", "PRN", "AUX", "NUL",
			"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
			"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
			return fmt.Errorf("%w: %q is a reserved device name", ErrUnsupportedName, el)
		}
	}
	return nil
}
