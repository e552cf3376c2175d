package dag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// resumeMin is the smallest file whose temporary file outlives an aborted
// or crashed get: the next get of the same target takes it up and keeps
// every block in it that still matches its hash, as Syncthing's puller
// resumes from its temporary files. Smaller files are fetched again.
const resumeMin = flushMin

// tempPrefix is how the temporary files for target base begin; a random
// decimal number follows (os.CreateTemp). A long base is cut, with a hash
// of the whole name in its place, so that the temporary name stays within
// the 255 bytes a file name may have wherever base itself fits.
func tempPrefix(base string) string {
	const keep = 200
	if len(base) > keep+10 {
		sum := sha256.Sum256([]byte(base))
		cut := keep
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut] + "~" + hex.EncodeToString(sum[:4])
	}
	return ".shoal-tmp-" + base + "-"
}

// openTemp returns a temporary file for a file of size bytes at dir/base,
// locked for this get: a leftover of an earlier get of the same size when
// there is one (resumed), else a new one. Leftovers of other sizes (an
// earlier version of the target) are removed; those another get holds
// locked are left alone.
func openTemp(dir, base string, size int64) (f *os.File, resumed bool, err error) {
	prefix := tempPrefix(base)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		cf, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if !lockFile(cf) {
			cf.Close() // another get's, or no locks here: not ours to touch
			continue
		}
		fi, err := cf.Stat()
		if f == nil && err == nil && size >= resumeMin && fi.Size() == size {
			f, resumed = cf, true
			continue
		}
		os.Remove(p)
		cf.Close()
	}
	if f != nil {
		return f, true, nil
	}
	f, err = os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, false, err
	}
	lockFile(f)
	return f, false, nil
}

// resume places leaf c at p from what a resumed temporary file holds there,
// if those n bytes still match c's hash, as if c had arrived. It reports
// whether it did.
func (w *TreeWriter) resume(c cid.Cid, p placement, n int) (bool, error) {
	if p.file == nil || !p.file.resumed || c.Type() != unixfs.CodecRaw || n <= 0 ||
		p.off < 0 || p.off+int64(n) > p.file.size {
		return false, nil
	}
	if cap(w.resumeBuf) < n {
		w.resumeBuf = make([]byte, n)
	}
	buf := w.resumeBuf[:n]
	if _, err := p.file.f.ReadAt(buf, p.off); err != nil {
		return false, nil // cut short: fetch it
	}
	if store.VerifyBlock(c, buf) != nil {
		return false, nil // never written, or torn by the crash
	}
	return true, w.Put(context.Background(), c, buf)
}

// keepOnAbort reports whether f's temporary file stays for a later get.
func (f *outFile) keepOnAbort() bool {
	return f.size >= resumeMin && f.left < f.size
}
