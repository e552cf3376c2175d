package daemon

import (
	"testing"
	"time"
)

func TestQuietSince(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		active time.Time
		want   bool
	}{
		{"nothing moved since the last trim", time.Time{}, true},
		{"a block moved just now", now, false},
		{"a block moved a moment ago", now.Add(-trimDelay / 2), false},
		{"the last block moved trimDelay ago", now.Add(-trimDelay), true},
		{"long quiet", now.Add(-time.Hour), true},
	} {
		if got := quietSince(tc.active, now); got != tc.want {
			t.Errorf("%s: quietSince = %v, want %v", tc.name, got, tc.want)
		}
	}
}
