// Command benchmarks measures Eddy against its peers, side by side, in one
// run on one machine, and prints a markdown report.
//
//	go run ./benchmarks            # list the benchmarks
//	go run ./benchmarks broker     # Eddy's broker against franz-go's kfake
//	go run ./benchmarks broker -h  # what the broker benchmark measures and its flags
//
// Every benchmark has the same shape: `go run ./benchmarks NAME [flags]`
// prints progress to stderr, a markdown table to stdout and, as its very
// last line, one ratio line `NAME: eddy/PEER metric=X.XX ...`. Numbers live
// here and in README.md, never in timed unit tests. The harness is for
// Linux (getrusage, statfs, fdatasync).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if child, err := brokerServerChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchmarks: broker process:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "benchmarks:", err)
		os.Exit(1)
	}
}

// errUsage reports a bad command line; the usage has already been printed.
var errUsage = errors.New("usage")

// run dispatches args[0] to the benchmark of that name. Tests call it
// directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return nil
	}
	b, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "unknown benchmark %q\n\n", args[0])
		printUsage(stderr)
		return errUsage
	}
	return b.run(ctx, args[1:], stdout, stderr)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: go run ./benchmarks NAME [flags]

Eddy's benchmark harness. Each benchmark runs Eddy and its peers side by side
in one run, on this machine, under the same load; it prints progress to
stderr and a markdown report to stdout whose last line is a single ratio line
"NAME: eddy/PEER metric=X.XX ...". See benchmarks/README.md for the figures.

Benchmarks:
`)
	for _, b := range registered() {
		fmt.Fprintf(w, "  %-10s %s\n", b.name, b.summary)
	}
	fmt.Fprint(w, `
Run "go run ./benchmarks NAME -h" for what NAME measures and its flags.
`)
}
