package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
)

// benchAdd measures the figures of the foundation issue: chunking and
// hashing speed against one core's SHA-256, and the wall time and memory
// of the real `shoal add`, `cat` and `get` on one file.
func benchAdd(ctx context.Context, opt options, t *table) error {
	work, cleanup, err := workDir(opt.workDir)
	if err != nil {
		return err
	}
	defer cleanup()
	size := int64(opt.sizeMiB) << 20
	data := randomData(size)

	chunkOnly := timeIt(func() { chunkAll(data) })
	sha := timeIt(func() { hashAll(data) })
	var splitErr error
	split := timeIt(func() {
		splitErr = chunker.SplitBytes(ctx, data, chunker.Options{}, func(chunker.Chunk) error { return nil })
	})
	if splitErr != nil {
		return splitErr
	}
	splitReader := timeIt(func() {
		splitErr = chunker.Split(ctx, bytes.NewReader(data), chunker.Options{}, func(chunker.Chunk) error { return nil })
	})
	if splitErr != nil {
		return splitErr
	}
	chunkRate := float64(size) / chunkOnly
	shaRate := float64(size) / sha
	ceiling := 2 / (1/chunkRate + 1/shaRate)
	splitRate := float64(size) / split
	t.add(row{"FastCDC chunk-only, 1 core (via io.Reader)", mbps(size, chunkOnly), "1500 MB/s (issue goal)", fmt.Sprintf("%.2f", chunkRate/1.5e9), ">= 1.00"})
	t.add(row{"SHA-256, 1 core", mbps(size, sha), "-", "-", "-"})
	t.add(row{"chunk + SHA-256, all cores (in memory)", mbps(size, split), fmt.Sprintf("%.0f MB/s ceiling 2/(1/chunk+1/sha)", ceiling/1e6), fmt.Sprintf("%.2f", splitRate/ceiling), ">= 0.90"})
	t.add(row{"  same through an io.Reader (+ a copy)", mbps(size, splitReader), fmt.Sprintf("%.0f MB/s", ceiling/1e6), fmt.Sprintf("%.2f", float64(size)/splitReader/ceiling), "-"})

	// The real binary on a real file.
	file := filepath.Join(work, "data.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return err
	}
	bin, err := buildShoal(ctx, work)
	if err != nil {
		return err
	}

	homeRef := filepath.Join(work, "home-nocopy")
	ref, err := runShoal(ctx, bin, homeRef, io.Discard, "add", "-Q", "--nocopy", file)
	if err != nil {
		return err
	}
	t.add(row{"shoal add --nocopy (wall)", secs(ref.wall), fmt.Sprintf("%s SHA-256 1 core", secs(sha)), fmt.Sprintf("%.2f", ref.wall/sha), "<= 1.20"})
	t.add(row{"  RSS", mib(ref.maxRSS), "-", "-", "-"})

	wb, err := writeBatchTime(ctx, data, filepath.Join(work, "wb"))
	if err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(work, "wb"))
	homeCopy := filepath.Join(work, "home-copy")
	cp, err := runShoal(ctx, bin, homeCopy, io.Discard, "add", "-Q", file)
	if err != nil {
		return err
	}
	if cp.out != ref.out {
		return fmt.Errorf("add gave %s, add --nocopy gave %s", cp.out, ref.out)
	}
	t.add(row{"shoal add, copy into badger (wall)", secs(cp.wall), fmt.Sprintf("%s tuned badger WriteBatch", secs(wb)), fmt.Sprintf("%.2f", cp.wall/wb), "<= 1.15"})
	t.add(row{"  RSS", mib(cp.maxRSS), "200 MiB", fmt.Sprintf("%.2f", float64(cp.maxRSS)/(200<<20)), "<= 1.00"})

	root := strings.TrimSpace(cp.out)
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()
	for _, c := range []struct {
		name, home string
		out        io.Writer
	}{
		{"copy, to /dev/null", homeCopy, devNull},
		{"nocopy, to /dev/null", homeRef, devNull},
		{"copy, through a pipe", homeCopy, &countWriter{}},
		{"nocopy, through a pipe", homeRef, &countWriter{}},
	} {
		cat, err := runShoal(ctx, bin, c.home, c.out, "cat", root)
		if err != nil {
			return err
		}
		if cw, ok := c.out.(*countWriter); ok && cw.n != size {
			return fmt.Errorf("cat gave %d bytes, want %d", cw.n, size)
		}
		t.add(row{"shoal cat (" + c.name + ")", mbps(size, cat.wall), "1000 MB/s (issue goal)", fmt.Sprintf("%.2f", float64(size)/cat.wall/1e9), ">= 1.00"})
	}
	out := filepath.Join(work, "out.bin")
	get, err := runShoal(ctx, bin, homeCopy, io.Discard, "get", root, "-o", out)
	if err != nil {
		return err
	}
	if err := sameFile(out, data); err != nil {
		return err
	}
	t.add(row{"shoal get -o (copy)", mbps(size, get.wall), "1000 MB/s (issue goal)", fmt.Sprintf("%.2f", float64(size)/get.wall/1e9), ">= 1.00"})
	t.note("%d MiB of random data; wall times are whole processes (start, open store, work, close); shoal is %s", opt.sizeMiB, bin)
	return nil
}

func workDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	d, err := os.MkdirTemp("", "shoalbench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func randomData(n int64) []byte { return randomDataSeed(n, 0) }

func randomDataSeed(n int64, seed uint64) []byte {
	key := [32]byte{'s', 'h', 'o', 'a', 'l'}
	for i := range 8 {
		key[8+i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func timeIt(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}

func chunkAll(data []byte) {
	s := chunker.NewSplitter(bytes.NewReader(data), chunker.DefaultConfig())
	for {
		if _, err := s.Next(); err != nil {
			return
		}
	}
}

func hashAll(data []byte) {
	for off := 0; off < len(data); off += 64 << 10 {
		end := min(off+64<<10, len(data))
		sha256.Sum256(data[off:end])
	}
}

// writeBatchTime writes data's FastCDC chunks, keyed by multihash, into a
// fresh badger through a WriteBatch with shoal's tuned options: the limit
// `shoal add` (copying) is compared with.
func writeBatchTime(ctx context.Context, data []byte, dir string) (float64, error) {
	type blk struct {
		key, val []byte
	}
	var blocks []blk
	err := chunker.Split(ctx, bytes.NewReader(data), chunker.Options{}, func(c chunker.Chunk) error {
		blocks = append(blocks, blk{unixfs.RawCID(c.Sum).Hash(), bytes.Clone(c.Data)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	db, err := badgerstore.OpenBadger(dir, badgerstore.Options{})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	wb := db.NewWriteBatch()
	for _, b := range blocks {
		if err := wb.Set(b.key, b.val); err != nil {
			wb.Cancel()
			db.Close()
			return 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		db.Close()
		return 0, err
	}
	err = db.Close()
	return time.Since(start).Seconds(), err
}

func buildShoal(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "shoal")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/shoal")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build shoal (run shoalbench from the repository root): %w", err)
	}
	return bin, nil
}

type runResult struct {
	wall   float64
	maxRSS int64
	out    string
}

// runShoal runs the shoal binary with a home and returns its wall time,
// peak RSS and (unless stdout is given) its output. It runs it through a
// small copy of this program (see rssWrap): on Linux a child started
// straight from here would count this process's memory in its peak RSS.
func runShoal(ctx context.Context, bin, home string, stdout io.Writer, args ...string) (runResult, error) {
	var buf bytes.Buffer
	var errBuf bytes.Buffer
	self, err := os.Executable()
	if err != nil {
		return runResult{}, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{rssWrapFlag, bin, "--home", home}, args...)...)
	cmd.Stdout = &buf
	if stdout != io.Discard {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &errBuf
	err = cmd.Run()
	if err != nil {
		return runResult{}, fmt.Errorf("shoal %s: %w: %s", strings.Join(args, " "), err, errBuf.String())
	}
	var res runResult
	for _, l := range strings.Split(errBuf.String(), "\n") {
		if _, err := fmt.Sscanf(l, rssWrapReport, &res.wall, &res.maxRSS); err == nil {
			res.out = strings.TrimSpace(buf.String())
			return res, nil
		}
	}
	return runResult{}, fmt.Errorf("shoal %s: no report from the wrapper: %s", strings.Join(args, " "), errBuf.String())
}

const (
	rssWrapFlag   = "-rss-wrap"
	rssWrapReport = "shoalbench-wrap wall=%f maxrss=%d"
)

// rssWrap runs a command, passing its output and exit code through, and
// reports its wall time and peak RSS on stderr. It runs as a fresh, small
// process so that the peak it reports is the command's own.
func rssWrap(args []string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rss := maxRSS(cmd.ProcessState)
	fmt.Fprintf(os.Stderr, rssWrapReport+"\n", wall, rss)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}

func sameFile(path string, want []byte) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("get wrote different bytes")
	}
	return nil
}

func secs(s float64) string { return fmt.Sprintf("%.2f s", s) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
