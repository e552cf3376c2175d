package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-sync/shoal/sync/transport"
)

// cpuFloor is the CPU time, for n bytes, of the work a `get -o` from one
// peer cannot leave out on this machine, each part measured on its own:
// hashing the bytes twice (the seed checks each reference it reads, the
// leecher verifies each block: DESIGN requires both), TLS 1.3 over
// loopback (both ends' AES-GCM and socket copies, as crypto/tls does it),
// and reading the bytes from a page-cached file and writing them to
// another. Framing, block lookups, scheduling and GC are not in it: they
// are what shoal adds.
type cpuFloor struct {
	n                int64
	hash, tls, files time.Duration // hash is one pass; the floor counts it twice
}

func (f cpuFloor) total() time.Duration { return 2*f.hash + f.tls + f.files }

// ceiling is the fastest a transfer needing f.total() of CPU can go with
// every core of the machine busy all the time, in bytes per second.
func (f cpuFloor) ceiling() float64 {
	return float64(f.n) * float64(runtime.NumCPU()) / f.total().Seconds()
}

func (f cpuFloor) String() string {
	return fmt.Sprintf("SHA-256 2 x %.2f s, TLS loopback %.2f s, file read+write %.2f s",
		f.hash.Seconds(), f.tls.Seconds(), f.files.Seconds())
}

// measureFloor measures the floor for n bytes, reading src (at least n
// bytes, page-cached) and writing a scratch file in dir. Each part is the
// least of three runs: a floor is a lower bound, and on a virtual machine
// the same work sometimes costs several times more (memory the host took
// back is faulted in again on first touch).
func measureFloor(ctx context.Context, src, dir string, n int64) (cpuFloor, error) {
	f := cpuFloor{n: n}
	parts := []struct {
		d  *time.Duration
		fn func() error
	}{
		{&f.hash, func() error { hashN(n); return nil }},
		{&f.tls, func() error { _, err := transport.MeasureStdTLSLoopback(ctx, n); return err }},
		{&f.files, func() error { return copyFile(src, filepath.Join(dir, "floor.tmp"), n) }},
	}
	for _, p := range parts {
		for i := range 3 {
			d, err := cpuOf(p.fn)
			if err != nil {
				return f, fmt.Errorf("CPU floor: %w", err)
			}
			if i == 0 || d < *p.d {
				*p.d = d
			}
		}
	}
	return f, nil
}

// hashN hashes n bytes in blocks of the chunker's average size.
func hashN(n int64) {
	buf := randomData(64 << 10)
	for done := int64(0); done < n; done += int64(len(buf)) {
		sum := sha256.Sum256(buf)
		buf[0] ^= sum[0]
	}
}

// copyFile copies n bytes of src into a new file dst with pread and pwrite
// in 256 KiB pieces, syncs and removes it.
func copyFile(src, dst string, n int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer os.Remove(dst)
	defer out.Close()
	buf := make([]byte, 256<<10)
	for off := int64(0); off < n; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), n-off)]
		if _, err := in.ReadAt(b, off); err != nil {
			return err
		}
		if _, err := out.WriteAt(b, off); err != nil {
			return err
		}
	}
	return out.Sync()
}

// cpuOf runs fn and returns the CPU time (user and system) this process
// spent meanwhile. Nothing else may run in the process.
func cpuOf(fn func() error) (time.Duration, error) {
	before, err := selfCPU()
	if err != nil {
		return 0, err
	}
	if err := fn(); err != nil {
		return 0, err
	}
	after, err := selfCPU()
	return after - before, err
}

// procCPU returns the CPU time (user and system, all threads) process pid
// has run for, from /proc/PID/stat, in the kernel's fixed 100 Hz ticks.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		t, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += t
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
