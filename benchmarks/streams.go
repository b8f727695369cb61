package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/streams"
)

// The streams benchmark: Eddy streams against goka, both on Eddy's
// embedded broker in this process, over the same preloaded input.

func init() {
	register(benchmark{
		name:    "streams",
		summary: "Eddy streams vs goka (LevelDB) on the embedded broker: word count and a map/filter chain; Eddy's windowed count and stream-stream join",
		run:     runStreams,
	})
}

const streamsHelp = `Usage: go run ./benchmarks streams [flags]

Runs the same two applications with Eddy streams (package streams) and with
goka v1.1.14 (LevelDB storage, storage.DefaultBuilder), each on a fresh Eddy
broker (broker.Start, GroupInitialRebalanceDelay -1) inside this process, and
prints a markdown report.

Input: -records records (default 1,000,000) preloaded into the topic "text"
with -partitions partitions (default 8) before the application starts. Keys
are "line-N"; values are lines of 1 to 3 words (2 on average) drawn
uniformly from a vocabulary of -vocab words (default 10,000).

Cases:
  wordcount  split each line into words, re-key by word, count per word in a
             persistent store, write every new count to "word-counts".
             eddy: FlatMapValues -> GroupBy(word) (repartition topic
             wc-words-repartition) -> Count (LevelDB store, changelog
             wc-counts-changelog) -> ToStream -> To.
             goka: Input("text") callback Loopbacks each word (topic wc-loop);
             the Loop callback increments the group table (LevelDB, topic
             wc-table) and Emits the count to "word-counts".
  mapfilter  stateless: keep lines with at least 2 words, upper-case them,
             keep those whose length is not a multiple of 3, write them to
             "chain-out". eddy: Filter -> MapValues -> Filter -> To.
             goka: one Input callback doing the same and Emit.

Windowed cases, Eddy only (goka has no windows), each on a fresh broker with
its own preloaded input of -records records, -partitions partitions:
  windowcount  keys drawn uniformly from -keys keys, event times spread
               evenly over -minutes minutes, in "views"; GroupByKey ->
               WindowedBy(1-minute tumbling, no grace) -> Count (LevelDB
               window store, changelog) -> ToStream -> To. Verified: one
               output per record, none late.
  join         half the records to "left", half to "right", keyed by one of
               -keys keys in turn; right record i has the time of left record
               i plus up to 2 s; JoinStreams within 5 s before and after,
               grace 10 s (two LevelDB window stores) -> To "joined".
               Verified: exactly the pairs a direct computation finds.
  Their table adds the late records, the size of the application's state
  directory (LevelDB files) once stopped, and the records in its changelog
  topics.

Done: the application's consumer group has committed offsets equal to the
end offsets of every topic it consumes ("text", and for wordcount also the
repartition/loop topic, whose end is read after "text" is seen fully
committed, so it is final). Both frameworks commit an input offset only after
what it produced was acknowledged, so at that moment every count is in
"word-counts". The group's offsets are polled with kadm every 50 ms. Time
runs from just before the application's Run to done: it includes joining the
group, creating internal topics and the last commit interval.

Commits: Eddy's CommitInterval and goka's (sarama's) offset auto-commit
interval are both -commit-interval (default 1s, both frameworks' default).
goka runs with goka.DefaultConfig() except Consumer.Offsets.Initial =
OffsetOldest (goka starts new groups at the newest offset otherwise) and the
auto-commit interval; so goka produces with acks=1 (WaitForLocal) and snappy
compression, its defaults, while Eddy produces with acks=all (the broker
answers after fsync) and no compression.

Columns:
  rec/s          input records per second, start to done
  words/s        word updates (repartition records) per second (wordcount)
  CPU s          user+system CPU seconds of this whole process from start to
                 done (getrusage): the broker runs in this process, so this is
                 application + broker
  CPU s/M rec    CPU s per million input records
  out records    records in the output topic at done
  verified       the output's last value per key equals the expected count
                 (wordcount) / the output holds exactly the expected records
                 (mapfilter); read back after the timed phase

Every system runs each case -runs times on a fresh broker and input per run;
the systems interleave and their order rotates; the report shows medians.

The last line is
  streams: eddy/goka wordcount=X.XX mapfilter=Y.YY
the ratio of median records/s. Target (issue 7): wordcount >= 5.

Flags:
`

type streamsOpts struct {
	runs           int
	records        int
	partitions     int
	vocab          int
	keys, minutes  int // windowed cases
	commitInterval time.Duration
	timeout        time.Duration
	dir            string
	systems        []string
	cases          []string
	verify         bool
	cpuprofile     string
	verbose        bool
	args           []string
}

var streamsSystems = []string{"eddy", "goka"}
var streamsCases = []string{"wordcount", "mapfilter", "windowcount", "join"}

func isWindowedCase(c string) bool { return c == "windowcount" || c == "join" }

func parseStreamsFlags(args []string, stdout io.Writer) (streamsOpts, error) {
	var o streamsOpts
	fs := flag.NewFlagSet("streams", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.runs, "runs", 3, "runs per case and system; the report shows medians")
	fs.IntVar(&o.records, "records", 1_000_000, "input records preloaded per run")
	fs.IntVar(&o.partitions, "partitions", 8, "partitions of the input and output topics")
	fs.IntVar(&o.vocab, "vocab", 10_000, "distinct words")
	fs.IntVar(&o.keys, "keys", 10_000, "distinct keys of the windowed cases")
	fs.IntVar(&o.minutes, "minutes", 10, "minutes of event time the windowed cases' input spans")
	fs.DurationVar(&o.commitInterval, "commit-interval", time.Second, "Eddy's CommitInterval and goka's offset auto-commit interval")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "a case not done after this long fails")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory of the broker's data directory and the state stores")
	systems := fs.String("systems", "eddy,goka", "comma-separated systems to run")
	cases := fs.String("cases", strings.Join(streamsCases, ","), "comma-separated cases to run")
	fs.BoolVar(&o.verify, "verify", true, "after each case, read the output back and check it (untimed)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the timed phases to this file; goroutines carry the label who=eddy-app, goka-app or broker")
	fs.BoolVar(&o.verbose, "v", false, "pass the broker's, Eddy's and goka's info logs to stderr")
	quick := fs.Bool("quick", false, "smoke test: -runs 1 -records 20000, unless given")
	if err := parseFlags(fs, args, streamsHelp); err != nil {
		return o, err
	}
	o.args = args
	if *quick {
		set := explicitFlags(fs)
		if !set["runs"] {
			o.runs = 1
		}
		if !set["records"] {
			o.records = 20_000
		}
	}
	for _, s := range splitList(*systems) {
		if indexFunc(streamsSystems, func(x string) bool { return x == s }) < 0 {
			return o, fmt.Errorf("%w: unknown system %q", errUsage, s)
		}
		o.systems = append(o.systems, s)
	}
	for _, c := range splitList(*cases) {
		if indexFunc(streamsCases, func(x string) bool { return x == c }) < 0 {
			return o, fmt.Errorf("%w: unknown case %q", errUsage, c)
		}
		o.cases = append(o.cases, c)
	}
	switch {
	case o.runs < 1:
		return o, fmt.Errorf("%w: -runs must be at least 1", errUsage)
	case o.records < 2 || o.partitions < 1 || o.vocab < 1 || o.keys < 1 || o.minutes < 1:
		return o, fmt.Errorf("%w: -records (at least 2), -partitions, -vocab, -keys and -minutes must be positive", errUsage)
	case len(o.systems) == 0 || len(o.cases) == 0:
		return o, fmt.Errorf("%w: nothing to run", errUsage)
	}
	return o, nil
}

// streamsInput is the preloaded input and what the cases must produce.
type streamsInput struct {
	keys, values [][]byte
	words        int64            // word occurrences (repartition records)
	counts       map[string]int64 // final count per word
	chainOut     int64            // records mapfilter keeps
}

func makeStreamsInput(records, vocab int) *streamsInput {
	r := rand.New(rand.NewPCG(7, 11))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	seen := map[string]bool{}
	words := make([]string, 0, vocab)
	for len(words) < vocab {
		n := 3 + r.IntN(8)
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	in := &streamsInput{counts: map[string]int64{}}
	var line strings.Builder
	for i := range records {
		line.Reset()
		for j := range 1 + r.IntN(3) {
			if j > 0 {
				line.WriteByte(' ')
			}
			w := words[r.IntN(len(words))]
			line.WriteString(w)
			in.counts[w]++
			in.words++
		}
		v := line.String()
		in.keys = append(in.keys, []byte("line-"+strconv.Itoa(i)))
		in.values = append(in.values, []byte(v))
		if _, ok := chainMap(v); ok {
			in.chainOut++
		}
	}
	return in
}

// The map/filter chain, written once as three steps both systems call.
func chainKeep1(v string) bool      { return strings.IndexByte(v, ' ') >= 0 }
func chainMapValue(v string) string { return strings.ToUpper(v) }
func chainKeep2(v string) bool      { return len(v)%3 != 0 }

func chainMap(v string) (string, bool) {
	if !chainKeep1(v) {
		return "", false
	}
	u := chainMapValue(v)
	return u, chainKeep2(u)
}

// streamsResult is one case on one system in one run.
type streamsResult struct {
	elapsed  time.Duration
	cpu      time.Duration
	out      int64 // records in the output topic
	verified string
	err      error
}

func runStreams(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseStreamsFlags(args, stdout)
	if err != nil {
		return err
	}
	started := time.Now()
	head := reportHead("streams: Eddy vs goka", "streams", o.args, started, "data directories and state stores", o.dir, "broker", "streams", "state", "benchmarks")
	fmt.Fprintf(stderr, "generating %d input records\n", o.records)
	in := makeStreamsInput(o.records, o.vocab)

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	results := map[string][]streamsResult{} // case/system
	windowed := map[string][]streamsWindowsResult{}
	var errs []string
	var measured, cpuMeasured time.Duration
	total := o.runs * len(o.systems)
	done := 0
	for run := range o.runs {
		for k := range o.systems {
			sys := o.systems[(k+run)%len(o.systems)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			done++
			fmt.Fprintf(stderr, "[%d/%d] run %d/%d %s (load %s)\n", done, total, run+1, o.runs, sys, loadAvg())
			var rs map[string]streamsResult
			var err error
			if slices.ContainsFunc(o.cases, func(c string) bool { return !isWindowedCase(c) }) {
				rs, err = runStreamsSystem(ctx, o, in, sys, stderr)
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("run %d %s: %v", run+1, sys, err))
				fmt.Fprintf(stderr, "  ERROR: %v\n", err)
			}
			for _, c := range o.cases {
				if sys != "eddy" || !isWindowedCase(c) || ctx.Err() != nil {
					continue
				}
				r, err := runStreamsWindowsCase(ctx, o, c, stderr)
				if err != nil {
					errs = append(errs, fmt.Sprintf("run %d %s eddy: %v", run+1, c, err))
					fmt.Fprintf(stderr, "  %s eddy: ERROR: %v\n", c, err)
					continue
				}
				windowed[c] = append(windowed[c], r)
				measured += r.elapsed
				cpuMeasured += r.cpu
			}
			for c, r := range rs {
				results[c+"/"+sys] = append(results[c+"/"+sys], r)
				if r.err != nil {
					errs = append(errs, fmt.Sprintf("run %d %s %s: %v", run+1, c, sys, r.err))
				} else {
					measured += r.elapsed
					cpuMeasured += r.cpu
				}
			}
		}
	}
	head = append(head, "- load average after the run: "+loadAvg(),
		fmt.Sprintf("- this process used %.2f of the %d CPUs on average during the timed phases (the rest was idle or went to other processes)",
			cpuMeasured.Seconds()/math.Max(measured.Seconds(), 1e-9), runtime.NumCPU()),
		fmt.Sprintf("- wall time: %v", time.Since(started).Round(time.Second)))
	return writeStreamsReport(stdout, o, in, head, results, windowed, errs)
}

// runStreamsSystem starts a fresh broker, preloads the input, and runs every
// case of o with system sys on it.
func runStreamsSystem(ctx context.Context, o streamsOpts, in *streamsInput, sys string, stderr io.Writer) (map[string]streamsResult, error) {
	runtime.GC()
	debug.FreeOSMemory()
	dir, err := os.MkdirTemp(o.dir, "eddy-bench-streams-"+sys+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var b *broker.Broker
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	pprof.Do(bctx, pprof.Labels("who", "broker"), func(bctx context.Context) {
		b, err = broker.Start(bctx, broker.Config{DataDir: dir + "/broker", Listen: "127.0.0.1:0",
			GroupInitialRebalanceDelay: -1, Logger: logger.With("system", "broker")})
	})
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	defer stopWithin(b.Close, 30*time.Second)
	addr := b.Addr()

	cl, err := kgo.NewClient(append(producerOpts(addr, 10*time.Millisecond, stderr), kgo.MaxBufferedRecords(100_000))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range []string{"text", "word-counts", "chain-out"} {
		if err := createTopic(ctx, cl, t, o.partitions); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if err := preload(ctx, cl, in); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "  preloaded %d records in %v\n", len(in.keys), time.Since(t0).Round(time.Millisecond))

	res := map[string]streamsResult{}
	for _, c := range o.cases {
		if isWindowedCase(c) {
			continue
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		runtime.GC()
		r := runStreamsCase(ctx, o, in, sys, c, addr, dir, adm, logger, stderr)
		if r.err == nil {
			fmt.Fprintf(stderr, "  %s %s: %s rec/s, %.1f s, CPU %.1f s, %s output records, verified: %s\n", c, sys,
				fmtCount(float64(o.records)/r.elapsed.Seconds()), r.elapsed.Seconds(), r.cpu.Seconds(), fmtCount(float64(r.out)), r.verified)
		} else {
			fmt.Fprintf(stderr, "  %s %s: ERROR: %v\n", c, sys, r.err)
		}
		res[c] = r
	}
	return res, nil
}

func preload(ctx context.Context, cl *kgo.Client, in *streamsInput) error {
	errc := make(chan error, 1)
	for i := range in.keys {
		cl.Produce(ctx, &kgo.Record{Topic: "text", Key: in.keys[i], Value: in.values[i]}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("preload: %w", err)
	default:
	}
	return nil
}

// runStreamsCase runs case c with system sys until its group has committed
// everything, then stops it and (with -verify) checks the output.
func runStreamsCase(ctx context.Context, o streamsOpts, in *streamsInput, sys, c, addr, dir string, adm *kadm.Client, logger *slog.Logger, stderr io.Writer) (r streamsResult) {
	group := map[string]string{"wordcount": "wc", "mapfilter": "chain"}[c]
	output := map[string]string{"wordcount": "word-counts", "mapfilter": "chain-out"}[c]
	topics := []string{"text"}
	if c == "wordcount" {
		topics = append(topics, map[string]string{"eddy": "wc-words-repartition", "goka": "wc-loop"}[sys])
	}
	stateDir := fmt.Sprintf("%s/state-%s", dir, c)

	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	runErr := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	pprof.Do(actx, pprof.Labels("who", sys+"-app"), func(actx context.Context) {
		var run func(context.Context) error
		var err error
		if sys == "eddy" {
			run, err = eddyStreamsApp(o, c, group, addr, stateDir, logger)
		} else {
			run, err = gokaStreamsApp(o, c, group, addr, stateDir, stderr)
		}
		if err != nil {
			runErr <- err
			return
		}
		go func() { runErr <- run(actx) }()
	})

	deadline := time.NewTimer(o.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-runErr:
			return streamsResult{err: fmt.Errorf("%s stopped before done: %v", sys, err)}
		case <-deadline.C:
			progress, _ := groupLag(ctx, adm, group, topics)
			acancel()
			<-runErr
			return streamsResult{err: fmt.Errorf("not done after %v (%s)", o.timeout, progress)}
		case <-ctx.Done():
			return streamsResult{err: ctx.Err()}
		case <-tick.C:
		}
		ok, err := groupCaughtUp(ctx, adm, group, topics)
		if err != nil {
			fmt.Fprintf(stderr, "  (offsets: %v)\n", err)
			continue
		}
		if ok {
			break
		}
	}
	r.elapsed, r.cpu = time.Since(start), cpuTime()-cpu0
	acancel()
	select {
	case err := <-runErr:
		if err != nil && !errors.Is(err, context.Canceled) {
			r.err = fmt.Errorf("%s Run: %w", sys, err)
			return r
		}
	case <-time.After(60 * time.Second):
		r.err = fmt.Errorf("%s did not stop within 60s", sys)
		return r
	}
	ends, err := adm.ListEndOffsets(ctx, output)
	if err != nil {
		r.err = err
		return r
	}
	ends.Each(func(lo kadm.ListedOffset) { r.out += lo.Offset })
	r.verified = "not checked"
	if o.verify {
		r.verified, r.err = verifyStreamsOutput(ctx, addr, output, sys, c, in, r.out, stderr)
	}
	return r
}

// groupCaughtUp says whether group has committed the end offset of every
// partition of topics. topics[0] is checked first: the end offsets are read
// after the committed ones, so once topics[0] (the preloaded input) is fully
// committed, the ends read of the other topics are final.
func groupCaughtUp(ctx context.Context, adm *kadm.Client, group string, topics []string) (bool, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return false, nil // the internal topic is not created yet
		}
		return false, err
	}
	ok := true
	ends.Each(func(lo kadm.ListedOffset) {
		at := int64(0)
		if c, found := committed.Lookup(lo.Topic, lo.Partition); found && c.Err == nil {
			at = max(c.At, 0)
		}
		if at < lo.Offset {
			ok = false
		}
	})
	return ok, nil
}

// groupLag describes how far group is behind, for a timeout message.
func groupLag(ctx context.Context, adm *kadm.Client, group string, topics []string) (string, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return "", err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, t := range topics {
		var c, e int64
		ends.Each(func(lo kadm.ListedOffset) {
			if lo.Topic != t {
				return
			}
			e += lo.Offset
			if x, ok := committed.Lookup(t, lo.Partition); ok {
				c += max(x.At, 0)
			}
		})
		parts = append(parts, fmt.Sprintf("%s: %d of %d committed", t, c, e))
	}
	return strings.Join(parts, "; "), nil
}

// eddyStreamsApp builds case c as an Eddy streams app.
func eddyStreamsApp(o streamsOpts, c, group, addr, stateDir string, logger *slog.Logger) (func(context.Context) error, error) {
	b := streams.NewBuilder()
	lines := streams.From(b, "text", streams.Consumed[string, string]{})
	switch c {
	case "wordcount":
		words := streams.FlatMapValues(lines, func(_ string, line string) []string { return strings.Fields(line) })
		counts := streams.GroupBy(words, func(_ string, w string) string { return w },
			streams.Grouped[string, string]{Name: "words"}).
			Count(streams.Materialized[string, int64]{Name: "counts"})
		counts.ToStream().To("word-counts", streams.Produced[string, int64]{})
	case "mapfilter":
		kept := lines.Filter(func(_ string, v string) bool { return chainKeep1(v) })
		upper := streams.MapValues(kept, func(_ string, v string) string { return chainMapValue(v) })
		upper.Filter(func(_ string, v string) bool { return chainKeep2(v) }).
			To("chain-out", streams.Produced[string, string]{})
	}
	top, err := b.Build()
	if err != nil {
		return nil, err
	}
	sc := sarama.NewConfig()
	sc.Producer.Idempotent = false
	app, err := streams.NewApp(top, streams.Config{
		ApplicationID:  group,
		Brokers:        []string{addr},
		Sarama:         sc,
		StateDir:       stateDir,
		CommitInterval: o.commitInterval,
		Logger:         logger.With("system", "eddy-streams"),
	})
	if err != nil {
		return nil, err
	}
	return app.Run, nil
}

// gokaStreamsApp builds case c as a goka processor with LevelDB storage.
func gokaStreamsApp(o streamsOpts, c, group, addr, stateDir string, stderr io.Writer) (func(context.Context) error, error) {
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = o.commitInterval
	goka.ReplaceGlobalConfig(cfg)
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	var gl goka.Logger = log.New(io.Discard, "", 0)
	if o.verbose {
		gl = log.New(stderr, "[goka] ", log.LstdFlags)
	}
	// tmc.Logger stays goka's default (stderr); the topic manager logs
	// only when it creates a topic.
	brokers := []string{addr}

	var g *goka.GroupGraph
	switch c {
	case "wordcount":
		g = goka.DefineGroup(goka.Group(group),
			goka.Input("text", new(codec.String), func(ctx goka.Context, msg any) {
				for _, w := range strings.Fields(msg.(string)) {
					ctx.Loopback(w, w)
				}
			}),
			goka.Loop(new(codec.String), func(ctx goka.Context, _ any) {
				var n int64
				if v := ctx.Value(); v != nil {
					n = v.(int64)
				}
				n++
				ctx.SetValue(n)
				ctx.Emit("word-counts", ctx.Key(), n)
			}),
			goka.Output("word-counts", new(codec.Int64)),
			goka.Persist(new(codec.Int64)),
		)
	case "mapfilter":
		g = goka.DefineGroup(goka.Group(group),
			goka.Input("text", new(codec.String), func(ctx goka.Context, msg any) {
				if u, ok := chainMap(msg.(string)); ok {
					ctx.Emit("chain-out", ctx.Key(), u)
				}
			}),
			goka.Output("chain-out", new(codec.String)),
		)
	}
	p, err := goka.NewProcessor(brokers, g,
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, tmc)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg)),
		goka.WithStorageBuilder(storage.DefaultBuilder(stateDir)),
		goka.WithLogger(gl),
	)
	if err != nil {
		return nil, err
	}
	return p.Run, nil
}

// verifyStreamsOutput reads output from the start and checks it against
// what case c must produce.
func verifyStreamsOutput(ctx context.Context, addr, output, sys, c string, in *streamsInput, n int64, stderr io.Writer) (string, error) {
	cl, err := kgo.NewClient(consumerOpts(addr, output, stderr)...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := map[string]int64{}
	var read, bad int64
	var firstBad string
	decode := func(v []byte) (int64, error) {
		if sys == "goka" {
			return strconv.ParseInt(string(v), 10, 64)
		}
		return streams.DefaultSerde[int64]().Decode(v)
	}
	for read < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("verify: read %d of %d output records: %w", read, n, err)
		}
		if err := fs.Err0(); err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			switch c {
			case "wordcount":
				v, err := decode(r.Value)
				if err != nil {
					bad++
					return
				}
				last[string(r.Key)] = v // per key, one partition: in order
			case "mapfilter":
				_ = r
			}
		})
	}
	switch c {
	case "wordcount":
		var wrong int
		for w, want := range in.counts {
			if last[w] != want {
				if wrong == 0 {
					firstBad = fmt.Sprintf("%q: %d, want %d", w, last[w], want)
				}
				wrong++
			}
		}
		if wrong > 0 || bad > 0 || len(last) != len(in.counts) {
			return "", fmt.Errorf("verify: %d of %d words wrong (first %s), %d undecodable, %d keys", wrong, len(in.counts), firstBad, bad, len(last))
		}
		return fmt.Sprintf("yes (%d words)", len(in.counts)), nil
	default:
		if n != in.chainOut {
			return "", fmt.Errorf("verify: %d output records, want %d", n, in.chainOut)
		}
		return fmt.Sprintf("yes (%d records)", n), nil
	}
}

func writeStreamsReport(w io.Writer, o streamsOpts, in *streamsInput, head []string, results map[string][]streamsResult,
	windowed map[string][]streamsWindowsResult, errs []string) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	for _, l := range head {
		p("%s", l)
	}
	p("")
	p("Input: %s records preloaded into \"text\" (%d partitions), lines of 1-3 words (%s word updates) over %s distinct words.",
		fmtCount(float64(o.records)), o.partitions, fmtCount(float64(in.words)), fmtCount(float64(len(in.counts))))
	p("Every figure is the median over %d run(s), systems interleaved; each run has a fresh broker in this process.", o.runs)
	p("Time runs from the application's start until its group's committed offsets reach the end of every topic it consumes;")
	p("CPU s is user+system CPU of the whole process (application + broker) over that time. Commit interval %v for both.", o.commitInterval)
	p("")
	p("| case | system | rec/s | words/s | seconds | CPU s | CPU s/M rec | out records | verified |")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	rps := map[string]float64{}
	for _, c := range o.cases {
		if isWindowedCase(c) {
			continue
		}
		for _, s := range o.systems {
			var el, cpu, out []float64
			verified := ""
			for _, r := range results[c+"/"+s] {
				if r.err != nil {
					continue
				}
				el = append(el, r.elapsed.Seconds())
				cpu = append(cpu, r.cpu.Seconds())
				out = append(out, float64(r.out))
				verified = r.verified
			}
			sec := median(el)
			rps[c+"/"+s] = float64(o.records) / sec
			wps := "-"
			if c == "wordcount" {
				wps = fmtCount(float64(in.words) / sec)
			}
			if len(el) < len(results[c+"/"+s]) {
				verified += fmt.Sprintf(" (%d of %d runs failed)", len(results[c+"/"+s])-len(el), len(results[c+"/"+s]))
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", c, s, fmtCount(float64(o.records)/sec), wps,
				fmtNum(sec), fmtNum(median(cpu)), fmtNum(median(cpu)/(float64(o.records)/1e6)), fmtCount(median(out)), cmp.Or(verified, "n/a"))
		}
	}
	if slices.ContainsFunc(o.cases, isWindowedCase) && slices.Contains(o.systems, "eddy") {
		p("")
		p("Windowed cases, Eddy only (goka has no windows): %s records, %s keys, %d minutes of event time, %d partitions; medians over %d run(s).",
			fmtCount(float64(o.records)), fmtCount(float64(o.keys)), o.minutes, o.partitions, o.runs)
		p("")
		p("| case | rec/s | seconds | CPU s | CPU s/M rec | out records | late records | state dir | changelog records | verified |")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
		for _, c := range o.cases {
			if !isWindowedCase(c) {
				continue
			}
			var el, cpu, out, late, size, cl []float64
			verified := "n/a"
			for _, r := range windowed[c] {
				el = append(el, r.elapsed.Seconds())
				cpu = append(cpu, r.cpu.Seconds())
				out = append(out, float64(r.out))
				late = append(late, float64(r.late))
				size = append(size, float64(r.stateBytes))
				cl = append(cl, float64(r.changelog))
				if verified == "n/a" || !strings.HasPrefix(r.verified, "yes") {
					verified = r.verified
				}
			}
			if failed := o.runs - len(el); failed > 0 {
				verified += fmt.Sprintf(" (%d of %d runs failed)", failed, o.runs)
			}
			sec := median(el)
			p("| %s | %s | %s | %s | %s | %s | %s | %.1f MB | %s | %s |", c, fmtCount(float64(o.records)/sec), fmtNum(sec),
				fmtNum(median(cpu)), fmtNum(median(cpu)/(float64(o.records)/1e6)), fmtCount(median(out)), fmtCount(median(late)),
				median(size)/1e6, fmtCount(median(cl)), verified)
		}
	}
	ratio := func(c string) float64 { return rps[c+"/eddy"] / rps[c+"/goka"] }
	wc, mf := ratio("wordcount"), ratio("mapfilter")
	p("")
	p("| target | measured | met |")
	p("| --- | --- | --- |")
	p("| wordcount: eddy >= 5x goka records/s | %s | %s |", fmtRatio(wc), met(wc >= 5, wc))
	if len(errs) > 0 {
		p("")
		p("Errors (failed runs are left out of the medians):")
		p("")
		for _, e := range errs {
			p("- %s", e)
		}
	}
	p("")
	p("Ratio line: median(eddy rec/s) / median(goka rec/s) per case.")
	p("streams: eddy/goka wordcount=%s mapfilter=%s", fmtRatio(wc), fmtRatio(mf))
	if len(errs) > 0 {
		return fmt.Errorf("%d run(s) failed; see the report", len(errs))
	}
	return nil
}
