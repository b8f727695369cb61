package main

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/console"
)

func newBrokerCommand() *cobra.Command {
	var (
		configFile string
		dataDir    string
		listen     string
		httpListen string
		advertised string
		nodeID     int32
		partitions int32
		autoCreate bool
		segment    int64
		maxMessage int32
		maxRequest int32

		consoleConnect string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a standalone Kafka-compatible broker",
		Long: `Run Eddy's broker until SIGINT or SIGTERM, then shut down cleanly
(fsyncing every partition log).

Settings come from flags, then from --config (a Kafka server.properties file
using Kafka's own names, e.g. log.dirs, listeners, num.partitions,
auto.create.topics.enable, advertised.listeners), then from defaults. A flag
given on the command line wins over the file.` + knownSettingsHelp(),
		Example: `  eddy broker --data-dir /var/lib/eddy --listen 127.0.0.1:9092
  eddy broker --config server.properties --num.partitions 8
  eddy broker --data-dir /var/lib/eddy --http 127.0.0.1:9644   # and Prometheus metrics and the web console`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := broker.Config{Logger: slog.Default()}
			if configFile != "" {
				props, err := broker.ReadProperties(configFile)
				if err != nil {
					return err
				}
				var ignored []string
				cfg, ignored, err = broker.ConfigFromProperties(cfg, props)
				if err != nil {
					return err
				}
				for _, k := range ignored {
					slog.Warn("ignoring setting Eddy does not know", "setting", k, "file", configFile)
				}
			}
			// Flags given explicitly override the file.
			cmd.Flags().Visit(func(f *pflag.Flag) {
				switch f.Name {
				case "data-dir":
					cfg.DataDir = dataDir
				case "listen":
					cfg.Listen = listen
				case "http":
					cfg.HTTPListen = httpListen
				case "advertised-listener":
					cfg.AdvertisedAddr = advertised
				case "node-id":
					cfg.NodeID = nodeID
				case "num.partitions":
					cfg.NumPartitions = partitions
				case "auto.create.topics.enable":
					cfg.DisableAutoCreateTopics = !autoCreate
				case "log.segment.bytes":
					cfg.SegmentBytes = segment
				case "message.max.bytes":
					cfg.MaxMessageBytes = maxMessage
				case "socket.request.max.bytes":
					cfg.MaxRequestBytes = maxRequest
				}
			})
			if cfg.DataDir == "" {
				return fmt.Errorf("no data directory: give --data-dir DIR (or log.dirs in --config)")
			}
			if cfg.Listen == "" {
				cfg.Listen = "127.0.0.1:9092"
			}
			cfg.Listen = strings.TrimPrefix(cfg.Listen, "PLAINTEXT://")
			ctx := cmd.Context()
			// The web console is served beside /metrics; it is created once
			// the broker knows its address. It connects to a PLAINTEXT
			// listener: it has no credentials of its own.
			slot := &consoleSlot{}
			consoleListener, plaintext := plaintextListener(cfg)
			switch {
			case cfg.HTTPListen == "":
			case plaintext:
				cfg.HTTPHandler = slot
			default:
				slog.Warn("no web console on the HTTP listener: the broker has no PLAINTEXT listener for it; run eddy console with --tls*/--sasl-* flags instead")
			}
			b, err := broker.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "eddy broker listening on %s (data in %s); Ctrl-C stops it\n", b.Addr(), cfg.DataDir)
			if a := b.HTTPAddr(); a != "" && !plaintext {
				fmt.Fprintf(cmd.OutOrStdout(), "metrics on http://%s/metrics\n", a)
			} else if a != "" {
				addr := b.Addr()
				if consoleListener != "" {
					addr = b.ListenerAddr(consoleListener)
				}
				c, err := console.New(console.Config{Brokers: []string{addr}, ConnectURL: consoleConnect, Logger: slog.Default()})
				if err != nil {
					b.Close()
					return err
				}
				defer c.Close() // before b.Close, below
				slot.c.Store(c)
				fmt.Fprintf(cmd.OutOrStdout(), "metrics on http://%s/metrics\nweb console on http://%s/\n", a, a)
			}
			<-ctx.Done()
			slog.Info("shutting down", "reason", "signal")
			if c := slot.c.Load(); c != nil {
				c.Close()
			}
			return b.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "Kafka-style server.properties file")
	f.StringVar(&dataDir, "data-dir", "", "directory for partition logs and metadata (Kafka: log.dirs); required")
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "host:port to accept clients on; port 0 picks a free one (Kafka: listeners)")
	f.StringVar(&httpListen, "http", "", "host:port to serve HTTP on: /metrics for Prometheus, the web console at /; port 0 picks a free one; default: no HTTP")
	f.StringVar(&consoleConnect, "console-connect", "", "Kafka Connect REST URL for the web console's connectors page (with --http), e.g. http://127.0.0.1:8083")
	f.StringVar(&advertised, "advertised-listener", "", "host:port clients are told to connect to (Kafka: advertised.listeners); default: the listen address")
	f.Int32Var(&nodeID, "node-id", 0, "this broker's id (Kafka: node.id)")
	f.Int32Var(&partitions, "num.partitions", 1, "partitions of auto-created topics (Kafka: num.partitions)")
	f.BoolVar(&autoCreate, "auto.create.topics.enable", true, "create unknown topics when a client asks for their metadata")
	f.Int64Var(&segment, "log.segment.bytes", 1<<30, "roll a partition's segment file at this size")
	f.Int32Var(&maxMessage, "message.max.bytes", 1048588, "largest record batch a producer may send")
	f.Int32Var(&maxRequest, "socket.request.max.bytes", 100<<20, "largest request accepted; larger ones close the connection")
	return cmd
}

// plaintextListener names the first PLAINTEXT listener of cfg ("" for
// the one Listen makes when Listeners is empty), and reports whether there
// is one.
func plaintextListener(cfg broker.Config) (string, bool) {
	if len(cfg.Listeners) == 0 {
		return "", true
	}
	for _, l := range cfg.Listeners {
		if l.Protocol == broker.Plaintext {
			return l.Name, true
		}
	}
	return "", false
}

// knownSettingsHelp lists the server.properties settings the broker reads.
func knownSettingsHelp() string {
	keys := make([]string, 0, len(broker.KnownProperties))
	for k := range broker.KnownProperties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString("\n\nSettings read from --config (others are ignored with a warning):\n")
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %-43s %s\n", k, broker.KnownProperties[k])
	}
	return sb.String()
}
