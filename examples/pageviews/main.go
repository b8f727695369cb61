// Command pageviews counts page views per page and minute of event time on
// an embedded broker: tumbling windows with a grace period for views that
// arrive out of order, suppressed until each window closes, so that every
// minute of every page is written exactly once, with its final count.
//
//	go run ./examples/pageviews
//	go run ./examples/pageviews -views 20000 -disorder 8s
//	go run ./examples/pageviews -describe     # the topology, as Kafka Streams describes it
//
// See README.md beside this file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors/datagen"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// PageView is a value of the "pageviews" topic, as the datagen connector
// writes it (JSON), keyed here by URL.
type PageView struct {
	ViewTime int64  `json:"viewtime"` // event time, Unix milliseconds
	UserID   string `json:"user_id"`
	URL      string `json:"url"`
}

// Windows: one minute, tumbling, open for 10 more seconds of event time
// for views that arrive out of order.
var Windows = streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}

// Topics of the example.
const (
	InputTopic  = "pageviews"
	OutputTopic = "pageviews-per-minute"
	partitions  = 3
	endOfInput  = "end-of-input" // the URL of the records that close the last windows (see Generate)
)

func main() {
	views := flag.Int("views", 6000, "page views to generate (10 per second of event time: 6000 make 10 minutes)")
	disorder := flag.Duration("disorder", 5*time.Second, "how far back in event time a view may be moved (out of order); beyond the grace period (10s) views are late and dropped")
	seed := flag.Uint64("seed", 42, "generator seed: the same seed gives the same views")
	describe := flag.Bool("describe", false, "print the topology and exit")
	flag.Parse()
	if *describe {
		top, err := Topology()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(top.Describe())
		return
	}
	if *views <= 0 || *disorder < 0 {
		log.Fatal("-views must be positive and -disorder not negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, Generate(*seed, *views, *disorder))
	if err != nil {
		log.Fatal(err)
	}
	res.print(os.Stdout)
}

// Topology counts page views per URL and minute of event time (the
// viewtime in each value) and writes each minute's final count:
//
//	pageviews (keyed by URL) ─ windowed count ─ suppress until the window closes ─▶ pageviews-per-minute
//
// The output's keys are windowed URLs in Kafka Streams' layout (the URL,
// then the window start as 8 bytes), its values counts as 8-byte longs:
// a Java consumer reads them with WindowedSerdes.timeWindowedSerdeFrom and
// LongDeserializer.
func Topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	views := streams.From(b, InputTopic, streams.Consumed[string, PageView]{
		Values: state.JSON[PageView]{},
		// Event time is when the page was viewed, not when the record
		// was written.
		Timestamp: func(r streams.Record[string, PageView]) time.Time { return time.UnixMilli(r.Value.ViewTime) },
	})
	// The views are keyed by URL already: grouping by key needs no
	// repartition topic.
	perMinute := streams.WindowedBy(views.GroupByKey(streams.Grouped[string, PageView]{}), Windows).
		Count(streams.Materialized[string, int64]{Name: "views-per-minute"})
	final := perMinute.Suppress(streams.UntilWindowCloses(streams.BufferConfig{}))
	final.ToStream().To(OutputTopic, streams.Produced[streams.Windowed[string], int64]{
		Keys: streams.TimeWindowedSerde[string](state.String{}, Windows.Size)})
	return b.Build()
}

// Record is one record to write to the input topic.
type Record struct {
	URL  string
	View PageView
}

// Generate returns n page views of the datagen connector's "pageviews"
// quickstart (10 per second of event time from 2026-01-01 00:00 UTC), each
// moved back in event time by up to disorder, so that some arrive out of
// order; then, on every partition, an end-of-input record a minute past the
// last view plus the grace period. Windows close by stream time, which
// only records move on: without these, the last minute of each partition
// would stay open for good. (An unbounded stream needs no such thing.)
func Generate(seed uint64, n int, disorder time.Duration) []Record {
	rng := rand.New(rand.NewPCG(seed, 0))
	var recs []Record
	var last int64
	for i := range n {
		_, v := datagen.Generate("pageviews", seed, int64(i))
		pv := PageView{ViewTime: v["viewtime"].(int64), UserID: v["user_id"].(string), URL: v["url"].(string)}
		if disorder > 0 {
			pv.ViewTime -= rng.Int64N(disorder.Milliseconds() + 1)
		}
		last = max(last, pv.ViewTime)
		recs = append(recs, Record{pv.URL, pv})
	}
	end := last + (Windows.Size + Windows.Grace).Milliseconds()
	for p := range partitions {
		// A key for partition p (Kafka's default partitioner, as the
		// client below uses).
		for k := 0; ; k++ {
			key := fmt.Sprintf("%s-%d", endOfInput, k)
			if streams.DefaultPartition([]byte(key), partitions) == int32(p) {
				recs = append(recs, Record{key, PageView{ViewTime: end, URL: endOfInput}})
				break
			}
		}
	}
	return recs
}

// Window is a URL's minute.
type Window struct {
	URL   string
	Start time.Time // UTC
}

// Result is what the app wrote: one final count per URL and minute.
type Result struct {
	Counts map[Window]int64
	Late   int64 // views dropped because their window had closed
}

// run writes the records, runs the app and reads its output until every
// view is in a final count (or was dropped as late).
func run(ctx context.Context, recs []Record) (*Result, error) {
	var views int64
	for _, r := range recs {
		if r.View.URL != endOfInput {
			views++
		}
	}
	dir, err := os.MkdirTemp("", "eddy-pageviews-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	// franz-go's default partitioner hashes keys with murmur2, as Kafka's
	// Java client and Kafka Streams do.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()),
		kgo.ConsumeTopics(OutputTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, InputTopic, OutputTopic); err != nil {
		return nil, err
	}
	batch := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		v, err := json.Marshal(r.View)
		if err != nil {
			return nil, err
		}
		batch = append(batch, &kgo.Record{Topic: InputTopic, Key: []byte(r.URL), Value: v})
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce page views: %w", err)
	}

	top, err := Topology()
	if err != nil {
		return nil, err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: "pageviews", Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dir, "state"), CommitInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		return nil, err
	}
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	done := make(chan error, 1)
	go func() { done <- app.Run(appCtx) }()

	keys := streams.TimeWindowedSerde[string](state.String{}, Windows.Size)
	res := &Result{Counts: map[Window]int64{}}
	var counted int64
	for counted+app.LateRecordsDropped() < views {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pollCtx)
		cancel()
		select {
		case err := <-done:
			return nil, fmt.Errorf("streams app stopped: %w", err)
		default:
		}
		if err := ctx.Err(); err != nil {
			stopApp()
			<-done
			return nil, err
		}
		var decodeErr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				decodeErr = err
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			w, err := keys.Decode(r.Key)
			if err == nil {
				var n int64
				n, err = state.Long{}.Decode(r.Value)
				res.Counts[Window{w.Key, w.Start.UTC()}] = n
				counted += n
			}
			if err != nil && decodeErr == nil {
				decodeErr = fmt.Errorf("%s: %w", OutputTopic, err)
			}
		})
		if decodeErr != nil {
			stopApp()
			<-done
			return nil, decodeErr
		}
	}
	res.Late = app.LateRecordsDropped()
	stopApp()
	if err := <-done; err != nil {
		return nil, err
	}
	return res, nil
}

// print writes a table: a row per minute, a column per URL.
func (r *Result) print(w io.Writer) {
	urlSet, minuteSet := map[string]bool{}, map[time.Time]bool{}
	for win := range r.Counts {
		urlSet[win.URL], minuteSet[win.Start] = true, true
	}
	urls, minutes := sortedKeys(urlSet, func(a, b string) bool { return a < b }), sortedKeys(minuteSet, time.Time.Before)
	fmt.Fprintf(w, "page views per minute (event time, UTC)\n%-6s", "minute")
	for _, u := range urls {
		fmt.Fprintf(w, " %8s", u)
	}
	fmt.Fprintln(w)
	for _, m := range minutes {
		fmt.Fprintf(w, "%-6s", m.Format("15:04"))
		for _, u := range urls {
			fmt.Fprintf(w, " %8d", r.Counts[Window{u, m}])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d final counts; %d late views dropped\n", len(r.Counts), r.Late)
}

func sortedKeys[K comparable](m map[K]bool, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	return keys
}
