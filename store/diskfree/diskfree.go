package diskfree

import (
	"fmt"
	"syscall"
)

// Floor is the free space a filesystem must keep: the larger of Percent of
// its size and Bytes.
type Floor struct {
	Percent float64 // of the filesystem's size, 0–100
	Bytes   int64
}

// DefaultPercent is the default share of a filesystem kept free (1 %, as
// Syncthing's minDiskFree).
const DefaultPercent = 1

// Of returns the floor in bytes for a filesystem of total bytes.
func (f Floor) Of(total uint64) uint64 {
	p := uint64(f.Percent / 100 * float64(total))
	return max(p, uint64(max(f.Bytes, 0)))
}

// String says the floor as a user would set it.
func (f Floor) String() string {
	switch {
	case f.Bytes > 0 && f.Percent > 0:
		return fmt.Sprintf("%g %% or %s", f.Percent, bytesString(uint64(f.Bytes)))
	case f.Bytes > 0:
		return bytesString(uint64(f.Bytes))
	}
	return fmt.Sprintf("%g %%", f.Percent)
}

// Space is a filesystem's free and total bytes (free: what an
// unprivileged writer may use).
type Space struct {
	Free, Total uint64
}

// LowSpaceError says a write was refused to keep a filesystem's floor. It
// wraps syscall.ENOSPC.
type LowSpaceError struct {
	Path  string
	Space Space
	Need  uint64 // bytes the write would add
	Floor Floor
}

func (e *LowSpaceError) Error() string {
	return fmt.Sprintf("%s: %s free of %s, writing %s more would go below the %s kept free",
		syscall.ENOSPC, bytesString(e.Space.Free), bytesString(e.Space.Total), bytesString(e.Need), e.Floor)
}

// Unwrap returns syscall.ENOSPC.
func (e *LowSpaceError) Unwrap() error { return syscall.ENOSPC }

// Check returns nil if n more bytes can be written to the filesystem
// holding path while keeping floor free, a *LowSpaceError if not, or the
// error from asking the filesystem. Where the platform cannot tell free
// space, it returns nil.
func Check(path string, n uint64, floor Floor) error {
	sp, ok, err := Stat(path)
	if err != nil || !ok {
		return err
	}
	return CheckSpace(path, sp, n, floor)
}

// CheckSpace is Check on a Space already known.
func CheckSpace(path string, sp Space, n uint64, floor Floor) error {
	if sp.Free < n || sp.Free-n < floor.Of(sp.Total) {
		return &LowSpaceError{Path: path, Space: sp, Need: n, Floor: floor}
	}
	return nil
}

func bytesString(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
