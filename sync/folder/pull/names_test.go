package pull

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		goos, path string
		bad        bool
	}{
		{"windows", "docs/report.txt", false},
		{"windows", "CON", true},
		{"windows", "dir/con.txt", true},
		{"windows", "dir/Lpt9.log", true},
		{"windows", "console.txt", false},
		{"windows", "a:b", true},
		{"windows", "what?.txt", true},
		{"windows", "trailing.", true},
		{"windows", "sub /x", true},
		{"windows", "tab\there", true},
		{"linux", "a:b", false},
		{"linux", "CON", false},
		{"darwin", "trailing.", false},
	}
	for _, tt := range tests {
		err := CheckName(tt.goos, tt.path)
		if (err != nil) != tt.bad || (err != nil && !errors.Is(err, ErrUnsupportedName)) {
			t.Errorf("CheckName(%s, %q) = %v, want bad=%v", tt.goos, tt.path, err, tt.bad)
		}
	}
}
