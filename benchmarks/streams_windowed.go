package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/streams"
)

// The windows benchmark: Eddy's windowed count and stream-stream join on
// the embedded broker. goka has neither, so there is no peer column.

func init() {
	register(benchmark{
		name:    "streams-windows",
		summary: "Eddy streams windowed count (1-minute tumbling) and stream-stream join: records/s and state size",
		run:     runStreamsWindows,
	})
}

const streamsWindowsHelp = `Usage: go run ./benchmarks streams-windows [flags]

Runs two Eddy streams applications, each on a fresh Eddy broker
(broker.Start, GroupInitialRebalanceDelay -1) in this process, over
preloaded input, and prints a markdown report.

Cases:
  windowcount  -records records keyed by one of -keys keys (uniform), event
               times spread evenly over -minutes minutes, read from "views";
               GroupByKey -> WindowedBy(1-minute tumbling, no grace) -> Count
               (LevelDB window store, changelog) -> ToStream -> To.
  join         -records records, half to "left" and half to "right", keyed by
               one of -keys keys; right record i has the time of left record
               i plus up to 2 s; JoinStreams within 5 s before and after
               (two LevelDB window stores) -> To. Its grace is -minutes: the
               runtime consumes a task's partitions independently (it does
               not pick the record with the smallest timestamp across them,
               as Kafka Streams does), so over a preloaded backlog one side
               runs ahead in stream time and, with a short grace, most of the
               other side would be dropped as late.

Done: the group has committed the end offsets of its inputs (time includes
joining the group and creating internal topics). State size is the size of
the application's state directory (LevelDB files) once stopped, and the
records in its changelog topics.

Flags:
`

type streamsWindowsOpts struct {
	records, keys, partitions, minutes int
	commitInterval, timeout            time.Duration
	dir                                string
	cases                              []string
	args                               []string
}

func runStreamsWindows(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o streamsWindowsOpts
	f := flag.NewFlagSet("streams-windows", flag.ContinueOnError)
	f.SetOutput(stdout)
	f.IntVar(&o.records, "records", 1_000_000, "input records per case")
	f.IntVar(&o.keys, "keys", 10_000, "distinct keys")
	f.IntVar(&o.partitions, "partitions", 8, "partitions of every topic")
	f.IntVar(&o.minutes, "minutes", 10, "minutes of event time the input spans")
	f.DurationVar(&o.commitInterval, "commit-interval", time.Second, "the apps' CommitInterval")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "a case not done after this long fails")
	f.StringVar(&o.dir, "dir", os.TempDir(), "parent directory of the broker's data and the state stores")
	cases := f.String("cases", "windowcount,join", "comma-separated cases")
	quick := f.Bool("quick", false, "smoke test: -records 20000 unless given")
	f.Usage = func() {
		fmt.Fprint(f.Output(), streamsWindowsHelp)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		f.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, f.Arg(0))
	}
	o.args = args
	if *quick {
		set := false
		f.Visit(func(fl *flag.Flag) { set = set || fl.Name == "records" })
		if !set {
			o.records = 20_000
		}
	}
	o.cases = splitList(*cases)
	for _, c := range o.cases {
		if c != "windowcount" && c != "join" {
			return fmt.Errorf("%w: unknown case %q", errUsage, c)
		}
	}
	if o.records < 2 || o.keys < 1 || o.partitions < 1 || o.minutes < 1 {
		return fmt.Errorf("%w: -records, -keys, -partitions and -minutes must be positive", errUsage)
	}
	started := time.Now()
	fmt.Fprintf(stdout, "## streams-windows: Eddy, %s\n\n", started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(stdout, "- command: `%s`\n", strings.TrimSpace("go run ./benchmarks streams-windows "+strings.Join(args, " ")))
	fmt.Fprintf(stdout, "- source: %s\n", cmp.Or(revision("broker", "streams", "state", "benchmarks"), "unknown (no git)"))
	fmt.Fprintf(stdout, "- machine: %s\n", machineInfo())
	fmt.Fprintf(stdout, "- %d records, %d keys, %d partitions, %d minutes of event time; state under %s (%s)\n\n",
		o.records, o.keys, o.partitions, o.minutes, o.dir, fsType(o.dir))
	fmt.Fprintln(stdout, "| case | rec/s | seconds | CPU s | out records | late records | state dir | changelog records |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var errs []string
	for _, c := range o.cases {
		fmt.Fprintf(stderr, "%s: %d records\n", c, o.records)
		r, err := runStreamsWindowsCase(ctx, o, c, stderr)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", c, err))
			fmt.Fprintf(stdout, "| %s | error | | | | | | |\n", c)
			continue
		}
		fmt.Fprintf(stdout, "| %s | %s | %.1f | %.1f | %s | %d | %.1f MB | %s |\n", c,
			fmtCount(float64(o.records)/r.elapsed.Seconds()), r.elapsed.Seconds(), r.cpu.Seconds(),
			fmtCount(float64(r.out)), r.late, float64(r.stateBytes)/1e6, fmtCount(float64(r.changelog)))
	}
	fmt.Fprintf(stdout, "\nwall time %v\n", time.Since(started).Round(time.Second))
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

type streamsWindowsResult struct {
	elapsed, cpu         time.Duration
	out, changelog, late int64
	stateBytes           int64
}

func runStreamsWindowsCase(ctx context.Context, o streamsWindowsOpts, c string, stderr io.Writer) (r streamsWindowsResult, err error) {
	runtime.GC()
	dir, err := os.MkdirTemp(o.dir, "eddy-bench-windows-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	b, err := broker.Start(bctx, broker.Config{DataDir: dir + "/broker", Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, Logger: logger})
	if err != nil {
		return r, err
	}
	defer stopWithin(b.Close, 30*time.Second)
	addr := b.Addr()
	cl, err := kgo.NewClient(append(producerOpts(addr, 10*time.Millisecond, stderr), kgo.MaxBufferedRecords(100_000))...)
	if err != nil {
		return r, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	inputs := []string{"views"}
	output := "views-per-minute"
	if c == "join" {
		inputs, output = []string{"left", "right"}, "joined"
	}
	for _, t := range append(inputs, output) {
		if err := createTopic(ctx, cl, t, o.partitions); err != nil {
			return r, err
		}
	}
	// Input: event times from t0, evenly over the minutes; keys uniform.
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	step := time.Duration(o.minutes) * time.Minute / time.Duration(o.records)
	rng := uint64(1)
	next := func() int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % o.keys
	}
	errc := make(chan error, 1)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	}
	for i := range o.records {
		k := []byte(fmt.Sprintf("key-%d", next()))
		ts := t0.Add(time.Duration(i) * step)
		topic := inputs[0]
		if c == "join" {
			topic = inputs[i%2]
			k = []byte(fmt.Sprintf("key-%d", (i/2)%o.keys))
			if i%2 == 1 {
				ts = ts.Add(time.Duration(i%2000) * time.Millisecond)
			}
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: k, Value: []byte("v"), Timestamp: ts}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		return r, err
	}
	select {
	case err := <-errc:
		return r, fmt.Errorf("preload: %w", err)
	default:
	}

	sb := streams.NewBuilder()
	app := "windows-" + c
	if c == "join" {
		l := streams.From(sb, "left", streams.Consumed[string, string]{})
		rt := streams.From(sb, "right", streams.Consumed[string, string]{})
		streams.JoinStreams(l, rt, func(a, b string) string { return a + b },
			streams.JoinWindows{Before: 5 * time.Second, After: 5 * time.Second, Grace: time.Duration(o.minutes) * time.Minute}, streams.StreamJoined[string, string, string]{Name: "j"}).
			To(output, streams.Produced[string, string]{})
	} else {
		views := streams.From(sb, "views", streams.Consumed[string, string]{})
		streams.WindowedBy(views.GroupByKey(streams.Grouped[string, string]{}), streams.TimeWindows{Size: time.Minute}).
			Count(streams.Materialized[string, int64]{Name: "counts"}).
			ToStream().To(output, streams.Produced[streams.Windowed[string], int64]{})
	}
	top, err := sb.Build()
	if err != nil {
		return r, err
	}
	sc := sarama.NewConfig()
	sc.Producer.Idempotent = false
	stateDir := filepath.Join(dir, "state")
	a, err := streams.NewApp(top, streams.Config{ApplicationID: app, Brokers: []string{addr}, Sarama: sc,
		StateDir: stateDir, CommitInterval: o.commitInterval, Logger: logger})
	if err != nil {
		return r, err
	}
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	runErr := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	go func() { runErr <- a.Run(actx) }()
	deadline := time.After(o.timeout)
	for caught := false; !caught; {
		select {
		case err := <-runErr:
			return r, fmt.Errorf("stopped before done: %v", err)
		case <-deadline:
			acancel()
			<-runErr
			return r, fmt.Errorf("not done after %v", o.timeout)
		case <-time.After(50 * time.Millisecond):
		}
		if caught, err = groupCaughtUp(ctx, adm, app, inputs); err != nil {
			caught = false
		}
	}
	r.elapsed, r.cpu, r.late = time.Since(start), cpuTime()-cpu0, a.LateRecordsDropped()
	acancel()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return r, err
	}
	ends, err := adm.ListEndOffsets(ctx, output)
	if err != nil {
		return r, err
	}
	ends.Each(func(lo kadm.ListedOffset) { r.out += lo.Offset })
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return r, err
	}
	var changelogs []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, app+"-") && strings.HasSuffix(t, "-changelog") {
			changelogs = append(changelogs, t)
		}
	}
	if len(changelogs) > 0 {
		cends, err := adm.ListEndOffsets(ctx, changelogs...)
		if err != nil {
			return r, err
		}
		cends.Each(func(lo kadm.ListedOffset) { r.changelog += lo.Offset })
	}
	filepath.WalkDir(stateDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				r.stateBytes += info.Size()
			}
		}
		return nil
	})
	fmt.Fprintf(stderr, "  %s: %s rec/s, %.1f s, %s out, %.1f MB state, %s changelog records, %d late\n", c,
		fmtCount(float64(o.records)/r.elapsed.Seconds()), r.elapsed.Seconds(), fmtCount(float64(r.out)),
		float64(r.stateBytes)/1e6, fmtCount(float64(r.changelog)), r.late)
	return r, nil
}
