package history

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Mode says which changes keep the version they replace.
type Mode string

// Versioning modes.
const (
	// Remote keeps what a change from a peer replaces or deletes (the
	// default, as Syncthing's versioners do).
	Remote Mode = "remote"
	// All also keeps what a local edit or delete replaces: the folder's
	// files are copied into the store as they are scanned or pulled,
	// since an edit in place leaves no old bytes on disk to keep.
	All Mode = "all"
)

// Defaults of the settings.
const (
	DefaultVersions       = 10
	DefaultMaxAge         = 30 * 24 * time.Hour
	DefaultMaxSizePercent = 10.0
)

// Settings are a folder's versioning and retention, as given by the user
// (key=value words; an empty field takes its default). They are kept as
// text so that what the user typed is what `shoal folder` shows back.
type Settings struct {
	Versioning string `json:"versioning,omitempty"` // remote | all
	Versions   string `json:"versions,omitempty"`   // per file: 20
	MaxAge     string `json:"max_age,omitempty"`    // 7d, 12h, 2w; 0: no limit
	MaxSize    string `json:"max_size,omitempty"`   // 5%, 2GiB; 0: no limit
}

// Keys are the settings' names, as `shoal folder set` takes them.
var Keys = []string{"versioning", "versions", "max-age", "max-size"}

// ErrBadSetting means a setting's key or value is not understood.
var ErrBadSetting = errors.New("bad folder setting")

// Set sets key (one of Keys) to value, checked; an empty value resets
// the key to its default.
func (s *Settings) Set(key, value string) error {
	t := *s
	switch key {
	case "versioning":
		t.Versioning = value
	case "versions":
		t.Versions = value
	case "max-age", "max_age":
		t.MaxAge = value
	case "max-size", "max_size":
		t.MaxSize = value
	default:
		return fmt.Errorf("%w: unknown key %q (want one of %s)", ErrBadSetting, key, strings.Join(Keys, ", "))
	}
	if _, err := t.Policy(); err != nil {
		return err
	}
	*s = t
	return nil
}

// SetWords applies words of the form key=value.
func (s *Settings) SetWords(words []string) error {
	t := *s
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrBadSetting, w)
		}
		if err := t.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	*s = t
	return nil
}

// Policy is the settings parsed, defaults filled in.
type Policy struct {
	Mode     Mode
	Versions int           // kept per file; 0 keeps none
	MaxAge   time.Duration // 0: no limit
	// MaxBytes, when set, caps the kept versions' total size; otherwise
	// MaxPercent of the folder's size does (0: no limit).
	MaxBytes   int64
	MaxPercent float64
}

// Policy parses the settings.
func (s Settings) Policy() (Policy, error) {
	p := Policy{Mode: Remote, Versions: DefaultVersions, MaxAge: DefaultMaxAge, MaxPercent: DefaultMaxSizePercent}
	switch Mode(s.Versioning) {
	case "", Remote:
	case All:
		p.Mode = All
	default:
		return p, fmt.Errorf("%w: versioning=%q: want remote (what peers' changes replace) or all (local edits too)", ErrBadSetting, s.Versioning)
	}
	if s.Versions != "" {
		n, err := strconv.Atoi(s.Versions)
		if err != nil || n < 0 || n > 1<<20 {
			return p, fmt.Errorf("%w: versions=%q: want a count of versions per file, 0 or more", ErrBadSetting, s.Versions)
		}
		p.Versions = n
	}
	if s.MaxAge != "" {
		d, err := ParseAge(s.MaxAge)
		if err != nil {
			return p, fmt.Errorf("%w: max-age=%q: %v", ErrBadSetting, s.MaxAge, err)
		}
		p.MaxAge = d
	}
	if s.MaxSize != "" {
		p.MaxPercent = 0
		if v, ok := strings.CutSuffix(s.MaxSize, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1000 || math.IsNaN(f) {
				return p, fmt.Errorf("%w: max-size=%q: want a percentage of the folder's size (5%%) or a size (2GiB)", ErrBadSetting, s.MaxSize)
			}
			p.MaxPercent = f
		} else if s.MaxSize != "0" {
			n, err := humanize.ParseBytes(s.MaxSize)
			if err != nil || n > math.MaxInt64 {
				return p, fmt.Errorf("%w: max-size=%q: want a percentage of the folder's size (5%%) or a size (2GiB)", ErrBadSetting, s.MaxSize)
			}
			p.MaxBytes = int64(n)
		}
	}
	return p, nil
}

// ParseAge parses a duration with days and weeks besides Go's units:
// 30d, 2w, 12h, 1d12h; "0" is no limit.
func ParseAge(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "dw")
		if i < 0 {
			d, err := time.ParseDuration(rest)
			if err != nil || d < 0 {
				return 0, errors.New("want a duration such as 30d, 2w, 12h")
			}
			return total + d, nil
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 || n > 100000 {
			return 0, errors.New("want a duration such as 30d, 2w, 12h")
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return total, nil
}

// Limit is the total size the kept versions of a folder of folderBytes
// may take; 0 is no limit.
func (p Policy) Limit(folderBytes int64) int64 {
	if p.MaxBytes > 0 {
		return p.MaxBytes
	}
	if p.MaxPercent <= 0 {
		return 0
	}
	return max(1, int64(float64(folderBytes)*p.MaxPercent/100))
}

// String shows the policy as `shoal folder` prints it.
func (p Policy) String() string {
	age := "no limit"
	if p.MaxAge > 0 {
		age = FormatAge(p.MaxAge)
	}
	size := "no limit"
	switch {
	case p.MaxBytes > 0:
		size = humanize.IBytes(uint64(p.MaxBytes))
	case p.MaxPercent > 0:
		size = strconv.FormatFloat(p.MaxPercent, 'f', -1, 64) + "% of the folder"
	}
	return fmt.Sprintf("versioning=%s versions=%d max-age=%s max-size=%s", p.Mode, p.Versions, age, size)
}

// FormatAge prints d in days where it is whole days.
func FormatAge(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Kept is one version a folder keeps (its bytes in .shoal/versions, or
// its blocks in the store).
type Kept struct {
	ID   string // the folder's name for it
	Path string // the file it was a version of
	Size int64
	Kept time.Time // when it was replaced
}

// SizeGrace is how long each file's newest kept version is spared by the
// size limit: a folder overwritten all at once (ransomware, a bad script)
// keeps a version of every file for at least this long, whatever it
// takes, so that it can be restored the next day. The count and age
// limits still apply.
const SizeGrace = 24 * time.Hour

// Expired returns the kept versions that policy p no longer keeps in a
// folder of folderBytes at time now: past the count per file (the oldest
// go first), older than the maximum age, and the oldest of the rest while
// their total is over the size limit, except each file's newest version
// for SizeGrace. Versions held (a restore reading them) are never
// returned, and count as kept.
func Expired(kept []Kept, p Policy, folderBytes int64, now time.Time, held func(Kept) bool) []Kept {
	if held == nil {
		held = func(Kept) bool { return false }
	}
	order := append([]Kept(nil), kept...)
	// Newest first; ties broken by ID so every run decides alike.
	sort.SliceStable(order, func(i, j int) bool {
		if !order[i].Kept.Equal(order[j].Kept) {
			return order[i].Kept.After(order[j].Kept)
		}
		return order[i].ID > order[j].ID
	})
	drop := make([]bool, len(order))
	perPath := map[string]int{}
	spared := make([]bool, len(order)) // a file's newest, within SizeGrace
	for i, k := range order {
		if perPath[k.Path] == 0 && now.Sub(k.Kept) < SizeGrace {
			spared[i] = true
		}
		if held(k) {
			perPath[k.Path]++
			continue
		}
		switch {
		case perPath[k.Path] >= p.Versions:
			drop[i] = true
		case p.MaxAge > 0 && now.Sub(k.Kept) > p.MaxAge:
			drop[i] = true
		default:
			perPath[k.Path]++
		}
	}
	if limit := p.Limit(folderBytes); limit > 0 {
		var total int64
		for i, k := range order {
			if !drop[i] {
				total += k.Size
			}
		}
		for i := len(order) - 1; i >= 0 && total > limit; i-- {
			if !drop[i] && !spared[i] && !held(order[i]) {
				drop[i] = true
				total -= order[i].Size
			}
		}
	}
	var out []Kept
	for i, k := range order {
		if drop[i] {
			out = append(out, k)
		}
	}
	return out
}
