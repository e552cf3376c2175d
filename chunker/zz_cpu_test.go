package chunker

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	data := randBytes(3, 256<<20)
	k := newCutter(DefaultConfig())
	measure := func(f func()) (wall, cpu time.Duration) {
		c0, w0 := cpuNow(), time.Now()
		f()
		return time.Since(w0), cpuNow() - c0
	}
	for range 3 {
		_, cc := measure(func() { cutOnly(k, data) })
		_, sc := measure(func() { sha1core(data) })
		sw, spc := measure(func() {
			if os.Getenv("ZZCPU") == "reader" {
				Split(context.Background(), bytes.NewReader(data), Options{}, func(Chunk) error { return nil })
			} else {
				SplitBytes(context.Background(), data, Options{}, func(Chunk) error { return nil })
			}
		})
		mb := float64(len(data)) / 1e6
		t.Logf("chunk %.0f MB/s-cpu, sha %.0f MB/s-cpu, split wall %.0f MB/s, split cpu %.2fs vs chunk+sha %.2fs (overhead %.1f%%), ideal-2core %.0f MB/s",
			mb/cc.Seconds(), mb/sc.Seconds(), mb/sw.Seconds(), spc.Seconds(), (cc + sc).Seconds(),
			100*(spc.Seconds()/(cc+sc).Seconds()-1), mb/((cc+sc).Seconds()/2))
	}
}
