package chunker

import (
	"fmt"
	"io"
)

// Splitter cuts a stream into chunks.
type Splitter interface {
	// Next returns the next chunk; the slice is valid only until the next
	// call. It returns io.EOF at the end (an empty stream gives no chunks).
	Next() ([]byte, error)
}

// NewSplitter returns a Splitter that reads r and cuts it as c says. An
// invalid c makes the first Next return an error wrapping ErrInvalidConfig.
func NewSplitter(r io.Reader, c Config) Splitter {
	if err := c.Validate(); err != nil {
		return &splitter{err: err}
	}
	size := bufSize(c)
	n := size
	if h := sizeHint(r); h >= 0 && h < int64(size) {
		n = int(h) + 1 // +1: the first fill then sees EOF
	}
	return &splitter{r: r, cut: newCutter(c), buf: make([]byte, n), size: size}
}

// bufSize returns the size of the read buffer for c: large reads, and at
// least four chunks so that moving the unchunked tail to the front is cheap.
func bufSize(c Config) int {
	return max(2<<20, 4*c.MaxSize())
}

// maxEmptyReads is how many (0, nil) reads in a row count as a broken reader.
const maxEmptyReads = 100

type splitter struct {
	r          io.Reader
	cut        *cutter
	buf        []byte
	size       int   // full size of buf; it starts smaller for small streams
	start, end int   // unreturned data is buf[start:end]
	eof        bool  // r returned io.EOF
	err        error // sticky error
}

func (s *splitter) Next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.eof && s.end-s.start < s.cut.max {
		if err := s.fill(); err != nil {
			s.err = err
			return nil, err
		}
	}
	if s.start == s.end {
		s.err = io.EOF
		return nil, io.EOF
	}
	n := s.cut.cut(s.buf[s.start:s.end])
	c := s.buf[s.start : s.start+n : s.start+n]
	s.start += n
	return c, nil
}

// fill moves the unreturned data to the front of buf and reads until buf
// holds at least max bytes or r ends.
func (s *splitter) fill() error {
	s.end = copy(s.buf, s.buf[s.start:s.end])
	s.start = 0
	for {
		n, eof, err := readAtLeast(s.r, s.buf, s.end, s.cut.max)
		s.end, s.eof = n, eof
		if err != nil || eof || n >= s.cut.max || len(s.buf) == s.size {
			return err
		}
		// The stream was hinted small but is not: grow to the full size.
		s.buf = append(s.buf[:n], make([]byte, s.size-n)...)
	}
}

// readAtLeast reads into buf[have:] until buf[:n] holds at least want bytes,
// buf is full, or r ends (eof). Each Read asks for all the room left.
func readAtLeast(r io.Reader, buf []byte, have, want int) (n int, eof bool, err error) {
	n = have
	empty := 0
	for n < want && n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		switch {
		case err == io.EOF:
			return n, true, nil
		case err != nil:
			return n, false, fmt.Errorf("chunker: read: %w", err)
		case m == 0:
			empty++
			if empty >= maxEmptyReads {
				return n, false, fmt.Errorf("chunker: read: %w", io.ErrNoProgress)
			}
		default:
			empty = 0
		}
	}
	return n, false, nil
}
