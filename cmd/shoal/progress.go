package main

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a bar on stderr for work that takes longer than a second,
// and only when stderr is a terminal. Its zero behaviour is silence.
//
// The bar starts with the work, so its rate is bytes over the time since
// then, but shows nothing for the first second (gate): a bar begun after a
// second would count that second's bytes as done in an instant (a first
// reading of "483 GB/s"). Sizes and rates are in IEC units (MiB), as the
// rate flags take them.
type progress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar // nil: never show
}

func newProgress(stderr io.Writer, total int64, label string) *progress {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return newBar(&gate{w: f, open: time.Now().Add(time.Second)}, total, label)
}

// newBar returns a progress drawn on w.
func newBar(w io.Writer, total int64, label string) *progress {
	max := total
	if max <= 0 {
		max = -1
	}
	return &progress{bar: progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// gate drops what is written to it until open, then passes it on.
type gate struct {
	w    io.Writer
	open time.Time
}

func (g *gate) Write(p []byte) (int, error) {
	if time.Now().Before(g.open) {
		return len(p), nil
	}
	return g.w.Write(p)
}

// SetTotal sets the bytes the work adds up to, once known.
func (p *progress) SetTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.ChangeMax64(n)
	}
}

// Add records n more bytes done.
func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add64(n)
	}
}

// Println prints a line to w without tearing the bar.
func (p *progress) Println(w io.Writer, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(w, s)
}

// Finish removes the bar.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// walkFiles calls fn with the size of every regular file under p (p itself
// if it is a file). A missing or unreadable p is an error.
func walkFiles(p string, fn func(size int64)) error {
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			fn(info.Size())
		}
		return nil
	})
}

// daemonLogger is the daemon's logger: info and above (peers that come
// and go, start and stop), as Syncthing logs; debug with -v.
func daemonLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// newLogger returns the slog logger commands use: text to stderr, warnings
// and above unless verbose.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
