package bencode

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrSyntax is wrapped by every decoding error on malformed or
// non-canonical input.
var ErrSyntax = errors.New("bencode: invalid input")

// ErrLimit is wrapped by decoding errors on input that exceeds a Limits bound.
var ErrLimit = errors.New("bencode: limit exceeded")

// Raw is an already-encoded bencode value, written verbatim by Encode.
type Raw []byte

// Limits bounds what Decode accepts; zero fields take the defaults.
type Limits struct {
	MaxDepth   int // nesting of lists and dictionaries; default 16
	MaxListLen int // items in one list or dictionary; default 1024
	MaxString  int // bytes in one string; default 65536
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxListLen <= 0 {
		l.MaxListLen = 1024
	}
	if l.MaxString <= 0 {
		l.MaxString = 65536
	}
	return l
}

// Decode parses exactly one value filling all of b, with default limits.
func Decode(b []byte) (any, error) {
	return Limits{}.Decode(b)
}

// Decode parses exactly one value filling all of b under the limits l.
func (l Limits) Decode(b []byte) (any, error) {
	d := decoder{buf: b, lim: l.withDefaults()}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrSyntax, len(b)-d.pos)
	}
	return v, nil
}

// DecodePrefix parses one value at the start of b and returns it with the
// number of bytes it took.
func (l Limits) DecodePrefix(b []byte) (any, int, error) {
	d := decoder{buf: b, lim: l.withDefaults()}
	v, err := d.value(0)
	return v, d.pos, err
}

type decoder struct {
	buf []byte
	pos int
	lim Limits
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) value(depth int) (any, error) {
	if d.pos >= len(d.buf) {
		return nil, d.errf("unexpected end")
	}
	switch c := d.buf[d.pos]; {
	case c == 'i':
		d.pos++
		return d.integer('e')
	case c >= '0' && c <= '9':
		return d.str()
	case c == 'l':
		if depth >= d.lim.MaxDepth {
			return nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, d.lim.MaxDepth)
		}
		d.pos++
		list := []any{}
		for {
			if d.pos >= len(d.buf) {
				return nil, d.errf("unterminated list")
			}
			if d.buf[d.pos] == 'e' {
				d.pos++
				return list, nil
			}
			if len(list) >= d.lim.MaxListLen {
				return nil, fmt.Errorf("%w: list longer than %d", ErrLimit, d.lim.MaxListLen)
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case c == 'd':
		if depth >= d.lim.MaxDepth {
			return nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, d.lim.MaxDepth)
		}
		d.pos++
		dict := map[string]any{}
		var prev string
		for {
			if d.pos >= len(d.buf) {
				return nil, d.errf("unterminated dictionary")
			}
			if d.buf[d.pos] == 'e' {
				d.pos++
				return dict, nil
			}
			if len(dict) >= d.lim.MaxListLen {
				return nil, fmt.Errorf("%w: dictionary longer than %d", ErrLimit, d.lim.MaxListLen)
			}
			if c := d.buf[d.pos]; c < '0' || c > '9' {
				return nil, d.errf("dictionary key is not a string")
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if len(dict) > 0 && k <= prev {
				return nil, d.errf("dictionary key %q not sorted or repeated", k)
			}
			prev = k
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			dict[k] = v
		}
	default:
		return nil, d.errf("unexpected byte %q", c)
	}
}

// integer parses digits up to the terminator end, canonically.
func (d *decoder) integer(end byte) (int64, error) {
	i := bytes.IndexByte(d.buf[d.pos:], end)
	if i < 0 {
		return 0, d.errf("unterminated integer")
	}
	s := d.buf[d.pos : d.pos+i]
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		if end != 'e' {
			return 0, d.errf("negative length")
		}
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, d.errf("bad integer %q", s)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, d.errf("bad integer %q", s)
		}
	}
	if digits[0] == '0' && (len(digits) > 1 || len(s) != len(digits)) {
		return 0, d.errf("non-canonical integer %q", s)
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, d.errf("integer %q: %v", s, err)
	}
	d.pos += i + 1
	return n, nil
}

func (d *decoder) str() (string, error) {
	n, err := d.integer(':')
	if err != nil {
		return "", err
	}
	if n > int64(d.lim.MaxString) {
		return "", fmt.Errorf("%w: string of %d bytes", ErrLimit, n)
	}
	if n > int64(len(d.buf)-d.pos) {
		return "", d.errf("string of %d bytes past end", n)
	}
	s := string(d.buf[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s, nil
}

// Encode returns the bencoding of v, which may be built of int, int64,
// string, []byte, Raw, []any, []string, map[string]any and bool (as 0/1).
func Encode(v any) ([]byte, error) {
	return Append(nil, v)
}

// Append appends the bencoding of v to b.
func Append(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case int64:
		b = strconv.AppendInt(append(b, 'i'), x, 10)
		return append(b, 'e'), nil
	case int:
		b = strconv.AppendInt(append(b, 'i'), int64(x), 10)
		return append(b, 'e'), nil
	case bool:
		if x {
			return append(b, "i1e"...), nil
		}
		return append(b, "i0e"...), nil
	case string:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		return append(append(b, ':'), x...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		return append(append(b, ':'), x...), nil
	case Raw:
		return append(b, x...), nil
	case []any:
		b = append(b, 'l')
		for _, e := range x {
			var err error
			if b, err = Append(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case []string:
		b = append(b, 'l')
		for _, e := range x {
			b, _ = Append(b, e)
		}
		return append(b, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b, _ = Append(b, k)
			var err error
			if b, err = Append(b, x[k]); err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
		}
		return append(b, 'e'), nil
	default:
		return nil, fmt.Errorf("bencode: cannot encode %T", v)
	}
}
