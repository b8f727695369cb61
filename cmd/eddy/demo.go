package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/datagen" // registers DatagenSource
	_ "github.com/eddy-streams/eddy/connectors/file"    // registers FileStreamSink
	"github.com/eddy-streams/eddy/console"
	"github.com/eddy-streams/eddy/streams"
)

// The demo wires Eddy's pieces together in one process: the embedded
// broker, a connector worker running the datagen source and the file sink,
// and a streams app joining and counting in windows (demo_topology.go).
// The web console is served beside the metrics and the connector REST API.

type demoOptions struct {
	dataDir  string        // "" means a temporary directory, removed at exit
	httpAddr string        // /metrics and the connect REST API
	rate     int           // page views per second
	users    int           // users the generator registers (at most 1000 distinct)
	progress time.Duration // between progress lines
	logger   *slog.Logger  // for the broker, worker and streams app
}

func newDemoCommand() *cobra.Command {
	var (
		runFor time.Duration
		o      demoOptions
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run real-time page-view analytics: broker, connectors and streams in one process",
		Long: `Run a small real-time analytics pipeline made of Eddy's real pieces, all in
this process, with nothing to install:

  1. the embedded broker, in a temporary directory (or --data-dir);
  2. a connector worker with the datagen source connector writing page views
     to the "pageviews" topic and a users table (user id -> region) to the
     compacted "users" topic;
  3. a streams app ("eddy-demo") that joins each page view with its user's
     region (a stream-table join, written to "pageviews-enriched"), counts
     views per page and minute ("pageviews-per-minute") and finds the top 3
     pages per region and minute ("top-pages-per-region");
  4. the file sink connector appending every result, as a JSON line, to
     results.jsonl in the data directory.

Minutes are event time: the generator's viewtime, which runs at 10 views
per second of event time from 2026-01-01 00:00 UTC, so at --rate 200 a
minute passes every 3 seconds. Windows are tumbling, one minute long, and
take page views arriving out of order for one more minute (the grace
period); each is written once, with its final result, when it closes
(suppression).

At start the demo prints where to look: the broker's address (any Kafka
client works, e.g. kcat), the Prometheus metrics URL, the connector
worker's REST API (Kafka Connect's paths) and the results file. Every few
seconds it prints how many records were generated, processed and written.

With --for it stops after that long; Ctrl-C stops it too. Either way it
pauses the generators, lets the pipeline drain, stops everything cleanly,
prints a summary of what flowed (records in, windows computed, rows written)
and exits 0. The temporary directory is removed at exit; --data-dir keeps
everything, and a second run on it carries on where the first stopped.`,
		Example: `  eddy demo --for 30s
  eddy demo --rate 1000 --http 127.0.0.1:8083
  eddy demo --data-dir /tmp/eddy-demo     # keep the data and results.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.rate <= 0 || o.users <= 0 || o.progress <= 0 {
				return usagef("--rate, --users and --progress must be positive")
			}
			ctx := cmd.Context()
			if runFor > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, runFor)
				defer cancel()
			}
			// The pieces log warnings only, unless --log-level says otherwise,
			// so that the demo's own lines stay readable.
			o.logger = slog.Default()
			if !cmd.Flags().Changed("log-level") {
				o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			return runDemo(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&runFor, "for", 0, "stop after this long and print a summary (0 = until Ctrl-C)")
	f.IntVar(&o.rate, "rate", 200, "page views generated per second")
	f.IntVar(&o.users, "users", 1000, "users written to the users table before page views start (User_0, User_1, ...; page views come from the first 100, and past 1000 users are re-registered in new regions)")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the broker's data, the streams state and results.jsonl (default: a temporary directory, removed at exit)")
	f.StringVar(&o.httpAddr, "http", "127.0.0.1:0", "address serving /metrics and the connector REST API (port 0: a free port)")
	f.DurationVar(&o.progress, "progress", 5*time.Second, "how often to print progress")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	start := time.Now()
	// Components outlive ctx: when it ends, the demo still drains and stops
	// them in order.
	bg := context.WithoutCancel(ctx)

	dataDir, temporary := o.dataDir, o.dataDir == ""
	if temporary {
		dir, err := os.MkdirTemp("", "eddy-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	} else if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	resultsPath := filepath.Join(dataDir, demoResultsFileName)

	b, err := broker.Start(bg, broker.Config{DataDir: filepath.Join(dataDir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, NumPartitions: demoPartitions, Logger: o.logger})
	if err != nil {
		return err
	}
	defer b.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := createDemoTopics(bg, adm); err != nil {
		return err
	}
	// Counters are relative to what a previous run on --data-dir left.
	base, err := endOffsets(bg, adm, demoPageViewsTopic, demoUsersTopic)
	if err != nil {
		return err
	}
	rows := &lineCounter{path: resultsPath}
	rowsBase := rows.count()

	// The connector worker's and the streams app's metrics join the
	// broker's at /metrics.
	reg := prometheus.NewRegistry()
	w, err := connectors.NewWorker(bg, connectors.WorkerConfig{Brokers: []string{b.Addr()},
		OffsetFlushInterval: time.Second, Logger: o.logger, Registerer: reg})
	if err != nil {
		return err
	}
	workerOpen := true
	defer func() {
		if workerOpen {
			w.Close()
		}
	}()

	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	httpURL := "http://" + ln.Addr().String()
	// The web console reads the broker like any Kafka client and the
	// connectors through the REST API this same server answers at /.
	cons, err := console.New(console.Config{Brokers: []string{b.Addr()}, ConnectURL: httpURL, Logger: o.logger})
	if err != nil {
		ln.Close()
		return err
	}
	defer cons.Close()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{b.Metrics(), reg}, promhttp.HandlerOpts{}))
	mux.Handle("/console/", http.StripPrefix("/console", cons))
	mux.Handle("/", w.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(out, "Eddy demo: real-time page-view analytics, every piece in this process\n\n")
	fmt.Fprintf(out, "  broker        %s   (any Kafka client, e.g. kcat -b %s -C -t %s)\n", b.Addr(), b.Addr(), demoTopRegionTopic)
	fmt.Fprintf(out, "  web console   %s/console/   (topics, messages, lag, connectors, the streams topology)\n", httpURL)
	fmt.Fprintf(out, "  metrics       %s/metrics\n", httpURL)
	fmt.Fprintf(out, "  connect REST  %s/connectors   (e.g. curl '%s/connectors?expand=status')\n", httpURL, httpURL)
	fmt.Fprintf(out, "  results file  %s   (tail -f it)\n", resultsPath)
	if temporary {
		fmt.Fprintf(out, "  data dir      %s   (removed at exit; --data-dir keeps it)\n", dataDir)
	} else {
		fmt.Fprintf(out, "  data dir      %s\n", dataDir)
	}
	fmt.Fprintf(out, "\n  datagen ─▶ %s, %s (compacted) ─▶ streams app %q: join user region, count per page and minute, top %d pages per region and minute\n",
		demoPageViewsTopic, demoUsersTopic, demoApplicationID, demoTopN)
	fmt.Fprintf(out, "          ─▶ %s, %s, %s ─▶ file sink ─▶ %s\n\n", demoEnrichedTopic, demoPerMinuteTopic, demoTopRegionTopic, demoResultsFileName)

	conv := map[string]string{"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": "false"}
	if err := createDemoConnector(w, "users", conv, map[string]string{
		"connector.class": "DatagenSource", "quickstart": "users", "kafka.topic": demoUsersTopic,
		"iterations": strconv.Itoa(o.users), "records.per.second": "0",
	}); err != nil {
		return err
	}
	if err := createDemoConnector(w, "results-sink", nil, map[string]string{
		"connector.class": "FileStreamSink", "file": resultsPath, "topics": demoPerMinuteTopic + "," + demoTopRegionTopic,
		"key.converter": "string", "value.converter": "string",
	}); err != nil {
		return err
	}
	// Users first, so that page views find their user's region.
	waitFor(ctx, 30*time.Second, func() bool {
		n, err := endOffsets(bg, adm, demoUsersTopic)
		return err == nil && n[demoUsersTopic] >= int64(o.users)
	})

	stats := newDemoStats()
	top, err := demoTopology(stats)
	if err != nil {
		return err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: demoApplicationID, Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dataDir, "streams"), Logger: o.logger, Registerer: reg})
	if err != nil {
		return err
	}
	appCtx, stopApp := context.WithCancel(bg)
	defer stopApp()
	appDone := make(chan error, 1)
	go func() { appDone <- app.Run(appCtx) }()
	usersNew := func() int64 {
		n, _ := endOffsets(bg, adm, demoUsersTopic)
		return n[demoUsersTopic] - base[demoUsersTopic]
	}()
	waitFor(ctx, 30*time.Second, func() bool { return app.Processed() >= usersNew })

	if err := createDemoConnector(w, "pageviews", conv, map[string]string{
		"connector.class": "DatagenSource", "quickstart": "pageviews", "kafka.topic": demoPageViewsTopic,
		"records.per.second": strconv.Itoa(o.rate),
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "running: %d page views per second (%d seconds of event time per second); a minute's results come once it closes%s\n",
		o.rate, max(o.rate/10, 1), map[bool]string{true: "; Ctrl-C stops", false: ""}[ctx.Err() == nil])

	snapshot := func() demoCounters {
		c := demoCounters{
			processed: app.Processed(), enriched: stats.enriched.Load(), unknownRegion: stats.unknownRegion.Load(),
			late: app.LateRecordsDropped(), pageWindows: stats.pageWindows.Load(), regionWindows: stats.regionWindows.Load(),
			rows: rows.count() - rowsBase,
		}
		c.minutes, c.lastMinute = stats.windows()
		if n, err := endOffsets(bg, adm, demoPageViewsTopic, demoUsersTopic); err == nil {
			c.pageViews = n[demoPageViewsTopic] - base[demoPageViewsTopic]
			c.users = n[demoUsersTopic] - base[demoUsersTopic]
		}
		return c
	}

	tick := time.NewTicker(o.progress)
	defer tick.Stop()
	var appErr error
	appStopped := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case appErr = <-appDone:
			appStopped = true
			break loop
		case <-tick.C:
			c := snapshot()
			fmt.Fprintf(out, "[%4.0fs] %s\n", time.Since(start).Seconds(), c.progressLine())
			if t := stats.top(3); t != "" {
				fmt.Fprintf(out, "        top pages: %s\n", t)
			}
		}
	}
	if appStopped {
		return fmt.Errorf("streams app stopped: %w", appErr)
	}

	// Drain: stop generating, let the app and the sink catch up (briefly).
	fmt.Fprintf(out, "stopping: pausing the generators, draining the pipeline\n")
	for _, name := range []string{"pageviews", "users"} {
		if err := w.Pause(name); err != nil {
			o.logger.Warn("demo: pause", "connector", name, "err", err)
		}
	}
	// Drained: everything generated was processed and every window result
	// written, and nothing moved for a few checks (pausing takes effect
	// asynchronously, and results cross repartition topics).
	var last demoCounters
	var still int
	drained := waitFor(bg, 15*time.Second, func() bool {
		c := snapshot()
		if c.pageViews == last.pageViews && c.users == last.users && c.processed == last.processed && c.rows == last.rows {
			still++
		} else {
			last, still = c, 0
		}
		return still >= 3 && c.enriched >= c.pageViews && c.rows >= c.windows()
	})
	stopApp()
	if err := <-appDone; err != nil {
		return fmt.Errorf("streams app: %w", err)
	}
	workerOpen = false
	if err := w.Close(); err != nil {
		return fmt.Errorf("connect worker: %w", err)
	}
	final := snapshot()
	shutdownCtx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	cl.Close()
	if err := b.Close(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}

	fmt.Fprintf(out, "\nsummary after %s:\n", time.Since(start).Round(time.Second))
	fmt.Fprintf(out, "  records in:       %d page views, %d users (datagen source connector)\n", final.pageViews, final.users)
	fmt.Fprintf(out, "  streams:          %d records processed; %d page views enriched, %d of them before their user was known\n",
		final.processed, final.enriched, final.unknownRegion)
	fmt.Fprintf(out, "  windows computed: %d page counts over %d closed minutes, %d top-%d lists per region and minute (%d late page views dropped)\n",
		final.pageWindows, final.minutes, final.regionWindows, demoTopN, final.late)
	fmt.Fprintf(out, "  rows written:     %d to %s (file sink connector)\n", final.rows, resultsPath)
	if !drained {
		fmt.Fprintf(out, "  (stopped before the pipeline had drained: some records were left unprocessed)\n")
	}
	if final.minutes > 0 {
		fmt.Fprintf(out, "  (the last minutes were still open at the end: their results are not final, and were not written)\n")
	}
	if t := stats.top(5); t != "" {
		fmt.Fprintf(out, "  top pages:        %s   (closed minutes)\n", t)
	}
	if regions := stats.topByRegion(); len(regions) > 0 {
		fmt.Fprintf(out, "  top pages per region, latest closed minute:\n")
		for _, r := range regions {
			fmt.Fprintf(out, "    %s\n", r)
		}
	}
	return nil
}

// createDemoTopics creates the demo's topics with the same partition count,
// so that page views and users are co-partitioned for the join; the users
// table is compacted. Topics left by an earlier run are kept.
func createDemoTopics(ctx context.Context, adm *kadm.Client) error {
	compact := "compact"
	for _, t := range []struct {
		name    string
		configs map[string]*string
	}{
		{demoPageViewsTopic, nil},
		{demoUsersTopic, map[string]*string{"cleanup.policy": &compact}},
		{demoEnrichedTopic, nil},
		{demoPerMinuteTopic, nil},
		{demoTopRegionTopic, nil},
	} {
		resp, err := adm.CreateTopic(ctx, demoPartitions, 1, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// createDemoConnector creates (or, on a kept data dir, replaces and
// resumes) a connector.
func createDemoConnector(w *connectors.Worker, name string, common, config map[string]string) error {
	cfg := map[string]string{"tasks.max": "1"}
	for k, v := range common {
		cfg[k] = v
	}
	for k, v := range config {
		cfg[k] = v
	}
	if _, _, err := w.CreateConnector(name, cfg, true); err != nil {
		return fmt.Errorf("connector %s: %w", name, err)
	}
	if err := w.Resume(name); err != nil {
		return fmt.Errorf("connector %s: %w", name, err)
	}
	return nil
}

// waitFor polls cond until it holds (true), ctx ends or d passes (false).
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
