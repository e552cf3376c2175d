package main

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runIn runs the command line in-process, as main would, and returns what
// it printed and its error.
func runIn(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// TestHelpAtEveryLevel asks for help of the top level, of every command
// and of every subcommand, with --help, -h and `shoal help ...`: each
// prints what it does, its syntax and its flags on stdout, nothing on
// stderr, and ends as help (exit 0).
func TestHelpAtEveryLevel(t *testing.T) {
	type level struct{ name, usage string }
	var levels []level
	for _, c := range commands() {
		levels = append(levels, level{c.name, c.usage})
		for _, s := range subcommands(c.name) {
			levels = append(levels, level{c.name + " " + s.name, s.usage})
		}
	}
	for _, l := range levels {
		syntax, what := splitUsage(l.usage)
		for _, form := range [][]string{
			append(strings.Fields(l.name), "--help"),
			append(strings.Fields(l.name), "-h"),
			append([]string{"help"}, strings.Fields(l.name)...),
		} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				out, errs, err := runIn(t, append([]string{"--home", t.TempDir()}, form...)...)
				if !errors.Is(err, errHelp) {
					t.Fatalf("err = %v, want help shown", err)
				}
				if errs != "" {
					t.Errorf("stderr: %q", errs)
				}
				for _, want := range []string{"usage: shoal " + syntax, what, "--home DIR"} {
					if !strings.Contains(out, want) {
						t.Errorf("help does not say %q:\n%s", want, out)
					}
				}
			})
		}
	}
	for _, form := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errs, err := runIn(t, form...)
		if !errors.Is(err, errHelp) || errs != "" {
			t.Fatalf("shoal %v: err %v, stderr %q", form, err, errs)
		}
		for _, c := range commands() {
			if !strings.Contains(out, c.usage) {
				t.Errorf("top-level help lacks %q", c.usage)
			}
		}
		if !strings.Contains(out, "providers") {
			t.Error("top-level help does not list dht providers")
		}
	}
}

// TestHelpShowsOnlyHonouredFlags: a command's flags section lists its own
// flags, and dht serve, which runs until stopped, offers no --timeout.
func TestHelpShowsOnlyHonouredFlags(t *testing.T) {
	out, _, _ := runIn(t, "dht", "serve", "--help")
	flags, _, _ := strings.Cut(out, "global flags")
	if strings.Contains(flags, "timeout") {
		t.Errorf("dht serve's flags offer a timeout:\n%s", flags)
	}
	if _, _, err := runIn(t, "--timeout", "1s", "dht", "serve"); err == nil || !strings.Contains(err.Error(), "not for dht serve") {
		t.Errorf("--timeout for dht serve: %v", err)
	}
	out, _, _ = runIn(t, "get", "--help")
	for _, want := range []string{"--force", "-o PATH"} {
		if !strings.Contains(out, want) {
			t.Errorf("get --help lacks %q:\n%s", want, out)
		}
	}
}

// TestBadFlagIsOneLine: a mistyped flag is one error, printed by main
// alone, with a hint to --help; nothing else is printed.
func TestBadFlagIsOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"get", "--frobnicate", "bafk"},
		{"pin", "add", "--frob"},
		{"dht", "ping", "--nope"},
		{"daemon", "--listen"},
		{"--bogus", "stat"},
		{"stat", "--home"},
		{"pin", "frob"},
	} {
		out, errs, err := runIn(t, append(args, "--home", t.TempDir())...)
		if err == nil || errors.Is(err, errHelp) {
			t.Fatalf("shoal %v: err %v", args, err)
		}
		if out != "" || errs != "" {
			t.Errorf("shoal %v printed %q / %q besides the error", args, out, errs)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "--help") {
			t.Errorf("shoal %v: error %q: want one line with a --help hint", args, msg)
		}
	}
}

// TestGlobalFlagsAnywhere: --home, --timeout and -v are taken before or
// after the command and between its arguments; "--" ends them.
func TestGlobalFlagsAnywhere(t *testing.T) {
	tests := []struct {
		args    []string
		want    globals
		rest    []string
		wantErr bool
	}{
		{[]string{"--home", "h", "stat"}, globals{home: "h"}, []string{"stat"}, false},
		{[]string{"stat", "--home", "h"}, globals{home: "h"}, []string{"stat"}, false},
		{[]string{"get", "CID", "--timeout=5s", "-o", "x"}, globals{timeout: 5 * time.Second}, []string{"get", "CID", "-o", "x"}, false},
		{[]string{"daemon", "-v", "--listen", ":0"}, globals{verbose: true}, []string{"daemon", "--listen", ":0"}, false},
		{[]string{"-home=h", "add", "--", "-v", "--home"}, globals{home: "h"}, []string{"add", "--", "-v", "--home"}, false},
		{[]string{"--version"}, globals{version: true}, nil, false},
		{[]string{"-h"}, globals{help: true}, nil, false},
		{[]string{"get", "-h"}, globals{}, []string{"get", "-h"}, false},
		{[]string{"--timeout", "soon", "get"}, globals{}, nil, true},
		{[]string{"--frob", "get"}, globals{}, nil, true},
	}
	for _, tc := range tests {
		g, rest, err := parseGlobals(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if err == nil && (g != tc.want || strings.Join(rest, " ") != strings.Join(tc.rest, " ")) {
			t.Errorf("%v: %+v %q, want %+v %q", tc.args, g, rest, tc.want, tc.rest)
		}
	}
	// And for real: the home given after the command is the one used.
	home := t.TempDir()
	out, _, err := runIn(t, "stat", "--home", home)
	if err != nil || !strings.Contains(out, "home:        "+home) {
		t.Fatalf("stat --home %s: %v\n%s", home, err, out)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, err := runIn(t, args...)
		if err != nil && !errors.Is(err, errHelp) {
			t.Fatalf("shoal %v: %v", args, err)
		}
		if errs != "" || !strings.HasPrefix(out, "shoal ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("shoal %v: %q (stderr %q)", args, out, errs)
		}
	}
}

// TestHelpExitCodes runs the binary: help exits 0, a bad flag 1 with one
// line on stderr.
func TestHelpExitCodes(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"pin", "--help"}, {"dht", "serve", "-h"}, {"--version"}} {
		if r := shoal(t, home, nil, args...); r.code != 0 || r.stderr != "" || r.stdout == "" {
			t.Errorf("shoal %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	r := shoal(t, home, nil, "cat", "--frob")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "shoal: ") {
		t.Errorf("shoal cat --frob: exit %d, stderr %q; want exit 1 and one line", r.code, r.stderr)
	}
}
