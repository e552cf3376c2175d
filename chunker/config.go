package chunker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is a chunking algorithm.
type Kind int

const (
	// FastCDC is content-defined chunking with normalized chunking; the zero Kind.
	FastCDC Kind = iota
	// Fixed cuts chunks of exactly Config.Size bytes (the last one may be shorter).
	Fixed
)

// Defaults and limits of chunk sizes, in bytes.
const (
	DefaultMin = 16 << 10  // FastCDC minimum chunk size
	DefaultAvg = 64 << 10  // FastCDC target average chunk size
	DefaultMax = 256 << 10 // FastCDC maximum chunk size

	// MinFastCDCMin is the smallest allowed FastCDC Min: the gear hash needs
	// a 64-byte window to depend on content only.
	MinFastCDCMin = 64
	// MaxChunkSize is the largest chunk any config may produce (1 MiB), the
	// largest block IPFS peers reliably accept.
	MaxChunkSize = 1 << 20
)

// ErrInvalidConfig is returned (wrapped) for a chunker spec or Config that is
// not valid.
var ErrInvalidConfig = errors.New("invalid chunker config")

// Config selects a chunking algorithm and its sizes. The zero Config is the
// default FastCDC config.
type Config struct {
	Kind Kind
	// Min, Avg and Max bound FastCDC chunk sizes: no chunk is shorter than
	// Min (except the last) or longer than Max; sizes cluster around Avg.
	Min, Avg, Max int
	// Size is the chunk size of Fixed.
	Size int
}

// DefaultConfig returns FastCDC with min 16 KiB, avg 64 KiB, max 256 KiB.
func DefaultConfig() Config {
	return Config{Kind: FastCDC, Min: DefaultMin, Avg: DefaultAvg, Max: DefaultMax}
}

// withDefaults returns c, or DefaultConfig if c is the zero Config.
func (c Config) withDefaults() Config {
	if c == (Config{}) {
		return DefaultConfig()
	}
	return c
}

// Parse reads a chunker spec: "" or "fastcdc" (the defaults),
// "fastcdc-MIN-AVG-MAX" or "size-N", sizes in bytes.
func Parse(s string) (Config, error) {
	switch {
	case s == "" || s == "fastcdc":
		return DefaultConfig(), nil
	case strings.HasPrefix(s, "fastcdc-"):
		parts := strings.Split(strings.TrimPrefix(s, "fastcdc-"), "-")
		if len(parts) != 3 {
			return Config{}, fmt.Errorf("%w %q: want fastcdc-MIN-AVG-MAX", ErrInvalidConfig, s)
		}
		var v [3]int
		for i, p := range parts {
			n, err := parseSize(p)
			if err != nil {
				return Config{}, fmt.Errorf("%w %q: %v", ErrInvalidConfig, s, err)
			}
			v[i] = n
		}
		c := Config{Kind: FastCDC, Min: v[0], Avg: v[1], Max: v[2]}
		if err := c.validate(); err != nil {
			return Config{}, fmt.Errorf("chunker spec %q: %w", s, err)
		}
		return c, nil
	case strings.HasPrefix(s, "size-"):
		n, err := parseSize(strings.TrimPrefix(s, "size-"))
		if err != nil {
			return Config{}, fmt.Errorf("%w %q: %v", ErrInvalidConfig, s, err)
		}
		c := Config{Kind: Fixed, Size: n}
		if err := c.validate(); err != nil {
			return Config{}, fmt.Errorf("chunker spec %q: %w", s, err)
		}
		return c, nil
	}
	return Config{}, fmt.Errorf("%w %q: want fastcdc, fastcdc-MIN-AVG-MAX or size-N", ErrInvalidConfig, s)
}

// parseSize reads a decimal byte count in canonical form: digits only, no
// sign, no leading zeros.
func parseSize(p string) (int, error) {
	if p == "" {
		return 0, errors.New("empty size")
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("size %q is not a decimal number", p)
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("size %q has a leading zero", p)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("size %q is out of range", p)
	}
	return n, nil
}

// Validate reports whether c describes a usable chunker (the zero Config is
// valid: it means the defaults).
func (c Config) Validate() error {
	return c.withDefaults().validate()
}

// validate is Validate without the zero-value defaults.
func (c Config) validate() error {
	switch c.Kind {
	case FastCDC:
		if c.Min < MinFastCDCMin || c.Max > MaxChunkSize || c.Min >= c.Avg || c.Avg >= c.Max {
			return fmt.Errorf("%w: fastcdc sizes %d-%d-%d: want %d <= min < avg < max <= %d",
				ErrInvalidConfig, c.Min, c.Avg, c.Max, MinFastCDCMin, MaxChunkSize)
		}
	case Fixed:
		if c.Size < 1 || c.Size > MaxChunkSize {
			return fmt.Errorf("%w: size %d: want 1 <= size <= %d", ErrInvalidConfig, c.Size, MaxChunkSize)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidConfig, int(c.Kind))
	}
	return nil
}

// String returns the spec of c ("fastcdc-16384-65536-262144", "size-262144"),
// which Parse reads back to c.
func (c Config) String() string {
	c = c.withDefaults()
	switch c.Kind {
	case FastCDC:
		return fmt.Sprintf("fastcdc-%d-%d-%d", c.Min, c.Avg, c.Max)
	case Fixed:
		return fmt.Sprintf("size-%d", c.Size)
	}
	return fmt.Sprintf("unknown-%d", int(c.Kind))
}

// MaxSize returns the largest chunk c can produce.
func (c Config) MaxSize() int {
	c = c.withDefaults()
	if c.Kind == Fixed {
		return c.Size
	}
	return c.Max
}
