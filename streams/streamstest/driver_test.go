package streamstest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

var t0 = time.Unix(1_700_000_000, 0)

func newDriver(t *testing.T, top *streams.Topology) *streamstest.Driver {
	t.Helper()
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func kvs[K, V any](pairs ...any) []streams.KeyValue[K, V] {
	out := []streams.KeyValue[K, V]{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, streams.KV(pairs[i].(K), pairs[i+1].(V)))
	}
	return out
}

func TestWordCount(t *testing.T) {
	d := newDriver(t, testapps.WordCount())
	in := streamstest.NewInputTopic[string, string](d, "text", nil, nil, t0, time.Second)
	out := streamstest.NewOutputTopic[string, int64](d, "word-counts", nil, nil)
	check(t, in.PipeAll(kvs[string, string]("", "the quick fox", "", "The lazy dog", "", "")...))
	got, err := out.ReadKeyValues()
	check(t, err)
	want := kvs[string, int64]("the", int64(1), "quick", int64(1), "fox", int64(1), "the", int64(2), "lazy", int64(1), "dog", int64(1))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts:\n got %v\nwant %v", got, want)
	}
	// The repartition topic carries the words keyed by word.
	rep := streamstest.NewOutputTopic[string, string](d, d.InternalTopic("words-repartition"), nil, nil)
	rr, err := rep.ReadKeyValues()
	check(t, err)
	if len(rr) != 6 || rr[3] != streams.KV("the", "the") {
		t.Fatalf("repartition topic: %v", rr)
	}
	store, err := streamstest.KeyValueStore[string, int64](d, "counts")
	check(t, err)
	if n, found, err := store.Get("the"); err != nil || !found || n != 2 {
		t.Fatalf("store counts[the] = %d, %v, %v", n, found, err)
	}
}

func TestWordCountTimestamps(t *testing.T) {
	d := newDriver(t, testapps.WordCount())
	in := streamstest.NewInputTopic[string, string](d, "text", nil, nil, t0, time.Second)
	out := streamstest.NewOutputTopic[string, int64](d, "word-counts", nil, nil)
	check(t, in.PipeAt("", "a b", t0.Add(5*time.Second)))
	recs, err := out.ReadRecords()
	check(t, err)
	for _, r := range recs {
		if !r.Timestamp.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("output timestamp %v, want the input's", r.Timestamp)
		}
	}
	if !d.StreamTime().Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("stream time %v", d.StreamTime())
	}
}

func TestEnrichment(t *testing.T) {
	d := newDriver(t, testapps.Enrichment())
	customers := streamstest.NewInputTopic[string, testapps.Customer](d, "customers", nil, nil, t0, time.Second)
	orders := streamstest.NewInputTopic[string, testapps.Order](d, "orders", nil, nil, t0.Add(time.Minute), time.Second)
	enriched := streamstest.NewOutputTopic[string, testapps.Enriched](d, "enriched-orders", nil, nil)
	totals := streamstest.NewOutputTopic[string, int64](d, "country-totals", nil, nil)

	check(t, customers.Pipe("c1", testapps.Customer{Name: "Ada", Country: "UK"}))
	check(t, customers.Pipe("c2", testapps.Customer{Name: "Grace", Country: "US"}))
	check(t, orders.Pipe("o1", testapps.Order{Customer: "c1", Amount: 10}))
	check(t, orders.Pipe("o2", testapps.Order{Customer: "c2", Amount: 20}))
	check(t, orders.Pipe("o3", testapps.Order{Customer: "c9", Amount: 5}))
	check(t, customers.Pipe("c1", testapps.Customer{Name: "Ada", Country: "FR"}))
	check(t, orders.Pipe("o4", testapps.Order{Customer: "c1", Amount: 7}))
	check(t, customers.PipeTombstone("c2"))
	check(t, orders.Pipe("o5", testapps.Order{Customer: "c2", Amount: 1}))

	got, err := enriched.ReadKeyValues()
	check(t, err)
	want := kvs[string, testapps.Enriched](
		"c1", testapps.Enriched{Customer: "c1", Name: "Ada", Country: "UK", Amount: 10},
		"c2", testapps.Enriched{Customer: "c2", Name: "Grace", Country: "US", Amount: 20},
		"c9", testapps.Enriched{Customer: "c9", Name: "?", Country: "?", Amount: 5},
		"c1", testapps.Enriched{Customer: "c1", Name: "Ada", Country: "FR", Amount: 7},
		"c2", testapps.Enriched{Customer: "c2", Name: "?", Country: "?", Amount: 1},
	)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("enriched:\n got %v\nwant %v", got, want)
	}
	gotTotals, err := totals.ReadKeyValues()
	check(t, err)
	wantTotals := kvs[string, int64]("UK", int64(10), "US", int64(20), "?", int64(5), "FR", int64(7), "?", int64(6))
	if !reflect.DeepEqual(gotTotals, wantTotals) {
		t.Fatalf("totals:\n got %v\nwant %v", gotTotals, wantTotals)
	}
}

func TestTableJoins(t *testing.T) {
	d := newDriver(t, testapps.TableJoin())
	l := streamstest.NewInputTopic[string, string](d, "left", nil, nil, t0, time.Second)
	r := streamstest.NewInputTopic[string, string](d, "right", nil, nil, t0, time.Second)
	inner := streamstest.NewOutputTopic[string, string](d, "inner", nil, nil)
	left := streamstest.NewOutputTopic[string, string](d, "left-join", nil, nil)
	outer := streamstest.NewOutputTopic[string, string](d, "outer", nil, nil)

	check(t, l.Pipe("a", "a1"))     // left a1
	check(t, r.Pipe("a", "x1"))     // both
	check(t, r.Pipe("b", "y1"))     // right only
	check(t, l.Pipe("a", "a2"))     // update left
	check(t, r.PipeTombstone("a"))  // right a gone
	check(t, l.PipeTombstone("a"))  // left a gone
	check(t, l.Pipe("b", "b1"))     // b joins
	check(t, r.PipeTombstone("zz")) // nothing there

	type ev struct {
		k, v string
		del  bool
	}
	read := func(o *streamstest.OutputTopic[string, string]) []ev {
		recs, err := o.ReadRecords()
		check(t, err)
		out := []ev{}
		for _, r := range recs {
			out = append(out, ev{r.Key, r.Value, r.Tombstone})
		}
		return out
	}
	wantInner := []ev{{"a", "a1|x1", false}, {"a", "a2|x1", false}, {"a", "", true}, {"b", "b1|y1", false}}
	wantLeft := []ev{{"a", "a1|-", false}, {"a", "a1|x1", false}, {"a", "a2|x1", false}, {"a", "a2|-", false}, {"a", "", true}, {"b", "b1|y1", false}}
	wantOuter := []ev{{"a", "a1|-", false}, {"a", "a1|x1", false}, {"b", "-|y1", false}, {"a", "a2|x1", false}, {"a", "a2|-", false}, {"a", "", true}, {"b", "b1|y1", false}, {"zz", "", true}}
	for _, c := range []struct {
		name string
		o    *streamstest.OutputTopic[string, string]
		want []ev
	}{{"inner", inner, wantInner}, {"left", left, wantLeft}, {"outer", outer, wantOuter}} {
		if got := read(c.o); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s join:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

func TestStatelessOperations(t *testing.T) {
	b := streams.NewBuilder()
	in := streams.From(b, "in", streams.Consumed[string, int64]{})
	var peeked, each []string
	parts := in.Peek(func(k string, _ int64) { peeked = append(peeked, k) }).
		FilterNot(func(_ string, v int64) bool { return v < 0 }).
		Split(func(_ string, v int64) bool { return v%2 == 0 }, func(_ string, v int64) bool { return v%3 == 0 })
	even := streams.MapValues(parts[0], func(_ string, v int64) string { return "even" })
	three := streams.Map(parts[1], func(k string, v int64) (string, string) { return k + "!", "three" })
	other := streams.FlatMap(parts[2], func(k string, v int64) []streams.KeyValue[string, string] {
		return []streams.KeyValue[string, string]{streams.KV(k, "other"), streams.KV(k+k, "other")}
	})
	merged := even.Merge(three, other).Filter(func(k string, _ string) bool { return k != "skip" })
	merged.Foreach(func(k, v string) { each = append(each, k+"="+v) })
	merged.To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	check(t, err)
	d := newDriver(t, top)
	src := streamstest.NewInputTopic[string, int64](d, "in", nil, nil, t0, time.Millisecond)
	check(t, src.PipeAll(kvs[string, int64]("a", int64(2), "b", int64(3), "c", int64(5), "d", int64(-1), "skip", int64(4))...))
	got, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadKeyValues()
	check(t, err)
	want := kvs[string, string]("a", "even", "b!", "three", "c", "other", "cc", "other")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if strings.Join(peeked, ",") != "a,b,c,d,skip" || strings.Join(each, ",") != "a=even,b!=three,c=other,cc=other" {
		t.Fatalf("peek %v foreach %v", peeked, each)
	}
}

func TestAggregateAndTableOps(t *testing.T) {
	b := streams.NewBuilder()
	in := streams.From(b, "scores", streams.Consumed[string, int64]{})
	type stats struct{ N, Sum, Max int64 }
	agg := streams.Aggregate(in.GroupByKey(streams.Grouped[string, int64]{}),
		func() stats { return stats{} },
		func(_ string, v int64, s stats) stats {
			s.N++
			s.Sum += v
			s.Max = max(s.Max, v)
			return s
		}, streams.Materialized[string, stats]{Name: "stats"})
	big := agg.Filter(func(_ string, s stats) bool { return s.Sum >= 10 })
	streams.MapTableValues(big, func(_ string, s stats) int64 { return s.Max }).To("max-of-big", streams.Produced[string, int64]{})
	top, err := b.Build()
	check(t, err)
	if strings.Contains(top.Describe(), "repartition") && !strings.Contains(top.Describe(), "Repartition topics: []") {
		t.Fatalf("GroupByKey on an unchanged key must not repartition:\n%s", top.Describe())
	}
	d := newDriver(t, top)
	src := streamstest.NewInputTopic[string, int64](d, "scores", nil, nil, t0, time.Millisecond)
	check(t, src.PipeAll(kvs[string, int64]("x", int64(4), "x", int64(7), "y", int64(12), "x", int64(1))...))
	recs, err := streamstest.NewOutputTopic[string, int64](d, "max-of-big", nil, nil).ReadRecords()
	check(t, err)
	var got []string
	for _, r := range recs {
		if r.Tombstone {
			got = append(got, r.Key+"=del")
		} else {
			got = append(got, r.Key+"="+strings.Repeat("I", int(r.Value)))
		}
	}
	want := []string{"x=del", "x=IIIIIII", "y=IIIIIIIIIIII", "x=IIIIIII"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	st, err := streamstest.KeyValueStore[string, stats](d, "stats")
	check(t, err)
	if s, _, _ := st.Get("x"); s != (stats{3, 12, 7}) {
		t.Fatalf("stats[x] = %+v", s)
	}
}

func TestDeserializationErrors(t *testing.T) {
	build := func() *streams.Topology {
		b := streams.NewBuilder()
		streams.From(b, "in", streams.Consumed[string, int64]{Values: state.Int64{}}).To("out", streams.Produced[string, int64]{})
		top, err := b.Build()
		check(t, err)
		return top
	}
	for _, c := range []struct {
		policy      streams.ErrorPolicy
		wantErr     bool
		wantOut     int
		wantDeadLtr int
	}{
		{streams.LogAndFail, true, 1, 0},
		{streams.LogAndContinue, false, 1, 0},
		{streams.DeadLetter, false, 1, 1},
	} {
		d, err := streamstest.New(build(), streamstest.Config{OnDeserializationError: c.policy, DeadLetterTopic: "dlq"})
		check(t, err)
		in := streamstest.NewInputTopic[string, int64](d, "in", nil, nil, t0, time.Second)
		err = in.PipeRaw([]byte("k"), []byte("bad"))
		if (err != nil) != c.wantErr {
			t.Errorf("policy %d: err = %v", c.policy, err)
		}
		check(t, in.Pipe("k", 42))
		out, _ := streamstest.NewOutputTopic[string, int64](d, "out", nil, nil).ReadRecords()
		dlq, _ := streamstest.NewOutputTopic[string, string](d, "dlq", nil, nil).ReadRecords()
		if len(out) != c.wantOut || len(dlq) != c.wantDeadLtr {
			t.Errorf("policy %d: %d outputs, %d dead letters", c.policy, len(out), len(dlq))
		}
		if len(dlq) == 1 && (dlq[0].Value != "bad" || dlq[0].Headers[1].Key != "eddy.topic") {
			t.Errorf("dead letter %+v", dlq[0])
		}
		d.Close()
	}
}

// dedup is a custom processor: it forwards a key the first time it is seen
// (remembered in a store) and, every 10 seconds of stream time and every
// minute of wall-clock time, forwards a marker.
type dedup struct {
	ctx  *streams.ProcessorContext[string, string]
	seen *state.KeyValueStore[string, int64]
}

func (p *dedup) Init(ctx *streams.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	p.seen, err = streams.GetStore[string, int64](ctx, "seen")
	ctx.Schedule(10*time.Second, streams.StreamTime, func(now time.Time) error {
		return ctx.Forward(streams.Record[string, string]{Key: "tick", Value: now.Sub(t0).String(), Timestamp: now})
	})
	ctx.Schedule(time.Minute, streams.WallClockTime, func(now time.Time) error {
		return ctx.Forward(streams.Record[string, string]{Key: "wall", Value: now.UTC().Format(time.TimeOnly), Timestamp: now})
	})
	return err
}

func (p *dedup) Process(r streams.Record[string, string]) error {
	_, found, err := p.seen.Get(r.Key)
	if err != nil || found {
		return err
	}
	if err := p.seen.Put(r.Key, r.Timestamp.Unix()); err != nil {
		return err
	}
	return p.ctx.Forward(r)
}

func (p *dedup) Close() error { return nil }

func TestProcessorAPI(t *testing.T) {
	b := streams.NewBuilder()
	streams.AddStore(b, streams.Materialized[string, int64]{Name: "seen"})
	in := streams.From(b, "in", streams.Consumed[string, string]{})
	streams.Process(in, "dedup", func() streams.Processor[string, string, string, string] { return &dedup{} }, "seen").
		To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	check(t, err)
	if !strings.Contains(top.Describe(), "Processor: dedup (stores: [seen])") {
		t.Fatalf("describe:\n%s", top.Describe())
	}
	d := newDriver(t, top)
	src := streamstest.NewInputTopic[string, string](d, "in", nil, nil, t0, 4*time.Second)
	check(t, src.PipeAll(kvs[string, string]("a", "1", "b", "2", "a", "3", "c", "4")...))
	check(t, d.AdvanceWallClock(90*time.Second))
	got, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadKeyValues()
	check(t, err)
	// Records at 0s, 4s, 8s, 12s: the stream-time punctuation fires at 0s
	// (the first record) and 12s (past 10s); the wall clock fires at its
	// first advance.
	want := kvs[string, string]("a", "1", "tick", "0s", "b", "2", "c", "4", "tick", "12s", "wall", "00:01:30")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	b := streams.NewBuilder()
	streams.From(b, "in", streams.Consumed[string, string]{})
	streams.From(b, "in", streams.Consumed[string, string]{})
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "two sources") {
		t.Fatalf("err = %v", err)
	}
	if _, err := streams.NewBuilder().Build(); err == nil {
		t.Fatal("empty topology built")
	}
	d := newDriver(t, testapps.WordCount())
	if err := d.AdvanceWallClock(time.Second); err != nil {
		t.Fatal(err)
	}
	in := streamstest.NewInputTopic[string, string](d, "nope", nil, nil, t0, 0)
	if err := in.Pipe("a", "b"); err == nil {
		t.Fatal("pipe to an unknown topic worked")
	}
	if _, err := streamstest.KeyValueStore[string, string](d, "counts"); err == nil || errors.Is(err, nil) {
		t.Fatalf("wrong store types: %v", err)
	}
}
