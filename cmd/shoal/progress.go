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
type progress struct {
	mu      sync.Mutex
	out     *os.File // nil: never show
	total   int64
	label   string
	start   time.Time
	pending int64
	bar     *progressbar.ProgressBar
}

func newProgress(stderr io.Writer, total int64, label string) *progress {
	p := &progress{total: total, label: label, start: time.Now()}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.out = f
	}
	return p
}

// SetTotal sets the bytes the work adds up to, once known.
func (p *progress) SetTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = n
	if p.bar != nil {
		p.bar.ChangeMax64(n)
	}
}

// Add records n more bytes done.
func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return
	}
	p.pending += n
	if p.bar == nil {
		if time.Since(p.start) < time.Second {
			return
		}
		max := p.total
		if max <= 0 {
			max = -1
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.out),
			progressbar.OptionSetDescription(p.label),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Add64(p.pending)
	p.pending = 0
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

// newLogger returns the slog logger commands use: text to stderr, warnings
// and above unless verbose.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
