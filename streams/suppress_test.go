package streams_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

func suppressedCounts(t *testing.T, w streams.TimeWindows, s streams.Suppressed) *streamstest.Driver {
	t.Helper()
	b := streams.NewBuilder()
	g := streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{})
	counts := streams.WindowedBy(g, w).Count(streams.Materialized[string, int64]{Name: "counts"})
	counts.ToStream().To("updates", streams.Produced[streams.Windowed[string], int64]{})
	counts.Suppress(s).ToStream().To("final", streams.Produced[streams.Windowed[string], int64]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return newDriver(t, top)
}

// untilWindowCloses emits one result per window, when stream time reaches
// the window's end plus grace.
func TestSuppressUntilWindowCloses(t *testing.T) {
	w := streams.TimeWindows{Size: 10 * time.Millisecond, Grace: 5 * time.Millisecond}
	d := suppressedCounts(t, w, streams.UntilWindowCloses(streams.BufferConfig{}))
	keys := streams.TimeWindowedSerde[string](nil, w.Size)
	steps := []struct {
		in   []in
		want []string
	}{
		{[]in{{"a", 1}, {"a", 3}, {"b", 4}, {"a", 12}, {"a", 8}, {"a", 14}}, []string{}},
		{[]in{{"b", 15}}, []string{"a@[0,10]=3 t8", "b@[0,10]=1 t4"}},
		{[]in{{"a", 24}}, []string{}},
		{[]in{{"a", 9}, {"c", 31}}, []string{"a@[10,20]=2 t14", "b@[10,20]=1 t15"}},
	}
	for i, st := range steps {
		pipeAll(t, d, "in", st.in)
		checkLines(t, fmt.Sprint("step ", i), windowedOutput[int64](t, d, "final", keys), st.want)
	}
	if d.LateRecordsDropped() != 1 {
		t.Errorf("late: %d", d.LateRecordsDropped())
	}
}

// Random keys and out-of-order times: every window is emitted exactly
// once, with the count of the records that were not late, which is also
// the last update of the unsuppressed table.
func TestSuppressExactlyOneFinalResult(t *testing.T) {
	const size, grace = 50, 30
	w := streams.TimeWindows{Size: size * time.Millisecond, Grace: grace * time.Millisecond}
	d := suppressedCounts(t, w, streams.UntilWindowCloses(streams.BufferConfig{MaxRecords: 100}))
	rng := rand.New(rand.NewPCG(7, 8))
	type win struct {
		k     string
		start int64
	}
	want := map[win]int64{}
	var streamTime int64 = -1 << 62
	var recs []in
	late := int64(0)
	for i := range 2000 {
		ts := int64(i)*3 - rng.Int64N(60)
		k := fmt.Sprintf("k%d", rng.IntN(10))
		recs = append(recs, in{k, ts})
		streamTime = max(streamTime, ts)
		start := ts - ((ts%size)+size)%size
		if start+size+grace <= streamTime {
			late++
			continue
		}
		want[win{k, start}]++
	}
	recs = append(recs, in{"flush", 1 << 40})
	pipeAll(t, d, "in", recs)
	keys := streams.TimeWindowedSerde[string](nil, w.Size)
	final, err := streamstest.NewOutputTopic[streams.Windowed[string], int64](d, "final", keys, nil).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	updates, err := streamstest.NewOutputTopic[streams.Windowed[string], int64](d, "updates", keys, nil).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	last := map[win]int64{}
	for _, u := range updates {
		last[win{u.Key.Key, rel(u.Key.Start)}] = u.Value
	}
	got := map[win]int64{}
	for _, r := range final {
		wk := win{r.Key.Key, rel(r.Key.Start)}
		if _, dup := got[wk]; dup {
			t.Fatalf("window %v emitted twice", wk)
		}
		got[wk] = r.Value
		if r.Value != last[wk] {
			t.Errorf("%v: final %d, last update %d", wk, r.Value, last[wk])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d windows emitted, want %d", len(got), len(want))
	}
	for wk, n := range want {
		if got[wk] != n {
			t.Errorf("%v: %d, want %d", wk, got[wk], n)
		}
	}
	if d.LateRecordsDropped() != late || late == 0 {
		t.Errorf("late %d, want %d (> 0)", d.LateRecordsDropped(), late)
	}
}

// untilTimeLimit emits a key's latest value TimeLimit after its first
// buffered update.
func TestSuppressUntilTimeLimit(t *testing.T) {
	b := streams.NewBuilder()
	streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{}).
		Count(streams.Materialized[string, int64]{}).
		Suppress(streams.UntilTimeLimit(10*time.Millisecond, streams.BufferConfig{})).
		ToStream().To("out", streams.Produced[string, int64]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, top)
	out := streamstest.NewOutputTopic[string, int64](d, "out", nil, nil)
	read := func() []string {
		recs, err := out.ReadRecords()
		if err != nil {
			t.Fatal(err)
		}
		lines := []string{}
		for _, r := range recs {
			lines = append(lines, fmt.Sprintf("%s=%d t%d", r.Key, r.Value, rel(r.Timestamp)))
		}
		return lines
	}
	pipeAll(t, d, "in", []in{{"a", 0}, {"a", 2}, {"b", 5}, {"a", 9}})
	checkLines(t, "before the limit", read(), []string{})
	pipeAll(t, d, "in", []in{{"a", 10}})
	checkLines(t, "a due", read(), []string{"a=4 t10"})
	pipeAll(t, d, "in", []in{{"b", 16}, {"a", 17}})
	checkLines(t, "b due", read(), []string{"b=2 t16"})
	pipeAll(t, d, "in", []in{{"c", 27}})
	checkLines(t, "a again", read(), []string{"a=5 t17"})
}

// A full buffer fails the task, or emits its oldest records early.
func TestSuppressBufferFull(t *testing.T) {
	w := streams.TimeWindows{Size: time.Minute}
	d := suppressedCounts(t, w, streams.UntilWindowCloses(streams.BufferConfig{MaxRecords: 2}))
	input := streamstest.NewInputTopic[string, string](d, "in", nil, nil, base, time.Millisecond)
	if err := input.Pipe("a", "v"); err != nil {
		t.Fatal(err)
	}
	if err := input.Pipe("b", "v"); err != nil {
		t.Fatal(err)
	}
	if err := input.Pipe("c", "v"); !errors.Is(err, streams.ErrBufferFull) {
		t.Fatalf("third key: %v, want ErrBufferFull", err)
	}

	d = suppressedCounts(t, w, streams.UntilTimeLimit(time.Hour, streams.BufferConfig{MaxBytes: 70, WhenFull: streams.EmitEarlyWhenFull}))
	pipeAll(t, d, "in", []in{{"a", 0}, {"b", 1}, {"a", 2}, {"c", 3}})
	keys := streams.TimeWindowedSerde[string](nil, w.Size)
	// An entry takes 1+8 key bytes, 8 value bytes and 17: two fit.
	checkLines(t, "emitted early", windowedOutput[int64](t, d, "final", keys), []string{"a@[0,60000]=2 t2"})
}

// A stream joined with a suppressed table looks up the table's latest
// value, including updates the suppression still holds back (Kafka Streams
// answers such lookups with the value last emitted instead; see
// Table.Suppress).
func TestSuppressedTableLookupSeesLatest(t *testing.T) {
	b := streams.NewBuilder()
	counts := streams.From(b, "in", streams.Consumed[string, string]{}).GroupByKey(streams.Grouped[string, string]{}).
		Count(streams.Materialized[string, int64]{}).
		Suppress(streams.UntilTimeLimit(10*time.Millisecond, streams.BufferConfig{}))
	counts.ToStream().To("out", streams.Produced[string, int64]{})
	probes := streams.From(b, "probes", streams.Consumed[string, string]{})
	streams.LeftJoin(probes, counts, func(_ string, n int64, found bool) string {
		if !found {
			return "none"
		}
		return fmt.Sprint(n)
	}).To("looked-up", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, top)
	out := streamstest.NewOutputTopic[string, int64](d, "out", nil, nil)
	looked := streamstest.NewOutputTopic[string, string](d, "looked-up", nil, nil)
	probe := func() string {
		t.Helper()
		pipeAll(t, d, "probes", []in{{"a", 1}})
		recs, err := looked.ReadRecords()
		if err != nil || len(recs) != 1 {
			t.Fatalf("lookup: %v %v", recs, err)
		}
		return recs[0].Value
	}
	if got := probe(); got != "none" {
		t.Errorf("before any update: %s", got)
	}
	pipeAll(t, d, "in", []in{{"a", 2}, {"a", 3}})
	if recs, _ := out.ReadRecords(); len(recs) != 0 {
		t.Fatalf("emitted before the time limit: %v", recs)
	}
	if got := probe(); got != "2" {
		t.Errorf("with two updates held back: lookup %s, want 2", got)
	}
	pipeAll(t, d, "in", []in{{"b", 12}})
	if recs, _ := out.ReadRecords(); len(recs) != 1 || recs[0].Value != 2 {
		t.Fatalf("after the time limit: %v", recs)
	}
	pipeAll(t, d, "in", []in{{"a", 13}})
	if got := probe(); got != "3" {
		t.Errorf("with the third update held back: lookup %s, want 3", got)
	}
}
