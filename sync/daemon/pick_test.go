package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestPickVersion(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	vs := []Version{
		{Version: 1, Time: now.Add(-3 * time.Hour)},
		{Version: 2, Time: now.Add(-2 * time.Hour)},
		{Version: 3, Time: now.Add(-time.Hour), Current: true},
	}
	tests := []struct {
		n    int
		at   string
		want int
		err  string
	}{
		{n: 2, want: 1},
		{n: 4, err: "no version 4"},
		{n: -1, err: "no version -1"},
		{at: "90m", want: 1},
		{at: "2h", want: 1},
		{at: "10m", want: 2},
		{at: "2026-12-01T09:30:00Z", want: 0},
		{at: "2026-12-01T08:00:00Z", err: "the oldest known"},
		{at: "2026-12-02T00:00:00Z", err: "future"},
		{at: "yesterday", err: "RFC 3339"},
		{n: 1, at: "1h", err: "not both"},
		{err: "give --version"},
	}
	for _, tt := range tests {
		got, err := pickVersion(vs, tt.n, tt.at, now)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("pickVersion(%d, %q) = %d, %v; want error with %q", tt.n, tt.at, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("pickVersion(%d, %q) = %d, %v; want %d", tt.n, tt.at, got, err, tt.want)
		}
	}
}
