package diskfree

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseFloor parses a floor as a user writes it: "1%", "5GiB", or both
// joined by a comma ("1%,100MiB": whichever is larger). Byte units: B,
// KB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB (powers of 1024).
func ParseFloor(s string) (Floor, error) {
	var f Floor
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if p, ok := strings.CutSuffix(part, "%"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || v < 0 || v > 100 {
				return Floor{}, fmt.Errorf("free-space floor %q: %q is not a percentage from 0 to 100", s, part)
			}
			f.Percent = v
			continue
		}
		n, err := parseBytes(part)
		if err != nil {
			return Floor{}, fmt.Errorf("free-space floor %q: %w", s, err)
		}
		f.Bytes = n
	}
	return f, nil
}

var units = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func parseBytes(s string) (int64, error) {
	mult := 1.0
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MiB, 2GB)", s)
	}
	return int64(v * mult), nil
}
