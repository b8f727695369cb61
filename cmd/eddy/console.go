package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/eddy-streams/eddy/console"
)

func newConsoleCommand() *cobra.Command {
	var (
		brokers    string
		connectURL string
		listen     string
		timeout    time.Duration
		interval   time.Duration
		sf         securityFlags
	)
	def := os.Getenv(brokersEnv)
	if def == "" {
		def = defaultBrokers
	}
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console for any Kafka cluster",
		Long: `Serve Eddy's web console on --listen until SIGINT or SIGTERM.

The console talks to the cluster at --brokers through the Kafka protocol, so
it works with Eddy's broker and with Apache Kafka or Redpanda alike. Its
pages: an overview with live throughput charts; topics with partitions,
offsets, record counts, sizes (where the cluster answers DescribeLogDirs)
and records/s; a message browser (by offset, from the end, or from a time;
keys, values and headers shown as JSON, text or hex); consumer groups with
members and lag per partition; connectors of a Kafka Connect REST API given
with --connect, with their task states and pause, resume and restart
buttons; and Eddy streams apps with their topologies drawn as graphs (from
the topic __eddy_streams_apps).

Everything is embedded in the binary and works with no internet. The pages
read a JSON API under /api/ that scripts can use too.

A secured cluster is reached with the --tls* and --sasl-* flags (the
password from EDDY_SASL_PASSWORD), as with the other client commands; the
console then sees what that user may see.

The console has no login: anyone who can reach --listen can read every
record and pause connectors. Keep it on a loopback or trusted address.

"eddy broker --http ADDR" serves the same console beside /metrics.`,
		Example: `  eddy console --brokers 127.0.0.1:9092
  eddy console --brokers kafka-1:9092,kafka-2:9092 --connect http://127.0.0.1:8083 --listen 127.0.0.1:8080
  EDDY_SASL_PASSWORD=... eddy console --brokers kafka:9093 --tls-ca ca.pem --sasl-mechanism SCRAM-SHA-512 --sasl-user ops`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(brokers) == "" {
				return usagef("--brokers is empty: give HOST:PORT of a broker")
			}
			if timeout <= 0 || interval <= 0 {
				return usagef("--timeout and --sample-interval must be positive")
			}
			secOpts, err := sf.opts()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := console.New(console.Config{
				Brokers:        strings.Split(brokers, ","),
				ClientOpts:     secOpts,
				ConnectURL:     connectURL,
				Logger:         slog.Default(),
				RequestTimeout: timeout,
				SampleInterval: interval,
			})
			if err != nil {
				return usageError{err}
			}
			defer c.Close()
			if err := c.Ping(ctx); err != nil {
				return fmt.Errorf("%w (set --brokers or %s)", err, brokersEnv)
			}
			if connectURL != "" {
				if err := c.PingConnect(ctx); err != nil {
					slog.Warn("the connectors page will show an error until Kafka Connect answers", "err", err)
				}
			}
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w (is another program using that port? pick another with --listen)", listen, err)
			}
			srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second,
				ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			fmt.Fprintf(cmd.OutOrStdout(), "eddy console on http://%s for the cluster at %s; Ctrl-C stops it\n", ln.Addr(), brokers)
			select {
			case <-ctx.Done():
				slog.Info("shutting down", "reason", "signal")
			case err := <-served:
				return fmt.Errorf("serving the console on %s: %w", ln.Addr(), err)
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			<-served
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	f := cmd.Flags()
	f.StringVar(&brokers, "brokers", def, "comma-separated host:port list of brokers to bootstrap from (env "+brokersEnv+")")
	f.StringVar(&connectURL, "connect", "", "base URL of a Kafka Connect REST API, e.g. http://127.0.0.1:8083; default: no connectors page")
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "host:port to serve the console on; port 0 picks a free one")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the cluster or Connect on each call")
	f.DurationVar(&interval, "sample-interval", 5*time.Second, "how often end offsets are sampled for the throughput charts")
	sf.register(f)
	return cmd
}

// consoleSlot serves the console once it exists: "eddy broker --http" can
// only create it after the broker knows its own address.
type consoleSlot struct {
	c atomic.Pointer[console.Console]
}

func (s *consoleSlot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c := s.c.Load(); c != nil {
		c.ServeHTTP(w, r)
		return
	}
	http.Error(w, "the console is starting; reload in a moment", http.StatusServiceUnavailable)
}
