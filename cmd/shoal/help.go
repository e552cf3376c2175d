package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// errHelp means help was asked for and printed: exit 0, print nothing more.
var errHelp = errors.New("help shown")

// globals are the flags every command takes, anywhere on the line.
type globals struct {
	home    string
	timeout time.Duration
	verbose bool
	help    bool // --help or -h before the command
	version bool // --version before the command
}

const globalHelp = `global flags (before or after the command):
  --home DIR          state directory (default $SHOAL_HOME, else the OS config dir + /shoal)
  --timeout DURATION  give up on the command after this long (e.g. 30s); not for daemon, dht serve
  -v                  log more (daemon: info level and above, dht: its traffic)
`

// parseGlobals takes the global flags out of args, wherever they are, and
// returns the rest. "--" ends the flags: what follows is passed on as it
// is. Before the command, --help, -h and --version are global too, and
// any other flag is an error.
func parseGlobals(args []string) (globals, []string, error) {
	var g globals
	var rest []string
	seenCmd := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := flagName(a)
		switch name {
		case "home", "timeout":
			if !hasVal {
				if i+1 >= len(args) {
					return g, nil, fmt.Errorf("flag needs an argument: --%s (see `shoal --help`)", name)
				}
				i++
				val = args[i]
			}
			if name == "home" {
				g.home = val
				continue
			}
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return g, nil, fmt.Errorf("--timeout %q: want a positive duration such as 30s", val)
			}
			g.timeout = d
			continue
		case "v", "verbose":
			if hasVal && val != "true" && val != "false" {
				return g, nil, fmt.Errorf("-v=%s: want true or false", val)
			}
			g.verbose = !hasVal || val == "true"
			continue
		}
		if !seenCmd {
			switch {
			case name == "help" || name == "h":
				g.help = true
				continue
			case name == "version":
				g.version = true
				continue
			case name != "":
				return g, nil, fmt.Errorf("unknown flag %s (see `shoal --help`)", a)
			}
			seenCmd = true
		}
		rest = append(rest, a)
	}
	return g, rest, nil
}

// flagName splits "-name", "--name" and "--name=value"; name is "" when a
// is not a flag.
func flagName(a string) (name, val string, hasVal bool) {
	if len(a) < 2 || a[0] != '-' || a == "-" {
		return "", "", false
	}
	a = strings.TrimPrefix(a[1:], "-")
	name, val, hasVal = strings.Cut(a, "=")
	return name, val, hasVal
}

// usage prints the top-level help.
func usage(w io.Writer) {
	fmt.Fprintln(w, "shoal keeps folders in sync across machines and moves content by its hash.")
	fmt.Fprintln(w, "\nusage: shoal [global flags] COMMAND [ARGS] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, globalHelp)
	fmt.Fprintln(w, "\n`shoal COMMAND --help` tells more of a command; `shoal --version` prints the version.")
}

// splitUsage cuts a command table's usage line into its syntax and what
// it does (they are set apart by two or more spaces).
func splitUsage(u string) (syntax, what string) {
	if i := strings.Index(u, "  "); i >= 0 {
		return u[:i], strings.TrimSpace(u[i:])
	}
	return u, ""
}

// helpOut is a flag set's output: flag's own messages (the error it
// returns, the usage it would print) are dropped, and w is where a --help
// prints.
type helpOut struct{ w io.Writer }

func (helpOut) Write(p []byte) (int, error) { return len(p), nil }

// newFlags returns the flag set of `shoal NAME` (NAME may be "pin add"):
// --help prints the command's help on stdout, and a bad flag is one error
// line, printed once, by main.
func newFlags(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("shoal "+name, flag.ContinueOnError)
	fs.SetOutput(helpOut{e.stdout})
	fs.Usage = func() {}
	return fs
}

// flagError turns a flag set's parse error into what the user sees: the
// help on --help (errHelp), else one line with a hint.
func flagError(fs *flag.FlagSet, err error) error {
	name := strings.TrimPrefix(fs.Name(), "shoal ")
	if errors.Is(err, flag.ErrHelp) {
		if out, ok := fs.Output().(helpOut); ok {
			printHelp(out.w, fs)
		}
		return errHelp
	}
	return fmt.Errorf("%s: %w (see `shoal %s --help`)", name, err, name)
}

// printHelp prints what `shoal NAME` does, its arguments and its flags.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	name := strings.TrimPrefix(fs.Name(), "shoal ")
	syntax, what := name, ""
	if u := usageOf(name); u != "" {
		syntax, what = splitUsage(u)
	}
	fmt.Fprintf(w, "usage: shoal %s\n", syntax)
	if what != "" {
		fmt.Fprintf(w, "\n%s\n", what)
	}
	if more := details(name); more != "" {
		fmt.Fprintf(w, "\n%s", more)
	}
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nflags:")
			first = false
		}
		printFlag(w, f)
	})
	fmt.Fprintln(w)
	fmt.Fprint(w, globalHelp)
}

// printFlag prints one flag as kubo's help does: --name (-n for one
// letter), its value's kind, what it does and its default.
func printFlag(w io.Writer, f *flag.Flag) {
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	kind, what := flag.UnquoteUsage(f)
	line := "  " + dash + f.Name
	if kind != "" {
		line += " " + strings.ToUpper(kind)
	}
	switch f.DefValue {
	case "", "0", "false", "[]":
	default:
		what += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintf(w, "%s\n      %s\n", line, what)
}

// usageOf finds the usage line of a command or subcommand ("pin add").
func usageOf(name string) string {
	top, sub, _ := strings.Cut(name, " ")
	for _, c := range commands() {
		if c.name != top {
			continue
		}
		if sub == "" {
			return c.usage
		}
		for _, s := range subcommands(top) {
			if s.name == sub {
				return s.usage
			}
		}
	}
	return ""
}

// subcommands lists the subcommands of a command that has them; their
// run is unused (the command dispatches itself).
func subcommands(name string) []command {
	switch name {
	case "pin":
		return []command{
			{"add", "pin add [-r=false] CID...  pin content, fetching from peers what the store lacks", nil},
			{"rm", "pin rm CID...              unpin content (gc may then remove it)", nil},
			{"ls", "pin ls                     list pins: CID MODE", nil},
		}
	case "dht":
		return dhtCommands()
	case "folder":
		return []command{
			{"select", "folder select DIR [PATTERN...] [--add|--remove|--all|--none]  set, change or show the paths synced here", nil},
			{"set", "folder set DIR KEY=VALUE...  versioning=remote|all versions=N max-age=30d max-size=10%: what the folder keeps of its past", nil},
		}
	}
	return nil
}

// subHelp prints the help of a command with subcommands.
func subHelp(w io.Writer, name string) {
	syntax, what := splitUsage(usageOf(name))
	fmt.Fprintf(w, "usage: shoal %s\n\n%s\n\nsubcommands:\n", syntax, what)
	for _, s := range subcommands(name) {
		fmt.Fprintf(w, "  %s\n", s.usage)
	}
	if more := details(name); more != "" {
		fmt.Fprintf(w, "\n%s", more)
	}
	fmt.Fprintf(w, "\n`shoal %s SUBCOMMAND --help` tells more of each.\n\n", name)
	fmt.Fprint(w, globalHelp)
}

// isHelp reports whether a is a request for help.
func isHelp(a string) bool {
	return a == "help" || a == "-h" || a == "--help" || a == "-help"
}

// versionInfo is the module version and the VCS commit the binary was
// built from, as the Go toolchain stamped them.
func versionInfo() (version, commit string) {
	version, commit = "(unknown)", ""
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	version = bi.Main.Version
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		commit = rev
		if when != "" {
			commit += " (" + when + ")"
		}
		if modified {
			commit += " with local changes"
		}
	}
	return version, commit
}

// shortVersion is the version a daemon tells its peers: the module
// version and, when known, the commit's first 12 digits.
func shortVersion() string {
	v, commit := versionInfo()
	if len(commit) >= 12 {
		v += "+" + commit[:12]
	}
	return v
}

func printVersion(w io.Writer) {
	v, commit := versionInfo()
	fmt.Fprintf(w, "shoal %s\n", v)
	if commit != "" {
		fmt.Fprintf(w, "commit %s\n", commit)
	}
	fmt.Fprintf(w, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// subcommand returns the subcommand args name, printing the command's
// help for help, -h or --help (errHelp) and refusing a missing or unknown
// one with the list.
func subcommand(e *env, name string, args []string) (string, error) {
	subs := subcommands(name)
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 {
		return "", fmt.Errorf("%s: want a subcommand: %s (see `shoal %s --help`)", name, strings.Join(names, ", "), name)
	}
	if isHelp(args[0]) {
		subHelp(e.stdout, name)
		return "", errHelp
	}
	for _, n := range names {
		if n == args[0] {
			return n, nil
		}
	}
	return "", fmt.Errorf("%s: unknown subcommand %q: want %s (see `shoal %s --help`)", name, args[0], strings.Join(names, ", "), name)
}
