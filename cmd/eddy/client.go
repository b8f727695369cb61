package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The client commands (topic, produce, consume, group, cluster) talk to any
// Kafka-compatible cluster through franz-go, so they work against Eddy's
// broker and against Apache Kafka or Redpanda alike.
//
// Exit codes, for scripts: 0 success, 1 an error (the broker refused, a
// topic does not exist, the cluster cannot be reached), 2 a usage error
// (unknown command or flag, wrong arguments, a bad flag value).

const (
	exitError = 1
	exitUsage = 2

	defaultBrokers = "127.0.0.1:9092"
	brokersEnv     = "EDDY_BROKERS"
)

// usageError marks an error in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps an error returned by the root command to the process exit code.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	// Cobra reports an unknown subcommand of the root with an error of its
	// own that has no type to match.
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return exitUsage
	}
	return exitError
}

// flagUsageError makes flag parsing errors usage errors (exit code 2).
func flagUsageError(cmd *cobra.Command, err error) error {
	return usageError{fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
}

// usageArgs makes argument validation errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
		}
		return nil
	}
}

// parentCommand makes a command that only groups subcommands: run alone it
// prints its help; run with an unknown subcommand it is a usage error
// (cobra would otherwise print help and exit 0).
func parentCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = usageArgs(cobra.NoArgs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	cmd.SetFlagErrorFunc(flagUsageError)
	return cmd
}

// clientFlags are the connection and output flags of every client command.
type clientFlags struct {
	brokers string
	timeout time.Duration
	output  string
}

func (cf *clientFlags) register(fs *pflag.FlagSet, withOutput bool) {
	def := os.Getenv(brokersEnv)
	if def == "" {
		def = defaultBrokers
	}
	fs.StringVar(&cf.brokers, "brokers", def, "comma-separated host:port list of brokers to bootstrap from (env "+brokersEnv+")")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "how long to wait for the cluster before giving up")
	if withOutput {
		fs.StringVarP(&cf.output, "output", "o", "table", "output format: table or json")
	}
}

// check validates the flags before any connection is made.
func (cf *clientFlags) check() error {
	if cf.output != "" && cf.output != "table" && cf.output != "json" {
		return usagef("--output %q: want table or json", cf.output)
	}
	if len(cf.seeds()) == 0 {
		return usagef("--brokers is empty")
	}
	if cf.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

func (cf *clientFlags) seeds() []string {
	var seeds []string
	for s := range strings.SplitSeq(cf.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	return seeds
}

func (cf *clientFlags) json() bool { return cf.output == "json" }

// client returns a franz-go client of the cluster with opts added. It does
// not connect until first used.
func (cf *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	if err := cf.check(); err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(cf.seeds()...),
		kgo.ClientID("eddy-cli"),
		kgo.RequestTimeoutOverhead(cf.timeout),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cf.brokers, err)
	}
	return cl, nil
}

// admin returns an admin client and a context bounded by --timeout; the
// caller calls done when finished.
func (cf *clientFlags) admin(cmd *cobra.Command) (adm *kadm.Client, ctx context.Context, done func(), err error) {
	cl, err := cf.client()
	if err != nil {
		return nil, nil, nil, err
	}
	parent := cmd.Context()
	if parent == nil { // shell completion runs without one
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, cf.timeout)
	adm = kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(cf.timeout.Milliseconds()))
	return adm, ctx, func() { cancel(); cl.Close() }, nil
}

// reachErr explains a failure to get an answer from the cluster.
func (cf *clientFlags) reachErr(ctx context.Context, what string, err error) error {
	var oe *net.OpError
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		return fmt.Errorf("%s: cannot connect to %s: %v (is a broker running there? set --brokers or %s)",
			what, cf.brokers, oe.Err, brokersEnv)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return fmt.Errorf("%s: no answer from %s within %s (is a broker running there? set --brokers or %s)",
			what, cf.brokers, cf.timeout, brokersEnv)
	}
	return fmt.Errorf("%s: %w", what, err)
}
