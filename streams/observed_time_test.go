package streams_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// A windowed aggregation decides lateness by the stream time it has
// observed (the records it has seen), not the task's: a far-ahead record
// of another topic merged downstream does not close its windows.
func TestWindowedCountStreamTimeIsTheProcessors(t *testing.T) {
	b := streams.NewBuilder()
	other := streams.From(b, "other", streams.Consumed[string, string]{})
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	counts := streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}), streams.TimeWindows{Size: time.Minute}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	streams.Map(counts.ToStream(), func(w streams.Windowed[string], n int64) (string, string) { return w.Key, "counted" }).
		Merge(other).To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := streamstest.NewInputTopic[string, string](d, "other", nil, nil, t0, 0).PipeAt("x", "far ahead", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clicksIn := streamstest.NewInputTopic[string, string](d, "clicks", nil, nil, t0, 0)
	if err := clicksIn.PipeAt("ann", "click", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := d.LateRecordsDropped(); n != 0 {
		t.Errorf("click dropped as late (%d)", n)
	}
	// The aggregation's own stream time still closes windows: a click two
	// minutes later closes the first minute, and one back in it is late.
	for _, at := range []time.Duration{2 * time.Minute, 2 * time.Second} {
		if err := clicksIn.PipeAt("ann", "click", t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.LateRecordsDropped(); n != 1 {
		t.Errorf("%d records dropped as late; want the click back in the closed window", n)
	}
	out, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Key != "x" || out[1].Key != "ann" || out[2].Key != "ann" {
		t.Errorf("out %v; want x, then ann counted twice", out)
	}
}

// The stream time a windowed aggregation observed is committed with the
// offsets and resumed after a restart, apart from the task's: a click the
// aggregation's windows had closed before the restart is late after it,
// while one within its open window is counted although the task's stream
// time (an hour ahead, from the merged topic) is far past it.
func TestAppObservedStreamTimeSurvivesRestart(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 1, "clicks", "other", "out")
	t0 := base
	b := streams.NewBuilder()
	other := streams.From(b, "other", streams.Consumed[string, string]{})
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	counts := streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}), streams.TimeWindows{Size: time.Minute}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	streams.Map(counts.ToStream(), func(w streams.Windowed[string], n int64) (string, string) {
		return fmt.Sprintf("%s@%v", w.Key, w.Start.Sub(t0)), fmt.Sprint(n)
	}).Merge(other).To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	c := saramaConfig()
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(topic string, ts time.Duration) {
		t.Helper()
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("ann"),
			Value: sarama.StringEncoder("v"), Timestamp: t0.Add(ts)}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := streams.Config{ApplicationID: "observed-restart", Brokers: []string{addr}, InMemoryStores: true}

	send("clicks", 2*time.Minute)
	send("other", time.Hour)
	a, stopA := runApp(t, top, cfg)
	awaitProcessed(t, a, 2)
	stopA()

	send("clicks", 30*time.Second)            // its window [0, 1m) closed at 2m: late
	send("clicks", 2*time.Minute+time.Second) // window [2m, 3m) is open at 2m
	b2, stopB := runApp(t, top, cfg)
	awaitProcessed(t, b2, 2)
	stopB()
	if a.LateRecordsDropped() != 0 || b2.LateRecordsDropped() != 1 {
		t.Errorf("late records %d, then %d; want 0, then 1", a.LateRecordsDropped(), b2.LateRecordsDropped())
	}
	last := map[string]string{}
	for _, m := range consumeToEnd(t, addr, "out") {
		last[string(m.Key)] = string(m.Value)
	}
	if len(last) != 2 || last["ann@2m0s"] != "2" {
		t.Errorf("last outputs %v; want ann@2m0s counted twice, and the merged record", last)
	}
}

// Suppression and stream-stream joins go by their own observed stream
// time too: a record far ahead on a merged topic neither closes the join's
// window (the payment still pays the order, which is not emitted unpaid)
// nor the suppressed window (its final count waits for a later click).
func TestDriverJoinAndSuppressStreamTimeIsTheProcessors(t *testing.T) {
	b := streams.NewBuilder()
	other := streams.From(b, "other", streams.Consumed[string, string]{})
	orders := streams.From(b, "orders", streams.Consumed[string, string]{})
	payments := streams.From(b, "payments", streams.Consumed[string, string]{})
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	joined := streams.LeftJoinStreams(orders, payments, func(o, p string, found bool) string {
		if !found {
			return "unpaid " + o
		}
		return "paid " + o
	}, streams.JoinWindows{After: 5 * time.Minute}, streams.StreamJoined[string, string, string]{})
	finals := streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}), streams.TimeWindows{Size: time.Minute}).
		Count(streams.Materialized[string, int64]{Name: "counts"}).
		Suppress(streams.UntilWindowCloses(streams.BufferConfig{}))
	streams.Map(finals.ToStream(), func(w streams.Windowed[string], n int64) (string, string) {
		return w.Key, fmt.Sprintf("final %d", n)
	}).Merge(joined, other).To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pipe := func(topic, k, v string, at time.Duration) {
		t.Helper()
		if err := streamstest.NewInputTopic[string, string](d, topic, nil, nil, t0, 0).PipeAt(k, v, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	pipe("orders", "o1", "10s", 10*time.Second)
	pipe("clicks", "ann", "click", time.Second)
	pipe("other", "x", "far ahead", time.Hour)
	pipe("payments", "o1", "20s", 20*time.Second)
	pipe("clicks", "ann", "click", 2*time.Second)
	pipe("clicks", "ann", "click", 2*time.Minute) // closes [0, 1m)
	out, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != fmt.Sprint([]streams.KeyValue[string, string]{{Key: "x", Value: "far ahead"}, {Key: "o1", Value: "paid 10s"}, {Key: "ann", Value: "final 2"}}) ||
		d.LateRecordsDropped() != 0 {
		t.Errorf("out %v, %d late; want x, o1 paid, ann's final count 2, none late", out, d.LateRecordsDropped())
	}
}
