package main

import (
	"context"
	"errors"
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

// The windowed cases of the streams benchmark: Eddy's windowed count and
// stream-stream join on the embedded broker. goka has neither, so they run
// with Eddy only.

// streamsWindowedCases are the cases runStreamsWindowsCase runs.
var streamsWindowedCases = []string{"windowcount", "join"}

// Grace of the join case: the runtime processes a task's records in
// timestamp order across its partitions (also over a preloaded backlog), so
// a short grace drops nothing.
const joinBenchGrace = 10 * time.Second

// joinWindow is the join case's JoinWindows Before and After.
const joinWindow = 5 * time.Second

type streamsWindowsResult struct {
	elapsed, cpu         time.Duration
	out, changelog, late int64
	stateBytes           int64
	verified             string
}

// runStreamsWindowsCase runs the windowed case c once on a fresh broker
// with freshly preloaded input.
func runStreamsWindowsCase(ctx context.Context, o streamsOpts, c string, stderr io.Writer) (r streamsWindowsResult, err error) {
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
	// The join's inputs per key (ms), to count the pairs it must find.
	lefts, rights := map[string][]int64{}, map[string][]int64{}
	for i := range o.records {
		k := []byte(fmt.Sprintf("key-%d", next()))
		ts := t0.Add(time.Duration(i) * step)
		topic := inputs[0]
		if c == "join" {
			topic = inputs[i%2]
			k = []byte(fmt.Sprintf("key-%d", (i/2)%o.keys))
			if i%2 == 1 {
				ts = ts.Add(time.Duration(i%2000) * time.Millisecond)
				rights[string(k)] = append(rights[string(k)], ts.UnixMilli())
			} else {
				lefts[string(k)] = append(lefts[string(k)], ts.UnixMilli())
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
			streams.JoinWindows{Before: joinWindow, After: joinWindow, Grace: joinBenchGrace}, streams.StreamJoined[string, string, string]{Name: "j"}).
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
	// Every record updates one window (none is late: records are processed
	// in timestamp order); the join pairs every left record with the right
	// ones within the window.
	want := int64(o.records)
	if c == "join" {
		want = 0
		for k, ls := range lefts {
			for _, l := range ls {
				for _, rt := range rights[k] {
					if d := rt - l; d >= -joinWindow.Milliseconds() && d <= joinWindow.Milliseconds() {
						want++
					}
				}
			}
		}
	}
	if r.out == want && r.late == 0 {
		r.verified = fmt.Sprintf("yes (%s records)", fmtCount(float64(want)))
	} else {
		r.verified = fmt.Sprintf("no: %s records, want %s; %d late", fmtCount(float64(r.out)), fmtCount(float64(want)), r.late)
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
