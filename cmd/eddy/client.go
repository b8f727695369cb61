package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streams/eddy/internal/kafkasec"
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
	sec     securityFlags
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
	cf.sec.register(fs)
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
	sec, err := cf.sec.opts()
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(cf.seeds()...),
		kgo.ClientID("eddy-cli"),
		kgo.RequestTimeoutOverhead(cf.timeout),
	}
	base = append(base, sec...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cf.brokers, err)
	}
	return cl, nil
}

// admin returns an admin client and a context bounded by --timeout; the
// caller calls done when finished.
func (cf *clientFlags) admin(cmd *cobra.Command) (adm *kadm.Client, ctx context.Context, done func(), err error) {
	adm, _, ctx, done, err = cf.adminClient(cmd)
	return adm, ctx, done, err
}

// adminClient is admin that also returns the client under the admin
// client, for requests kadm does not wrap.
func (cf *clientFlags) adminClient(cmd *cobra.Command) (*kadm.Client, *kgo.Client, context.Context, func(), error) {
	cl, err := cf.client()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	parent := cmd.Context()
	if parent == nil { // shell completion runs without one
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, cf.timeout)
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(cf.timeout.Milliseconds()))
	return adm, cl, ctx, func() { cancel(); cl.Close() }, nil
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
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return fmt.Errorf("%s: %w (give the CA that signed the broker's certificate with --tls-ca)", what, err)
	case isClientCertAlert(err):
		return fmt.Errorf("%s: %w (the broker wants a client certificate it trusts: --tls-cert and --tls-key)", what, err)
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%s: %s refused the SASL login of %q: %w (check --sasl-user, --sasl-password or %s, and --sasl-mechanism)",
			what, cf.brokers, cf.sec.saslUser, err, saslPasswordEnv)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Errorf("%s: %s does not offer --sasl-mechanism %s: %w", what, cf.brokers, cf.sec.saslMechanism, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isClientCertAlert reports whether err is the broker's TLS alert about
// the client's certificate: certificate_required, bad_certificate or
// unknown_ca (crypto/tls does not export the alert type, so its text).
func isClientCertAlert(err error) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) {
		return false
	}
	msg := oe.Error()
	return strings.HasPrefix(msg, "remote error: tls: ") && (strings.HasSuffix(msg, "certificate required") ||
		strings.HasSuffix(msg, "bad certificate") || strings.HasSuffix(msg, "unknown certificate authority"))
}

// securityFlags are the TLS and SASL flags of every client command and of
// eddy connect, so they can reach a secured cluster.
type securityFlags struct {
	saslMechanism string
	saslUser      string
	saslPassword  string
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsInsecure   bool
}

// saslPasswordEnv holds the SASL password when --sasl-password is not
// given, so that it stays out of shell history and process lists.
const saslPasswordEnv = "EDDY_SASL_PASSWORD"

func (sf *securityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&sf.saslMechanism, "sasl-mechanism", "", "authenticate with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&sf.saslUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&sf.saslPassword, "sasl-password", "", "SASL password (better: env "+saslPasswordEnv+", which keeps it out of shell history)")
	fs.BoolVar(&sf.tls, "tls", false, "connect with TLS (implied by the other --tls-* flags)")
	fs.StringVar(&sf.tlsCA, "tls-ca", "", "PEM file of the CA certificates to trust (default: the system's)")
	fs.StringVar(&sf.tlsCert, "tls-cert", "", "PEM file of a client certificate (mTLS)")
	fs.StringVar(&sf.tlsKey, "tls-key", "", "PEM file of the client certificate's key (default: in --tls-cert's file)")
	fs.BoolVar(&sf.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the broker's certificate (testing only)")
	// The name eddy acl and eddy user had first.
	fs.BoolVar(&sf.tlsInsecure, "tls-insecure", false, "")
	_ = fs.MarkDeprecated("tls-insecure", "use --tls-insecure-skip-verify")
}

// set reports whether any security flag was given.
func (sf *securityFlags) set() bool {
	return sf.saslMechanism != "" || sf.saslUser != "" || sf.useTLS()
}

func (sf *securityFlags) useTLS() bool {
	return sf.tls || sf.tlsCA != "" || sf.tlsCert != "" || sf.tlsKey != "" || sf.tlsInsecure
}

// settings checks the flags and returns them as security settings.
func (sf *securityFlags) settings() (kafkasec.Settings, error) {
	s := kafkasec.Settings{CAFile: sf.tlsCA, CertFile: sf.tlsCert, KeyFile: sf.tlsKey, InsecureSkipVerify: sf.tlsInsecure}
	switch {
	case sf.saslMechanism != "" && sf.useTLS():
		s.Protocol = kafkasec.SASLSSL
	case sf.saslMechanism != "":
		s.Protocol = kafkasec.SASLPlaintext
	case sf.useTLS():
		s.Protocol = kafkasec.SSL
	default:
		if sf.saslUser != "" || sf.saslPassword != "" {
			return s, usagef("--sasl-user and --sasl-password need --sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return s, nil
	}
	if sf.tlsKey != "" && sf.tlsCert == "" {
		return s, usagef("--tls-key needs --tls-cert")
	}
	if sf.saslMechanism == "" {
		return s, nil
	}
	s.Mechanism = strings.ToUpper(sf.saslMechanism)
	switch s.Mechanism {
	case kafkasec.MechPlain, kafkasec.MechScramSHA256, kafkasec.MechScramSHA512:
	default:
		return s, usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", sf.saslMechanism)
	}
	if sf.saslUser == "" {
		return s, usagef("--sasl-mechanism needs --sasl-user")
	}
	s.User = sf.saslUser
	s.Password = cmp.Or(sf.saslPassword, os.Getenv(saslPasswordEnv))
	if s.Password == "" {
		return s, usagef("--sasl-mechanism needs a password: set %s (or --sasl-password)", saslPasswordEnv)
	}
	return s, nil
}

// opts turns the flags into franz-go options.
func (sf *securityFlags) opts() ([]kgo.Opt, error) {
	s, err := sf.settings()
	if err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	tc, err := s.TLSConfig()
	if err != nil {
		return nil, usagef("TLS flags: %v", err)
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch s.Mechanism {
	case kafkasec.MechPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()))
	case kafkasec.MechScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()))
	case kafkasec.MechScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}
