package api

import (
	"net/http"
	"time"
)

// Timeouts bound what a client of the API may hold open.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers.
	ReadHeader time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
	// Write bounds each write of a reply, not the reply: a client that
	// stops reading is let go, while a stream (a get waiting for peers, a
	// cat, the gateway) takes as long as its content needs.
	Write time.Duration
}

// DefaultTimeouts suit a loopback API: its clients are local commands,
// browsers and scrapers, never far away.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Idle: time.Minute, Write: 30 * time.Second}
}

// HTTPServer returns the server a daemon serves its API with. Request
// bodies (an import's CAR) are read for as long as they take; there is no
// ReadTimeout, and no WriteTimeout (which would cut every stream at a
// fixed age): each write gets its own deadline instead (WriteDeadlines).
func HTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           WriteDeadlines(h, t.Write),
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
	}
}

// WriteDeadlines gives every write of h's replies d to complete, set just
// before it (and before the server's last flush once h returns), so that
// time a handler spends between writes (waiting for peers, for the next
// block) never counts.
func WriteDeadlines(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		h.ServeHTTP(dw, r)
		dw.arm()
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) arm() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

// Flush keeps the writer an http.Flusher, as streams need.
func (w *deadlineWriter) Flush() {
	w.arm()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
