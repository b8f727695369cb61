package streams_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// base is aligned to the minute, so window boundaries in the tests are
// round numbers of milliseconds after it.
var base = time.Unix(1_700_000_040, 0)

func at(msAfter int64) time.Time { return base.Add(time.Duration(msAfter) * time.Millisecond) }

func rel(t time.Time) int64 { return t.Sub(base).Milliseconds() }

// in is one input record: key, event time in ms after base.
type in struct {
	k  string
	ts int64
}

func pipeAll(t *testing.T, d *streamstest.Driver, topic string, recs []in) {
	t.Helper()
	input := streamstest.NewInputTopic[string, string](d, topic, nil, nil, base, 0)
	for _, r := range recs {
		if err := input.PipeAt(r.k, "v", at(r.ts)); err != nil {
			t.Fatal(err)
		}
	}
}

// windowedOutput reads windowed records as "key@[start,end]=value tT" with
// times in ms after base ("deleted" for tombstones).
func windowedOutput[V any](t *testing.T, d *streamstest.Driver, topic string, keys state.Serde[streams.Windowed[string]]) []string {
	t.Helper()
	recs, err := streamstest.NewOutputTopic[streams.Windowed[string], V](d, topic, keys, nil).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range recs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = "deleted"
		}
		out = append(out, fmt.Sprintf("%s@[%d,%d]=%s t%d", r.Key.Key, rel(r.Key.Start), rel(r.Key.End), v, rel(r.Timestamp)))
	}
	return out
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// Windowed counts for each kind of window, with out-of-order and late
// records; expected outputs computed by hand from Kafka Streams' rules.
func TestWindowedCount(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name  string
		build func(g streams.GroupedStream[string, string]) (streams.Table[streams.Windowed[string], int64], state.Serde[streams.Windowed[string]])
		in    []in
		want  []string
		late  int64
	}{{
		name: "tumbling",
		build: func(g streams.GroupedStream[string, string]) (streams.Table[streams.Windowed[string], int64], state.Serde[streams.Windowed[string]]) {
			return streams.WindowedBy(g, streams.TimeWindows{Size: 10 * ms, Grace: 5 * ms}).
				Count(streams.Materialized[string, int64]{Name: "counts"}), streams.TimeWindowedSerde[string](nil, 10*ms)
		},
		in: []in{{"a", 1}, {"a", 3}, {"b", 12},
			{"a", 8},  // out of order, window [0,10) open until stream time 15
			{"a", 16}, // stream time 16
			{"a", 9},  // late: [0,10) closed at 15
			{"b", 25},
			{"b", 19}, // late: [10,20) closed at 25
			{"b", 21}, // out of order, in time
		},
		want: []string{
			"a@[0,10]=1 t1", "a@[0,10]=2 t3", "b@[10,20]=1 t12", "a@[0,10]=3 t8",
			"a@[10,20]=1 t16", "b@[20,30]=1 t25", "b@[20,30]=2 t25",
		},
		late: 2,
	}, {
		name: "hopping",
		build: func(g streams.GroupedStream[string, string]) (streams.Table[streams.Windowed[string], int64], state.Serde[streams.Windowed[string]]) {
			return streams.WindowedBy(g, streams.TimeWindows{Size: 10 * ms, Advance: 5 * ms}).
				Count(streams.Materialized[string, int64]{Name: "counts"}), streams.TimeWindowedSerde[string](nil, 10*ms)
		},
		in: []in{{"a", 7}, {"a", 12},
			{"a", 4},  // late for both its windows, [-5,5) and [0,10)
			{"a", 11}, // out of order, both its windows still open
		},
		want: []string{
			"a@[0,10]=1 t7", "a@[5,15]=1 t7",
			"a@[5,15]=2 t12", "a@[10,20]=1 t12",
			"a@[5,15]=3 t12", "a@[10,20]=2 t12",
		},
		late: 2,
	}, {
		name: "sliding",
		build: func(g streams.GroupedStream[string, string]) (streams.Table[streams.Windowed[string], int64], state.Serde[streams.Windowed[string]]) {
			return streams.WindowedBySliding(g, streams.SlidingWindows{TimeDifference: 10 * ms}).
				Count(streams.Materialized[string, int64]{Name: "counts"}), streams.TimeWindowedSerde[string](nil, 10*ms)
		},
		in: []in{{"a", 10}, {"a", 15},
			{"a", 12}, // out of order: updates [5,15] and [11,21], creates [13,23]; its left window [2,12] closed at 12
			{"a", 30},
			{"a", 14}, // late: its windows closed at 25
			{"a", 21}, // [11,21], [13,23] and the new [16,26] closed; [20,30] open
		},
		want: []string{
			"a@[0,10]=1 t10",
			"a@[11,21]=1 t15", "a@[5,15]=2 t15",
			"a@[5,15]=3 t15", "a@[11,21]=2 t15", "a@[13,23]=1 t15",
			"a@[20,30]=1 t30",
			"a@[20,30]=2 t30", "a@[22,32]=1 t30",
		},
		late: 5,
	}, {
		name: "session",
		build: func(g streams.GroupedStream[string, string]) (streams.Table[streams.Windowed[string], int64], state.Serde[streams.Windowed[string]]) {
			return streams.WindowedBySession(g, streams.SessionWindows{Gap: 5 * ms}).
				Count(streams.Materialized[string, int64]{Name: "counts"}), streams.SessionWindowedSerde[string](nil)
		},
		in: []in{{"a", 0}, {"a", 3}, {"a", 20},
			{"a", 12}, // late: a new session [12,12] ends before stream time
			{"a", 16}, // merges into [20,20], which is open
			{"b", 22},
			{"a", 10}, // late
			{"a", 25}, // extends [16,20]
		},
		want: []string{
			"a@[0,0]=1 t0",
			"a@[0,0]=deleted t0", "a@[0,3]=2 t3",
			"a@[20,20]=1 t20",
			"a@[20,20]=deleted t20", "a@[16,20]=2 t20",
			"b@[22,22]=1 t22",
			"a@[16,20]=deleted t20", "a@[16,25]=3 t25",
		},
		late: 2,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := streams.NewBuilder()
			g := streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{})
			tb, keys := c.build(g)
			tb.To("out", streams.Produced[streams.Windowed[string], int64]{})
			top, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d := newDriver(t, top)
			pipeAll(t, d, "in", c.in)
			checkLines(t, "output", windowedOutput[int64](t, d, "out", keys), c.want)
			if got := d.LateRecordsDropped(); got != c.late {
				t.Errorf("late records dropped: %d, want %d", got, c.late)
			}
		})
	}
}

func newDriver(t *testing.T, top *streams.Topology) *streamstest.Driver {
	t.Helper()
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Reduce and Aggregate over windows, and the windowed table in its store.
func TestWindowedReduceAggregate(t *testing.T) {
	b := streams.NewBuilder()
	nums := streams.MapValues(streams.From(b, "in", streams.Consumed[string, string]{}),
		func(_ string, v string) int64 { return int64(len(v)) })
	g := nums.GroupByKey(streams.Grouped[string, int64]{})
	w := streams.WindowedBy(g, streams.TimeWindows{Size: time.Minute})
	maxes := w.Reduce(func(a, v int64) int64 { return max(a, v) }, streams.Materialized[string, int64]{Name: "max"})
	lists := streams.AggregateWindowed(w, func() []int64 { return nil },
		func(_ string, v int64, l []int64) []int64 { return append(l, v) },
		streams.Materialized[string, []int64]{Name: "lists"})
	maxes.ToStream().To("max", streams.Produced[streams.Windowed[string], int64]{})
	lists.ToStream().To("lists", streams.Produced[streams.Windowed[string], []int64]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, top)
	input := streamstest.NewInputTopic[string, string](d, "in", nil, nil, base, 0)
	for i, v := range []string{"xx", "x", "xxxx", "xxx"} {
		if err := input.PipeAt("k", v, base.Add(time.Duration(i)*25*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	keys := streams.TimeWindowedSerde[string](nil, time.Minute)
	checkLines(t, "max", windowedOutput[int64](t, d, "max", keys), []string{
		"k@[0,60000]=2 t0", "k@[0,60000]=2 t25000", "k@[0,60000]=4 t50000", "k@[60000,120000]=3 t75000",
	})
	checkLines(t, "lists", windowedOutput[[]int64](t, d, "lists", keys), []string{
		"k@[0,60000]=[2] t0", "k@[0,60000]=[2 1] t25000", "k@[0,60000]=[2 1 4] t50000", "k@[60000,120000]=[3] t75000",
	})
	store, err := streamstest.WindowStore[string, int64](d, "max")
	if err != nil {
		t.Fatal(err)
	}
	v, found, err := store.Get("k", base.UnixMilli())
	if err != nil || !found || v.Value != 4 || !v.Timestamp.Equal(at(50000)) {
		t.Errorf("store: %v %v %v", v, found, err)
	}
}

// Session Reduce and Aggregate merge the aggregates of bridged sessions.
func TestSessionReduceAggregate(t *testing.T) {
	b := streams.NewBuilder()
	g := streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{})
	s := streams.WindowedBySession(g, streams.SessionWindows{Gap: 15 * time.Millisecond, Grace: time.Second})
	joined := s.Reduce(func(a, v string) string { return a + "," + v }, streams.Materialized[string, string]{Name: "r"})
	lens := streams.AggregateSessions(s, func() int { return 0 },
		func(_ string, v string, n int) int { return n + len(v) },
		func(_ string, a, b int) int { return a + b },
		streams.Materialized[string, int]{Name: "lens"})
	joined.ToStream().To("joined", streams.Produced[streams.Windowed[string], string]{})
	lens.ToStream().To("lens", streams.Produced[streams.Windowed[string], int]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, top)
	input := streamstest.NewInputTopic[string, string](d, "in", nil, nil, base, 0)
	for _, r := range []struct {
		v  string
		ts int64
	}{{"a", 0}, {"bb", 30}, {"ccc", 15}} { // the last bridges [0,0] and [30,30]
		if err := input.PipeAt("k", r.v, at(r.ts)); err != nil {
			t.Fatal(err)
		}
	}
	keys := streams.SessionWindowedSerde[string](nil)
	checkLines(t, "reduce", windowedOutput[string](t, d, "joined", keys), []string{
		"k@[0,0]=a t0", "k@[30,30]=bb t30", "k@[0,30]=a,bb,ccc t30",
	})
	checkLines(t, "aggregate", windowedOutput[int](t, d, "lens", keys), []string{
		"k@[0,0]=1 t0", "k@[30,30]=2 t30", "k@[0,30]=6 t30",
	})
	store, err := streamstest.SessionStore[string, string](d, "r")
	if err != nil {
		t.Fatal(err)
	}
	it := store.Fetch("k")
	var sessions []string
	for it.Next() {
		sessions = append(sessions, fmt.Sprintf("%v=%s", it.Window(), it.Value()))
	}
	it.Close()
	if want := fmt.Sprintf("[%v=a,bb,ccc]", state.Window{Start: base.UnixMilli(), End: at(30).UnixMilli()}); fmt.Sprint(sessions) != want {
		t.Errorf("sessions %v, want %s", sessions, want)
	}
}

// A timestamp extractor drives windows and stream time.
func TestWindowsWithExtractor(t *testing.T) {
	b := streams.NewBuilder()
	src := streams.From(b, "in", streams.Consumed[string, int64]{
		Timestamp: func(r streams.Record[string, int64]) time.Time { return at(r.Value) },
	})
	streams.WindowedBy(src.GroupByKey(streams.Grouped[string, int64]{}), streams.TimeWindows{Size: 10 * time.Millisecond}).
		Count(streams.Materialized[string, int64]{}).ToStream().To("out", streams.Produced[streams.Windowed[string], int64]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, top)
	input := streamstest.NewInputTopic[string, int64](d, "in", nil, nil, time.Unix(0, 0), 0)
	for _, v := range []int64{3, 12, 5} { // Kafka timestamps all 0; 5 is late
		if err := input.Pipe("k", v); err != nil {
			t.Fatal(err)
		}
	}
	checkLines(t, "output", windowedOutput[int64](t, d, "out", streams.TimeWindowedSerde[string](nil, 10*time.Millisecond)),
		[]string{"k@[0,10]=1 t3", "k@[10,20]=1 t12"})
	if !d.StreamTime().Equal(at(12)) || d.LateRecordsDropped() != 1 {
		t.Errorf("stream time %v, late %d", rel(d.StreamTime()), d.LateRecordsDropped())
	}
}

// Sliding windows against a brute-force computation: whatever the order of
// the records (within the grace period), every window in the store holds
// the count of the records inside it, and the windows are exactly the
// left window of every record and the right window of every record that
// has a later one within the time difference.
func TestSlidingWindowsBruteForce(t *testing.T) {
	const diff = 10
	for seed := range 30 {
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		b := streams.NewBuilder()
		g := streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{})
		streams.WindowedBySliding(g, streams.SlidingWindows{TimeDifference: diff * time.Millisecond, Grace: time.Hour}).
			Count(streams.Materialized[string, int64]{Name: "s"})
		top, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		d := newDriver(t, top)
		var recs []in
		for range 40 {
			recs = append(recs, in{"k", 1000 + rng.Int64N(120)})
		}
		pipeAll(t, d, "in", recs)
		store, err := streamstest.WindowStore[string, int64](d, "s")
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]int64{}
		it := store.Fetch("k", 0, at(1_000_000).UnixMilli())
		for it.Next() {
			got[rel(time.UnixMilli(it.Window().Start))] = it.Value().Value
		}
		it.Close()
		count := func(from, to int64) int64 {
			n := int64(0)
			for _, r := range recs {
				if r.ts >= from && r.ts <= to {
					n++
				}
			}
			return n
		}
		want := map[int64]int64{}
		for _, r := range recs {
			want[r.ts-diff] = count(r.ts-diff, r.ts)
			if n := count(r.ts+1, r.ts+1+diff); n > 0 {
				want[r.ts+1] = n
			}
		}
		if !reflect.DeepEqual(got, want) {
			var diffs []string
			for s := range want {
				if got[s] != want[s] {
					diffs = append(diffs, fmt.Sprintf("[%d,%d]: got %d want %d", s, s+diff, got[s], want[s]))
				}
			}
			for s := range got {
				if _, ok := want[s]; !ok {
					diffs = append(diffs, fmt.Sprintf("[%d,%d]: got %d, should not exist", s, s+diff, got[s]))
				}
			}
			sort.Strings(diffs)
			t.Fatalf("seed %d: records %v\n%s", seed, recs, strings.Join(diffs, "\n"))
		}
	}
}

// Windowed keys use Kafka Streams' byte layout.
func TestWindowedSerdes(t *testing.T) {
	w := streams.Windowed[string]{Key: "k", Start: time.UnixMilli(1000), End: time.UnixMilli(1500)}
	tb, err := streams.TimeWindowedSerde[string](nil, 500*time.Millisecond).Encode(w)
	if err != nil || string(tb) != "k\x00\x00\x00\x00\x00\x00\x03\xe8" {
		t.Fatalf("time windowed: %q %v", tb, err)
	}
	back, err := streams.TimeWindowedSerde[string](nil, 500*time.Millisecond).Decode(tb)
	if err != nil || back != w {
		t.Fatalf("decode %v %v", back, err)
	}
	sb, err := streams.SessionWindowedSerde[string](nil).Encode(w)
	if err != nil || string(sb) != "k\x00\x00\x00\x00\x00\x00\x05\xdc\x00\x00\x00\x00\x00\x00\x03\xe8" {
		t.Fatalf("session windowed: %q %v", sb, err)
	}
	if back, err := streams.SessionWindowedSerde[string](nil).Decode(sb); err != nil || back != w {
		t.Fatalf("decode %v %v", back, err)
	}
	if _, err := streams.SessionWindowedSerde[string](nil).Decode([]byte("short")); err == nil {
		t.Fatal("short key decoded")
	}
}

// Invalid window specifications fail Build.
func TestWindowValidation(t *testing.T) {
	for name, build := range map[string]func(g streams.GroupedStream[string, string]){
		"zero size": func(g streams.GroupedStream[string, string]) { streams.WindowedBy(g, streams.TimeWindows{}) },
		"big advance": func(g streams.GroupedStream[string, string]) {
			streams.WindowedBy(g, streams.TimeWindows{Size: 1, Advance: 2})
		},
		"short retention": func(g streams.GroupedStream[string, string]) {
			streams.WindowedBy(g, streams.TimeWindows{Size: time.Minute, Grace: time.Second}).
				Count(streams.Materialized[string, int64]{Retention: time.Minute})
		},
		"suppress unwindowed": func(g streams.GroupedStream[string, string]) {
			g.Count(streams.Materialized[string, int64]{}).Suppress(streams.UntilWindowCloses(streams.BufferConfig{}))
		},
		"suppress emit early": func(g streams.GroupedStream[string, string]) {
			streams.WindowedBy(g, streams.TimeWindows{Size: time.Minute}).Count(streams.Materialized[string, int64]{}).
				Suppress(streams.UntilWindowCloses(streams.BufferConfig{MaxRecords: 1, WhenFull: streams.EmitEarlyWhenFull}))
		},
	} {
		b := streams.NewBuilder()
		build(streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{}))
		if _, err := b.Build(); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
}
