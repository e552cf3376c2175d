package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProgressUnitsAndFirstReading: the bar speaks MiB as the rate flags
// do, shows nothing before its gate opens, and its first reading counts
// the bytes done before it over the time they took, not as an instant's.
func TestProgressUnitsAndFirstReading(t *testing.T) {
	var buf bytes.Buffer
	const gateAfter = 100 * time.Millisecond
	p := newBar(&gate{w: &buf, open: time.Now().Add(gateAfter)}, 1<<30, "getting")
	p.Add(64 << 20) // the first moment's bytes, as a fast local get does
	if buf.Len() != 0 {
		t.Fatalf("shown before the gate opened: %q", buf.String())
	}
	<-time.NewTimer(gateAfter + 50*time.Millisecond).C // the stimulus: time passes
	p.Add(1)
	out := buf.String()
	if !strings.Contains(out, "MiB") || regexp.MustCompile(`\d (MB|GB)\b`).MatchString(out) {
		t.Fatalf("bar not in IEC units: %q", out)
	}
	m := regexp.MustCompile(`([\d.]+) (B|KiB|MiB|GiB|TiB)/s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rate in %q", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	scale := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	// 64 MiB in at least gateAfter: at most 640 MiB/s.
	if rate := v * scale; rate > float64(64<<20)/gateAfter.Seconds() {
		t.Errorf("first reading %s %s/s: more than the bytes over the time since the start", m[1], m[2])
	}
	p.Finish()
}
