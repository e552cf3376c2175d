package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/time/rate"
)

// ErrBadRate is returned by ParseRate for a string that is not a rate.
var ErrBadRate = errors.New("invalid rate")

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseRate parses a byte rate per second such as "16MiB", "16MiB/s",
// "500kB", "1.5GB" or "1048576" (bytes). "0", "" and "unlimited" mean no
// limit and give 0.
func ParseRate(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSuffix(t, "ps")
	if t == "" || t == "0" || t == "unlimited" {
		return 0, nil
	}
	mult := 1.0
	for _, u := range rateUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%w %q: want a number of bytes per second like 16MiB", ErrBadRate, s)
	}
	n := v * mult
	if n > math.MaxInt64/2 {
		return 0, fmt.Errorf("%w %q: too large", ErrBadRate, s)
	}
	if n > 0 && n < 1 {
		n = 1
	}
	return int64(n), nil
}

// FormatRate prints a byte rate the way ParseRate reads it ("16MiB/s").
func FormatRate(bps int64) string {
	switch {
	case bps <= 0:
		return "unlimited"
	case bps%(1<<30) == 0:
		return fmt.Sprintf("%dGiB/s", bps>>30)
	case bps%(1<<20) == 0:
		return fmt.Sprintf("%dMiB/s", bps>>20)
	case bps%(1<<10) == 0:
		return fmt.Sprintf("%dKiB/s", bps>>10)
	}
	return fmt.Sprintf("%dB/s", bps)
}

// Limiter is a token bucket of payload bytes per second shared by all
// peers; a nil or zero-rate Limiter never waits. It is safe for concurrent use.
type Limiter struct {
	l     *rate.Limiter
	burst int
}

// NewLimiter returns a Limiter of bytesPerSec (0: unlimited, returns nil).
func NewLimiter(bytesPerSec int64) *Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := int(min(bytesPerSec, 256<<10))
	return &Limiter{l: rate.NewLimiter(rate.Limit(bytesPerSec), burst), burst: burst}
}

// WaitN blocks until n bytes may pass, or ctx is done.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.burst)
		if err := l.l.WaitN(ctx, k); err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		n -= k
	}
	return nil
}

// Rate returns the limit in bytes per second (0: unlimited).
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return int64(l.l.Limit())
}
