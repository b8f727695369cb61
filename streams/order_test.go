package streams_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
)

// A stream-stream join with no grace over a preloaded backlog, all of the
// left topic written before any of the right: the app processes each
// task's records in timestamp order across both topics, so no record is
// late, and the output equals a direct computation.
func TestAppJoinBacklogInTimestampOrder(t *testing.T) {
	for _, buffered := range []int{0, 100} {
		t.Run(fmt.Sprintf("buffered=%d", buffered), func(t *testing.T) {
			testJoinBacklog(t, buffered)
		})
	}
}

func testJoinBacklog(t *testing.T, buffered int) {
	addr := startBroker(t)
	const partitions, n, keys = 4, 20_000, 20
	createTopics(t, addr, partitions, "left", "right", "joined")

	// Timestamps 7ms apart, so no pair is exactly at the window's edge.
	base := time.UnixMilli(1_700_000_000_000)
	type rec struct {
		left bool
		key  string
		id   int
		ts   time.Time
	}
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]rec, n)
	var left, right []kv
	var tsL, tsR []time.Time
	for i := range recs {
		r := rec{left: rng.IntN(2) == 0, key: fmt.Sprintf("k%d", rng.IntN(keys)), id: i, ts: base.Add(time.Duration(i) * 7 * time.Millisecond)}
		recs[i] = r
		if r.left {
			left = append(left, kv{[]byte(r.key), []byte(fmt.Sprint("L", i))})
			tsL = append(tsL, r.ts)
		} else {
			right = append(right, kv{[]byte(r.key), []byte(fmt.Sprint("R", i))})
			tsR = append(tsR, r.ts)
		}
	}
	produceAt(t, addr, "left", left, tsL)
	produceAt(t, addr, "right", right, tsR)

	const window = 50 * time.Millisecond
	want := map[string]int{}
	for i, a := range recs {
		if !a.left {
			continue
		}
		for _, b := range recs[max(0, i-10):min(n, i+11)] {
			if !b.left && b.key == a.key && a.ts.Sub(b.ts).Abs() <= window {
				want[fmt.Sprintf("%s:L%d+R%d", a.key, a.id, b.id)]++
			}
		}
	}

	b := streams.NewBuilder()
	l := streams.From(b, "left", streams.Consumed[string, string]{})
	r := streams.From(b, "right", streams.Consumed[string, string]{})
	streams.JoinStreams(l, r, func(a, b string) string { return a + "+" + b },
		streams.JoinWindows{Before: window, After: window}, streams.StreamJoined[string, string, string]{Name: "j"}).
		To("joined", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, stop := runApp(t, top, streams.Config{ApplicationID: "join-backlog", Brokers: []string{addr}, BufferedRecordsPerPartition: buffered})
	deadline := time.Now().Add(60 * time.Second)
	for app.Processed() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if app.Processed() < n {
		t.Fatalf("processed %d of %d records", app.Processed(), n)
	}
	if late := app.LateRecordsDropped(); late != 0 {
		t.Errorf("%d records dropped as late", late)
	}
	got := map[string]int{}
	for _, m := range consumeToEnd(t, addr, "joined") {
		got[string(m.Key)+":"+string(m.Value)]++
	}
	var missing, extra []string
	for k, c := range want {
		if got[k] < c {
			missing = append(missing, k)
		}
	}
	for k, c := range got {
		if c > want[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%d joined records, want %d; %d missing (%s), %d extra or duplicated (%s)",
			len(got), len(want), len(missing), head(missing), len(extra), head(extra))
	}
	t.Logf("%d records, %d joined", n, len(want))
}

func head(s []string) string {
	if len(s) > 5 {
		s = s[:5]
	}
	return strings.Join(s, " ")
}

// produceAt is produce with record timestamps.
func produceAt(t testing.TB, addr, topic string, recs []kv, ts []time.Time) {
	t.Helper()
	c := saramaConfig()
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	client, err := sarama.NewClient([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.k), Value: sarama.ByteEncoder(r.v),
			Partition: streams.DefaultPartition(r.k, int32(len(ps))), Timestamp: ts[i]}
	}
	for len(msgs) > 0 {
		k := min(len(msgs), 1000)
		if err := p.SendMessages(msgs[:k]); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[k:]
	}
}
