package streams_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// PageViewsPerMinute counts page views per page and minute of event time
// and writes only each minute's final count (suppressed until the window
// closes, ten seconds of grace).
func pageViewsPerMinute() *streams.Topology {
	b := streams.NewBuilder()
	views := streams.From(b, "page-views", streams.Consumed[string, string]{})
	streams.WindowedBy(views.GroupByKey(streams.Grouped[string, string]{}),
		streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}).
		Count(streams.Materialized[string, int64]{Name: "views-per-minute"}).
		Suppress(streams.UntilWindowCloses(streams.BufferConfig{})).
		ToStream().To("page-views-per-minute", streams.Produced[streams.Windowed[string], int64]{})
	top, err := b.Build()
	if err != nil {
		panic(err)
	}
	return top
}

// The windowed page-views-per-minute job on the embedded broker: its
// output equals a direct computation over the generated input.
func TestAppPageViewsPerMinute(t *testing.T) {
	addr := startBroker(t)
	const partitions = 3
	createTopics(t, addr, partitions, "page-views", "page-views-per-minute")

	// Five minutes of views of 20 pages, up to 5s out of order (within the
	// grace period, so none is late), then a record far ahead on every
	// partition to close every window.
	rng := rand.New(rand.NewPCG(1, 2))
	type win struct {
		page  string
		start int64
	}
	want := map[win]int64{}
	var msgs []*sarama.ProducerMessage
	msg := func(page string, ts time.Time) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: "page-views", Key: sarama.StringEncoder(page), Value: sarama.StringEncoder("/" + page),
			Timestamp: ts, Partition: streams.DefaultPartition([]byte(page), partitions)}
	}
	for i := range 3000 {
		page := fmt.Sprintf("page-%d", rng.IntN(20))
		ts := base.Add(time.Duration(i)*100*time.Millisecond - time.Duration(rng.IntN(5000))*time.Millisecond)
		msgs = append(msgs, msg(page, ts))
		start := ts.UnixMilli() - ts.UnixMilli()%60000
		want[win{page, start}]++
	}
	flushed := map[int32]bool{}
	for i := 0; len(flushed) < partitions; i++ {
		k := fmt.Sprintf("flush-%d", i)
		if p := streams.DefaultPartition([]byte(k), partitions); !flushed[p] {
			flushed[p] = true
			msgs = append(msgs, msg(k, base.Add(time.Hour)))
		}
	}
	c := saramaConfig()
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	p.Close()

	start := time.Now()
	app, stop := runApp(t, pageViewsPerMinute(), streams.Config{ApplicationID: "pv", Brokers: []string{addr}})
	enough := func(got []*sarama.ConsumerMessage) bool { return len(got) >= len(want) }
	consumeAll(t, addr, "page-views-per-minute", 60*time.Second, enough)
	stop()
	// Read everything again once the app has stopped: a duplicate would
	// show now.
	out := consumeToEnd(t, addr, "page-views-per-minute")
	keys := streams.TimeWindowedSerde[string](state.String{}, time.Minute)
	got := map[win]int64{}
	for _, m := range out {
		k, err := keys.Decode(m.Key)
		if err != nil {
			t.Fatal(err)
		}
		n, err := state.Long{}.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		w := win{k.Key, k.Start.UnixMilli()}
		if _, dup := got[w]; dup {
			t.Errorf("%v emitted twice", w)
		}
		got[w] = n
		if !m.Timestamp.Before(k.End) || m.Timestamp.Before(k.Start) {
			t.Errorf("%v: timestamp %v outside the window", w, m.Timestamp)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d windows, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%s at %v: %d views, want %d", w.page, time.UnixMilli(w.start).UTC(), got[w], n)
		}
	}
	if app.LateRecordsDropped() != 0 {
		t.Errorf("%d late records", app.LateRecordsDropped())
	}
	t.Logf("%d views, %d final counts in %v", len(msgs), len(out), time.Since(start))
}
