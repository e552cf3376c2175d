package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/chunker"
)

// plainScan reads every regular file below dir, chunks it with FastCDC
// and hashes each chunk, on every core, and returns the time and the CPU
// this process spent.
func plainScan(dir string, files int) (time.Duration, time.Duration, error) {
	paths := make([]string, 0, files)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	cpu0, err := procCPU(os.Getpid())
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	work := make(chan string)
	errs := make(chan error, runtime.NumCPU())
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			var buf []byte
			for p := range work {
				f, err := os.Open(p)
				if err != nil {
					trySend(errs, err)
					continue
				}
				buf = buf[:0]
				for {
					if len(buf) == cap(buf) {
						buf = append(buf, 0)[:len(buf)]
					}
					n, err := f.Read(buf[len(buf):cap(buf)])
					buf = buf[:len(buf)+n]
					if err != nil {
						break
					}
				}
				f.Close()
				err = chunker.SplitBytes(context.Background(), buf, chunker.Options{Workers: 1}, func(chunker.Chunk) error { return nil })
				if err != nil {
					trySend(errs, err)
				}
			}
		})
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	el := time.Since(t0)
	cpu1, err := procCPU(os.Getpid())
	if err != nil {
		return 0, 0, err
	}
	select {
	case err := <-errs:
		return 0, 0, err
	default:
	}
	return el, cpu1 - cpu0, nil
}

func trySend(ch chan<- error, err error) {
	select {
	case ch <- err:
	default:
	}
}
