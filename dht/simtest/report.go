package simtest

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTo prints the report as a two-column table.
func (r LookupReport) WriteTo(w io.Writer) (int64, error) {
	rows := [][2]string{
		{"nodes", fmt.Sprint(r.Nodes)},
		{"links", r.Link.String()},
		{"bootstrap", fmt.Sprintf("%v (network clock), %d failed", r.BootstrapTime, r.BootstrapFailures)},
		{"lookups", fmt.Sprintf("%d (%d errors)", r.Lookups, r.Errors)},
		{"exact k closest", fmt.Sprintf("%d/%d = %.2f%% (recall %.3f%%)", r.Exact, r.Lookups, 100*r.ExactFraction(), 100*r.Recall)},
		{"rounds", distString(r.Rounds)},
		{"messages", distString(r.Messages)},
		{"lookup latency", distString(r.Latency)},
		{"table entries", fmt.Sprintf("%d, %.1f%% good, %.1f%% live", r.TableEntries, 100*r.TableGood, 100*r.TableLive)},
		{"packets", netString(r)},
		{"cpu", fmt.Sprint(r.CPU)},
	}
	return writeRows(w, "dht lookups (simnet)", rows)
}

func netString(r LookupReport) string {
	s := r.Net
	return fmt.Sprintf("%d sent, %d delivered, %d lost, %d unreachable, %d overflow", s.Sent, s.Delivered, s.Lost, s.Unreachable, s.Overflow)
}

func distString[T interface{ ~int | ~int64 }](d Dist[T]) string {
	return fmt.Sprintf("median %v, p90 %v, max %v", d.Median, d.P90, d.Max)
}

// writeRows prints a title and aligned name/value rows.
func writeRows(w io.Writer, title string, rows [][2]string) (int64, error) {
	cw := &countWriter{w: w}
	fmt.Fprintf(cw, "%s\n", title)
	tw := tabwriter.NewWriter(cw, 0, 4, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	tw.Flush()
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
