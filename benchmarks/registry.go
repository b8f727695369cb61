package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
)

// A benchmark is one `go run ./benchmarks NAME` subcommand. Each lives in
// its own file and registers itself from init. run parses its own flags
// (printing its help to stdout on -h and returning flag.ErrHelp), writes
// progress to stderr and the report to stdout, ending with its ratio line.
type benchmark struct {
	name    string
	summary string // one line for the top-level usage
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var benchmarks = map[string]benchmark{}

// register adds b; a duplicate name is a programming error.
func register(b benchmark) {
	if _, dup := benchmarks[b.name]; dup {
		panic("benchmarks: duplicate benchmark " + b.name)
	}
	benchmarks[b.name] = b
}

func lookup(name string) (benchmark, bool) {
	b, ok := benchmarks[name]
	return b, ok
}

// registered lists the benchmarks by name.
func registered() []benchmark {
	bs := make([]benchmark, 0, len(benchmarks))
	for _, b := range benchmarks {
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].name < bs[j].name })
	return bs
}

// parseFlags sets fs's usage to help followed by the flag list, parses args
// and refuses positional arguments: every benchmark's flags work alike.
func parseFlags(fs *flag.FlagSet, args []string, help string) error {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// explicitFlags names the flags given on the command line, so that -quick
// changes only the others.
func explicitFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
