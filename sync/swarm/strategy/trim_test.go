package strategy

import (
	"fmt"
	"testing"
	"time"
)

func TestTrim(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	lim := ConnLimits{High: 4, Low: 2, Grace: 30 * time.Second}
	type p struct {
		name      string
		age, idle time.Duration // connected this long ago; last active this long ago (0: never)
		protected bool
	}
	old := time.Hour
	tests := []struct {
		name  string
		peers []p
		want  string // names trimmed, in order
	}{
		{"at High: nothing", []p{{"A", old, 0, false}, {"B", old, 0, false}, {"C", old, 0, false}, {"D", old, 0, false}}, ""},
		{"past High: down to Low, idle longest first", []p{
			{"A", old, 10 * time.Minute, false}, {"B", old, time.Minute, false}, {"C", old, 5 * time.Minute, false},
			{"D", old, 2 * time.Minute, false}, {"E", old, 3 * time.Minute, false},
		}, "ACE"},
		{"never active counts from connecting", []p{
			{"A", 2 * time.Minute, 0, false}, {"B", old, time.Minute, false}, {"C", 10 * time.Minute, 0, false},
			{"D", old, 40 * time.Second, false}, {"E", old, 50 * time.Second, false},
		}, "CAB"},
		{"new peers and recently active ones are spared", []p{
			{"A", 10 * time.Second, 0, false}, {"B", old, 5 * time.Second, false}, {"C", 20 * time.Second, 0, false},
			{"D", old, time.Hour, false}, {"E", old, 29 * time.Second, false},
		}, "D"},
		{"protected peers are never trimmed", []p{
			{"A", old, time.Hour, true}, {"B", old, time.Hour, true}, {"C", old, time.Hour, true},
			{"D", old, time.Hour, true}, {"E", old, 2 * time.Hour, false},
		}, "E"},
		{"nothing idle: nothing trimmed", []p{
			{"A", old, time.Second, false}, {"B", old, time.Second, false}, {"C", old, time.Second, false},
			{"D", old, time.Second, false}, {"E", old, time.Second, false},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var peers []ConnStat
			names := map[string]string{}
			for _, q := range tc.peers {
				id := testPeer(q.name)
				names[fmt.Sprint(id)] = q.name
				st := ConnStat{ID: id, Connected: now.Add(-q.age), Protected: q.protected}
				if q.idle > 0 {
					st.Active = now.Add(-q.idle)
				}
				peers = append(peers, st)
			}
			got := ""
			for _, id := range Trim(now, peers, lim) {
				got += names[fmt.Sprint(id)]
			}
			if got != tc.want {
				t.Fatalf("trimmed %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConnLimitsDefaults(t *testing.T) {
	tests := []struct {
		in, want ConnLimits
	}{
		{ConnLimits{}, ConnLimits{High: 128, Low: 96, Grace: 30 * time.Second}},
		{ConnLimits{High: 10}, ConnLimits{High: 10, Low: 7, Grace: 30 * time.Second}},
		{ConnLimits{High: 10, Low: 20}, ConnLimits{High: 10, Low: 7, Grace: 30 * time.Second}},
		{ConnLimits{High: 10, Low: 5, Grace: time.Second}, ConnLimits{High: 10, Low: 5, Grace: time.Second}},
	}
	for _, tc := range tests {
		if got := tc.in.WithDefaults(); got != tc.want {
			t.Errorf("%+v.WithDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
