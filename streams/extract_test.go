package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// awaitProcessed waits until app has processed n records (or fails).
func awaitProcessed(t *testing.T, app *streams.App, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); app.Processed() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("processed %d of %d records", app.Processed(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// durationTime is an extractor: base plus the duration the value spells
// (the zero time, invalid, when it spells none).
func durationTime(r streams.Record[string, string]) time.Time {
	d, err := time.ParseDuration(r.Value)
	if err != nil {
		return time.Time{}
	}
	return base.Add(d)
}

// The runtime chooses between the heads of a task's partitions by their
// extracted timestamps, not their Kafka timestamps: the payment (Kafka
// timestamp later than both orders, extracted 20s) is processed before the
// order extracted at 1h, so the order at 10s is paid, and its window is
// not closed by the order at 1h first.
func TestAppOrdersRecordsByExtractedTimestamps(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 1, "orders", "payments", "joined")
	b := streams.NewBuilder()
	orders := streams.From(b, "orders", streams.Consumed[string, string]{Timestamp: durationTime})
	payments := streams.From(b, "payments", streams.Consumed[string, string]{Timestamp: durationTime})
	streams.LeftJoinStreams(orders, payments, func(o, p string, found bool) string {
		if !found {
			return "unpaid " + o
		}
		return "paid " + o
	}, streams.JoinWindows{After: 5 * time.Minute}, streams.StreamJoined[string, string, string]{}).To("joined", streams.Produced[string, string]{})
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
	kt := time.Now()
	if err := p.SendMessages([]*sarama.ProducerMessage{
		{Topic: "orders", Key: sarama.StringEncoder("o1"), Value: sarama.StringEncoder("10s"), Timestamp: kt},
		{Topic: "orders", Key: sarama.StringEncoder("end"), Value: sarama.StringEncoder("1h"), Timestamp: kt},
		{Topic: "payments", Key: sarama.StringEncoder("o1"), Value: sarama.StringEncoder("20s"), Timestamp: kt.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	app, stop := runApp(t, top, streams.Config{ApplicationID: "order-by-extracted", Brokers: []string{addr}})
	awaitProcessed(t, app, 3)
	stop()
	out := consumeToEnd(t, addr, "joined")
	var got []string
	for _, m := range out {
		got = append(got, string(m.Value))
	}
	if len(out) != 1 || string(out[0].Value) != "paid 10s" || app.LateRecordsDropped() != 0 {
		t.Errorf("joined %q, late %d; want one \"paid 10s\", 0 late", got, app.LateRecordsDropped())
	}
}

// A record whose extractor gives an invalid time (before 1970), or that
// cannot be decoded, is chosen and handled by the error policy: here it
// goes to the dead-letter topic, and the records after it are processed
// in extracted-timestamp order.
func TestAppInvalidExtractedTimestampFollowsErrorPolicy(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 1, "in", "out", "dlq")
	b := streams.NewBuilder()
	streams.From(b, "in", streams.Consumed[string, string]{Timestamp: durationTime}).
		To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	produce(t, addr, "in", []kv{{[]byte("a"), []byte("1s")}, {[]byte("b"), []byte("never")}, {[]byte("c"), []byte("2s")}})
	app, stop := runApp(t, top, streams.Config{ApplicationID: "bad-extracted", Brokers: []string{addr},
		OnDeserializationError: streams.DeadLetter, DeadLetterTopic: "dlq"})
	awaitProcessed(t, app, 3)
	stop()
	var outs []string
	for _, m := range consumeToEnd(t, addr, "out") {
		outs = append(outs, string(m.Key)+"@"+m.Timestamp.Sub(base).String())
	}
	if strings.Join(outs, " ") != "a@1s c@2s" {
		t.Errorf("out %q; want a@1s c@2s", outs)
	}
	dead := consumeToEnd(t, addr, "dlq")
	if len(dead) != 1 || string(dead[0].Key) != "b" {
		t.Fatalf("dead letters %d; want the record b", len(dead))
	}
	hs := map[string]string{}
	for _, h := range dead[0].Headers {
		hs[string(h.Key)] = string(h.Value)
	}
	if hs["eddy.offset"] != "1" || !strings.Contains(hs["eddy.error"], "invalid timestamp") {
		t.Errorf("dead letter headers %v", hs)
	}
}

// The test driver uses the extracted timestamps for stream time, and
// applies the error policy to an invalid one.
func TestDriverExtractedTimestamps(t *testing.T) {
	build := func() *streams.Topology {
		b := streams.NewBuilder()
		streams.From(b, "in", streams.Consumed[string, string]{Timestamp: durationTime}).
			To("out", streams.Produced[string, string]{})
		top, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return top
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	d, err := streamstest.New(build(), streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streamstest.NewInputTopic[string, string](d, "in", nil, nil, t0, 0)
	if err := in.Pipe("a", "1m"); err != nil {
		t.Fatal(err)
	}
	if got := d.StreamTime(); !got.Equal(base.Add(time.Minute)) {
		t.Errorf("stream time %v; want the extracted %v", got, base.Add(time.Minute))
	}
	if err := in.Pipe("b", "never"); err == nil || !strings.Contains(err.Error(), "invalid timestamp") {
		t.Errorf("invalid extracted time with LogAndFail: %v", err)
	}

	d2, err := streamstest.New(build(), streamstest.Config{OnDeserializationError: streams.LogAndContinue})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	in2 := streamstest.NewInputTopic[string, string](d2, "in", nil, nil, t0, 0)
	for _, v := range []string{"never", "2m"} {
		if err := in2.Pipe("k", v); err != nil {
			t.Fatalf("pipe %s with LogAndContinue: %v", v, err)
		}
	}
	out, err := streamstest.NewOutputTopic[string, string](d2, "out", nil, nil).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Value != "2m" || !out[0].Timestamp.Equal(base.Add(2*time.Minute)) {
		t.Errorf("out %v; want only 2m at its extracted time", out)
	}
}

// A table's deletion, whose zero value gives the extractor no time, takes
// its Kafka timestamp instead of failing; an update with an invalid time
// still fails (LogAndFail).
func TestDriverTableTombstoneWithExtractor(t *testing.T) {
	b := streams.NewBuilder()
	streams.TableFrom(b, "users", streams.Consumed[string, string]{Timestamp: durationTime},
		streams.Materialized[string, string]{Name: "users"})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	kt := base.Add(time.Hour)
	in := streamstest.NewInputTopic[string, string](d, "users", nil, nil, kt, 0)
	if err := in.Pipe("ann", "1m"); err != nil {
		t.Fatal(err)
	}
	if err := in.PipeTombstone("ann"); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	users, err := streamstest.KeyValueStore[string, string](d, "users")
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := users.Get("ann"); err != nil || found {
		t.Errorf("ann found %v (%v) after the deletion", found, err)
	}
	if got := d.StreamTime(); !got.Equal(kt) {
		t.Errorf("stream time %v; want the deletion's Kafka timestamp %v", got, kt)
	}
	if err := in.Pipe("bob", "never"); err == nil || !strings.Contains(err.Error(), "invalid timestamp") {
		t.Errorf("update with an invalid time: %v", err)
	}
}
