package wire

import (
	"bufio"
	"io"
	"testing"
)

// BenchmarkBlockStream writes 1 MiB blocks through WriteBlock into a
// bufio.Writer and reads them back with a Reader, through an in-memory pipe:
// the framing overhead alone, without TLS.
func BenchmarkBlockStream(b *testing.B) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		r := NewReader(pr, 0)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				done <- err
				return
			}
			if _, err := Decode(f); err != nil {
				done <- err
				return
			}
		}
	}()
	w := bufio.NewWriterSize(pw, 64<<10)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		if err := WriteBlock(w, uint64(i), cidA, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != io.EOF {
		b.Fatal(err)
	}
}
