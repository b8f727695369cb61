package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/datagen"
	_ "github.com/eddy-streams/eddy/connectors/file"
	_ "github.com/eddy-streams/eddy/connectors/http"
	_ "github.com/eddy-streams/eddy/connectors/postgres"
)

func newConnectCommand() *cobra.Command {
	var (
		rest          string
		brokers       string
		dataDir       string
		workerID      string
		groupID       string
		workerConfig  string
		flush         time.Duration
		keyConverter  string
		valConverter  string
		schemasEnable bool
		sf            securityFlags
	)
	cmd := &cobra.Command{
		Use:   "connect [CONNECTOR.properties|CONNECTOR.json ...]",
		Short: "Run a Kafka Connect-compatible worker with its REST API",
		Long: `Run a connector worker until SIGINT or SIGTERM, serving Kafka Connect's
REST API on --rest (GET/POST /connectors, /connectors/NAME/status, /config,
/tasks, /pause, /resume, /restart, /offsets, /connector-plugins, ...), and
the worker's Prometheus metrics on GET /metrics.

With --brokers HOST:PORT the worker joins an existing Kafka cluster (Eddy's
broker or any other); without it, it starts an embedded broker with its data
in --data-dir and prints its address.

With --group-id the worker runs in distributed mode: the workers of a group
share the connectors' tasks and take over those of a worker that stops, and
requests that change connectors are forwarded to the group's leader (at the
--rest address it advertises, or rest.advertised.host.name/port).
Without it the worker runs every connector itself (standalone).

Connector configs, target states, statuses and source offsets live in the
topics connect-configs, connect-status and connect-offsets, so a restarted
worker brings back its connectors where they were. Connector configuration
files given as arguments (Kafka's .properties, or JSON as POSTed to
/connectors) are created at start when absent, as connect-standalone does;
--worker-config reads Kafka's worker properties (bootstrap.servers,
group.id, key.converter, value.converter, *.converter.schemas.enable,
offset.flush.interval.ms, listeners, the *.storage.topic names), so Kafka's
quickstart runs as is.

Against a secured cluster, give the --tls-* and --sasl-* flags (the password
best in the environment variable EDDY_SASL_PASSWORD), or Kafka's client
settings in --worker-config: security.protocol, sasl.mechanism,
sasl.jaas.config (PlainLoginModule or ScramLoginModule with username and
password), ssl.truststore.location and ssl.keystore.location as PEM files.
Flags win over the file.

The subcommands (list, status, create, config, pause, resume, stop, restart,
delete, plugins) manage the connectors of a running worker through its REST
API (--url, env EDDY_CONNECT_URL; Kafka Connect's API, so they work against
Kafka Connect too).

Built-in connectors: FileStreamSource and FileStreamSink (Kafka's configs),
DatagenSource (page views, orders, users), HttpSource (webhooks),
HttpSink and PostgresSink.`,
		Example: `  eddy connect --rest 127.0.0.1:8083 --data-dir /tmp/eddy-connect
  eddy connect --rest 127.0.0.1:8083 --brokers 127.0.0.1:9092 connect-file-source.properties
  eddy connect --worker-config config/connect-standalone.properties \
    config/connect-file-source.properties config/connect-file-sink.properties
  eddy connect --rest 127.0.0.1:8084 --brokers 127.0.0.1:9092 --group-id connect-cluster
  EDDY_SASL_PASSWORD=... eddy connect --brokers kafka:9093 --tls-ca ca.pem \
    --sasl-mechanism SCRAM-SHA-512 --sasl-user connect
  curl -s -X POST -H 'Content-Type: application/json' localhost:8083/connectors \
    -d '{"name":"gen","config":{"connector.class":"DatagenSource","quickstart":"pageviews"}}'
  curl -s localhost:8083/connectors/gen/status
  eddy connect status gen`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			wcfg := connectors.WorkerConfig{Logger: slog.Default()}
			if workerConfig != "" {
				props, err := broker.ReadProperties(workerConfig)
				if err != nil {
					return err
				}
				var restProp string
				var ignored []string
				wcfg, restProp, ignored, err = connectors.WorkerConfigFromProperties(wcfg, props)
				if err != nil {
					return fmt.Errorf("%s: %w", workerConfig, err)
				}
				for _, k := range ignored {
					slog.Warn("ignoring worker setting", "setting", k, "file", workerConfig)
				}
				if restProp != "" && !cmd.Flags().Changed("rest") {
					rest = restProp
				}
				if len(wcfg.Brokers) > 0 && !cmd.Flags().Changed("brokers") && !cmd.Flags().Changed("data-dir") {
					brokers = strings.Join(wcfg.Brokers, ",")
				}
			}
			var configs []map[string]string
			for _, path := range args {
				c, err := readConnectorConfig(path)
				if err != nil {
					return err
				}
				configs = append(configs, c)
			}
			if sf.set() {
				sec, err := sf.settings()
				if err != nil {
					return err
				}
				if _, err := sec.TLSConfig(); err != nil {
					return usagef("TLS flags: %v", err)
				}
				wcfg.Security = connectors.Security(sec)
			}
			if brokers == "" {
				if wcfg.Security != (connectors.Security{}) {
					return usagef("TLS and SASL settings are for a cluster given with --brokers; the embedded broker listens in PLAINTEXT")
				}
				if dataDir == "" {
					return errors.New("give --brokers HOST:PORT to join a cluster, or --data-dir DIR for an embedded broker")
				}
				b, err := broker.Start(ctx, broker.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Logger: slog.Default()})
				if err != nil {
					return err
				}
				defer b.Close()
				brokers = b.Addr()
				fmt.Fprintf(cmd.OutOrStdout(), "embedded broker listening on %s (data in %s)\n", brokers, dataDir)
			}
			ln, err := net.Listen("tcp", rest)
			if err != nil {
				return fmt.Errorf("--rest %s: %w", rest, err)
			}
			// Flags given on the command line win over --worker-config.
			set := cmd.Flags().Changed
			wcfg.Brokers = strings.Split(brokers, ",")
			if workerID != "" || wcfg.WorkerID == "" {
				wcfg.WorkerID = cmp.Or(workerID, ln.Addr().String())
			}
			if wcfg.RESTURL == "" {
				// Where the other workers forward requests for the leader;
				// a wildcard listener is advertised under the host name.
				host, port, _ := net.SplitHostPort(ln.Addr().String())
				if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
					if h, err := os.Hostname(); err == nil {
						host = h
					}
				}
				wcfg.RESTURL = "http://" + net.JoinHostPort(host, port)
			}
			if set("group-id") || wcfg.GroupID == "" {
				wcfg.GroupID = groupID
			}
			if set("offset-flush-interval") || wcfg.OffsetFlushInterval == 0 {
				wcfg.OffsetFlushInterval = flush
			}
			if set("key-converter") || wcfg.KeyConverter == "" {
				wcfg.KeyConverter = keyConverter
			}
			if set("value-converter") || wcfg.ValueConverter == "" {
				wcfg.ValueConverter = valConverter
			}
			for _, m := range []*map[string]string{&wcfg.KeyConverterProps, &wcfg.ValueConverterProps} {
				if *m == nil {
					*m = map[string]string{}
				}
				if _, ok := (*m)["schemas.enable"]; !ok || set("schemas-enable") {
					(*m)["schemas.enable"] = fmt.Sprint(schemasEnable)
				}
			}
			workerID = wcfg.WorkerID
			w, err := connectors.NewWorker(ctx, wcfg)
			if err != nil {
				ln.Close()
				return err
			}
			defer w.Close()
			for _, c := range configs {
				_, _, err := w.CreateConnector(c[connectors.ConfigName], c, false)
				if err != nil && !errors.Is(err, connectors.ErrAlreadyExists) {
					return fmt.Errorf("connector %s: %w", c[connectors.ConfigName], err)
				}
			}
			srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			fmt.Fprintf(cmd.OutOrStdout(), "eddy connect: REST API on http://%s (worker %s, brokers %s); Ctrl-C stops it\n",
				ln.Addr(), workerID, brokers)
			<-ctx.Done()
			slog.Info("shutting down", "reason", "signal")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			return w.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&rest, "rest", "127.0.0.1:8083", "host:port of the REST API (Kafka: listeners)")
	f.StringVar(&brokers, "brokers", "", "comma-separated bootstrap brokers (Kafka: bootstrap.servers); none: run an embedded broker")
	f.StringVar(&dataDir, "data-dir", "", "data directory of the embedded broker (without --brokers)")
	f.StringVar(&workerConfig, "worker-config", "", "Kafka Connect worker properties (connect-standalone.properties, connect-distributed.properties); flags win over it")
	f.StringVar(&groupID, "group-id", "", "distributed mode: workers with the same group id share the connectors' tasks (Kafka: group.id); empty: standalone")
	f.StringVar(&workerID, "worker-id", "", "this worker's id in statuses; default: the REST address")
	f.DurationVar(&flush, "offset-flush-interval", 10*time.Second, "how often source offsets are written and sinks flushed and committed (Kafka: offset.flush.interval.ms)")
	f.StringVar(&keyConverter, "key-converter", connectors.JSONConverterClass, "default key converter (Kafka: key.converter): a class name or json, string, bytes, msgpack")
	f.StringVar(&valConverter, "value-converter", connectors.JSONConverterClass, "default value converter (Kafka: value.converter)")
	f.BoolVar(&schemasEnable, "schemas-enable", false, "JSON converter writes the {schema, payload} envelope (Kafka: *.converter.schemas.enable)")
	sf.register(f)
	addConnectRESTCommands(cmd)
	return cmd
}

// readConnectorConfig reads a connector's config: Kafka .properties, or
// JSON either flat or as {"name":..,"config":{..}}.
func readConnectorConfig(path string) (map[string]string, error) {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var wrapped struct {
			Name   string            `json:"name"`
			Config map[string]string `json:"config"`
		}
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Config != nil {
			if wrapped.Config[connectors.ConfigName] == "" {
				wrapped.Config[connectors.ConfigName] = wrapped.Name
			}
			return wrapped.Config, nil
		}
		var flat map[string]string
		if err := json.Unmarshal(b, &flat); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return flat, nil
	}
	props, err := broker.ReadProperties(path)
	if err != nil {
		return nil, err
	}
	if props[connectors.ConfigName] == "" {
		return nil, fmt.Errorf("%s: no name= setting", path)
	}
	return map[string]string(props), nil
}
