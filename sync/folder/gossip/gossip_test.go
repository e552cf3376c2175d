package gossip

import (
	"reflect"
	"testing"
)

func TestMissing(t *testing.T) {
	tests := []struct {
		name         string
		mine, theirs []Mark
		want         []Range
	}{
		{"nothing held", nil, []Mark{{1, 5}}, nil},
		{"they know nothing", []Mark{{2, 3}, {1, 5}}, nil, []Range{{1, 0, 5}, {2, 0, 3}}},
		{"they are behind on one origin", []Mark{{1, 5}, {2, 3}}, []Mark{{1, 5}, {2, 1}}, []Range{{2, 1, 3}}},
		{"they are ahead", []Mark{{1, 5}}, []Mark{{1, 9}}, nil},
		{"equal", []Mark{{1, 5}, {2, 2}}, []Mark{{2, 2}, {1, 5}}, nil},
		{"an origin only they know", []Mark{{1, 5}}, []Mark{{1, 5}, {7, 7}}, nil},
		{"duplicate marks take the highest", []Mark{{1, 5}}, []Mark{{1, 2}, {1, 4}}, []Range{{1, 4, 5}}},
	}
	for _, tt := range tests {
		if got := Missing(tt.mine, tt.theirs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Missing = %v, want %v", tt.name, got, tt.want)
		}
	}
}
