//go:build linux

package badgerstore

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMapped asks the kernel to take the pages of the store's value log
// files out of this process's memory (MADV_PAGEOUT). Badger writes its
// value log through a shared mmap, so every block written would otherwise
// stay resident and count in the process's RSS until memory runs short.
// The pages stay in (or go back through) the page cache; nothing is lost,
// and a later read faults them back in. The advice is safe even if badger
// has remapped a file since /proc/self/maps was read: on any other memory
// it at worst reclaims pages that are then read back.
func trimMapped(dir string) { adviseMapped(dir, unix.MADV_PAGEOUT, ".vlog") }

// unmapResident takes the pages of the store's mapped files (value log,
// tables, memtable logs) out of this process's page tables
// (MADV_DONTNEED): they stay in the page cache, dirty ones are written
// back as usual (the mappings are shared), and the next access maps them
// again, without a read from disk.
func unmapResident(dir string) { adviseMapped(dir, unix.MADV_DONTNEED, ".vlog", ".sst", ".mem") }

// adviseMapped gives advice about every mapping of a file in dir whose
// name ends in one of suffixes.
func adviseMapped(dir string, advice int, suffixes ...string) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 6 {
			continue
		}
		path := strings.TrimLeft(fields[5], " ")
		if !hasSuffix(path, suffixes) || filepath.Dir(path) != dir {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// Plain syscall: the range is not Go memory.
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), uintptr(advice))
	}
}

func hasSuffix(path string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}
