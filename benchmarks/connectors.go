package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/file"
	_ "github.com/eddy-streams/eddy/connectors/postgres"
)

// The connectors benchmark: records/s through a whole pipeline, source
// connector → topic → sink connector, on an embedded broker in this
// process.

func init() {
	register(benchmark{
		name:    "connectors",
		summary: "connector pipelines: file → topic → file, file → topic → PostgreSQL (records/s)",
		run:     runConnectors,
	})
}

const connectorsHelp = `Usage: go run ./benchmarks connectors [flags]

Starts Eddy's broker and a connect worker (connectors.NewWorker) in this
process and measures whole pipelines, from a file written beforehand to the
sink having every record:

  file      FileStreamSource → topic → FileStreamSink (the sink file fsynced
            on every flush)
  postgres  FileStreamSource (key.mode=line) → topic → PostgresSink
            (insert.mode=upsert by line number, auto.create) into the local
            PostgreSQL (-pg); skipped with a note when it is unreachable
  postgres-insert  the same with insert.mode=insert (no key): the sink
            writes each batch with COPY

The clock starts when the connectors are created and stops when the sink
holds every record. Converters are JSON without schemas; the offset flush
interval is 1s. Each case runs -runs times on a fresh broker and topic; the
report gives the median.

The last line of the output is
  connectors: file=X rec/s postgres=Y rec/s postgres-insert=Z rec/s
(skipped for the PostgreSQL cases when it is absent).

Flags:
`

type connectorsOpts struct {
	records   int
	pgRecords int
	runs      int
	pg        string
	dir       string
	args      []string
}

func parseConnectorsFlags(args []string, stdout io.Writer) (connectorsOpts, error) {
	o := connectorsOpts{args: args}
	fs := flag.NewFlagSet("connectors", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.records, "records", 200_000, "lines through the file pipeline")
	fs.IntVar(&o.pgRecords, "pg-records", 50_000, "lines through the PostgreSQL pipeline")
	fs.IntVar(&o.runs, "runs", 3, "runs of each case; the report shows the median")
	fs.StringVar(&o.pg, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "where data directories and files go")
	fs.Usage = func() { fmt.Fprint(stdout, connectorsHelp); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, nil
}

func runConnectors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseConnectorsFlags(args, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "## connectors: pipelines on an embedded broker, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(stdout, "- command: `"+strings.TrimSpace("go run ./benchmarks connectors "+strings.Join(o.args, " "))+"`")
	fmt.Fprintln(stdout, "- source: "+cmp.Or(revision("connectors", "benchmarks"), "unknown (no git)"))
	fmt.Fprintln(stdout, "- machine: "+machineInfo())
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| pipeline | records | seconds | rec/s |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: |")

	results := map[string]string{"file": "skipped", "postgres": "skipped", "postgres-insert": "skipped"}
	for _, c := range []string{"file", "postgres", "postgres-insert"} {
		n := o.records
		if c != "file" {
			n = o.pgRecords
			pc, err := pgx.Connect(ctx, o.pg)
			if err != nil {
				fmt.Fprintf(stderr, "%s: skipped, %s unreachable: %v\n", c, o.pg, err)
				fmt.Fprintf(stdout, "| %s | - | - | skipped (PostgreSQL unreachable) |\n", c)
				continue
			}
			pc.Close(ctx)
		}
		var secs []float64
		for run := 1; run <= o.runs; run++ {
			fmt.Fprintf(stderr, "[%s %d/%d] %d records: ", c, run, o.runs, n)
			d, err := runConnectorsCase(ctx, o, c, n)
			if err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
			fmt.Fprintf(stderr, "%.2fs, %s rec/s\n", d.Seconds(), fmtNum(float64(n)/d.Seconds()))
			secs = append(secs, d.Seconds())
		}
		med := median(secs)
		rate := float64(n) / med
		fmt.Fprintf(stdout, "| %s | %s | %.2f | %s |\n", c, fmtNum(float64(n)), med, fmtNum(rate))
		results[c] = strconv.FormatFloat(rate, 'f', 0, 64)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "connectors: file=%s rec/s postgres=%s rec/s postgres-insert=%s rec/s\n",
		results["file"], results["postgres"], results["postgres-insert"])
	return nil
}

// runConnectorsCase runs one pipeline on a fresh broker and returns the
// time from creating the connectors to the sink holding n records.
func runConnectorsCase(ctx context.Context, o connectorsOpts, c string, n int) (time.Duration, error) {
	dir, err := os.MkdirTemp(o.dir, "eddy-bench-connect-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{b.Addr()}, OffsetsPartitions: 5, OffsetFlushInterval: time.Second, Logger: quiet,
		KeyConverterProps: map[string]string{"schemas.enable": "false"}, ValueConverterProps: map[string]string{"schemas.enable": "false"},
	})
	if err != nil {
		return 0, err
	}
	defer w.Close()

	in := filepath.Join(dir, "in.txt")
	f, err := os.Create(in)
	if err != nil {
		return 0, err
	}
	pad := strings.Repeat("x", 80)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(f, "line %d %s\n", i, pad)
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	table := fmt.Sprintf("eddy_bench_%d", time.Now().UnixNano())
	var done func() (bool, error)
	start := time.Now()
	if _, _, err := w.CreateConnector("src", map[string]string{"connector.class": "FileStreamSource", "file": in,
		"topic": "bench", "key.mode": "line", "batch.size": "5000"}, false); err != nil {
		return 0, err
	}
	switch c {
	case "file":
		out := filepath.Join(dir, "out.txt")
		if _, _, err := w.CreateConnector("sink", map[string]string{"connector.class": "FileStreamSink",
			"file": out, "topics": "bench"}, false); err != nil {
			return 0, err
		}
		want := int64(n) * int64(len(fmt.Sprintf("line %d %s\n", 1, pad))) // a lower bound
		done = func() (bool, error) {
			st, err := os.Stat(out)
			if err != nil || st.Size() < want {
				return false, nil
			}
			b, err := os.ReadFile(out)
			return strings.Count(string(b), "\n") >= n, err
		}
	case "postgres", "postgres-insert":
		pc, err := pgx.Connect(ctx, o.pg)
		if err != nil {
			return 0, err
		}
		defer pc.Close(context.Background())
		defer pc.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
		sink := map[string]string{"connector.class": "PostgresSink", "topics": "bench",
			"connection.url": o.pg, "table.name.format": table, "insert.mode": "upsert", "pk.mode": "record_key",
			"pk.fields": "line", "auto.create": "true"}
		if c == "postgres-insert" {
			sink["insert.mode"], sink["pk.mode"] = "insert", "none"
			delete(sink, "pk.fields")
		}
		if _, _, err := w.CreateConnector("sink", sink, false); err != nil {
			return 0, err
		}
		done = func() (bool, error) {
			var got int
			if err := pc.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&got); err != nil {
				return false, nil // not created yet
			}
			return got >= n, nil
		}
	}
	for {
		ok, err := done()
		if err != nil {
			return 0, err
		}
		if ok {
			return time.Since(start), nil
		}
		if time.Since(start) > 10*time.Minute {
			return 0, fmt.Errorf("sink incomplete after 10 minutes")
		}
		if st, _ := w.Status("sink"); len(st.Tasks) > 0 && st.Tasks[0].State == connectors.StateFailed {
			return 0, fmt.Errorf("sink failed: %s", st.Tasks[0].Trace)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
