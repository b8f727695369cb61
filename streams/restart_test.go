package streams_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// clicksPerMinuteAndSession counts clicks per page in 1-minute windows and
// in sessions (2s gap), both with 10s of grace and suppressed until their
// windows close: one final count per window.
func clicksPerMinuteAndSession() *streams.Topology {
	b := streams.NewBuilder()
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}),
		streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}).
		Count(streams.Materialized[string, int64]{Name: "per-minute"}).
		Suppress(streams.Suppressed{UntilWindowCloses: true, Name: "minutes-final"}).
		ToStream().To("clicks-per-minute", streams.Produced[streams.Windowed[string], int64]{})
	streams.WindowedBySession(clicks.GroupByKey(streams.Grouped[string, string]{}),
		streams.SessionWindows{Gap: 2 * time.Second, Grace: 10 * time.Second}).
		Count(streams.Materialized[string, int64]{Name: "per-session"}).
		Suppress(streams.Suppressed{UntilWindowCloses: true, Name: "sessions-final"}).
		ToStream().To("clicks-per-session", streams.Produced[streams.Windowed[string], int64]{})
	top, err := b.Build()
	if err != nil {
		panic(err)
	}
	return top
}

// A windowed and a session count, both suppressed, survive two restarts in
// the middle of their input: the first instance stops with windows open in
// its window and session stores and updates held in its suppression
// buffers; the second starts with no local state (in-memory stores,
// restored in full from the changelogs); the third reuses the first one's
// state directory (its checkpoints, then the changelog records the second
// wrote). Every window is emitted exactly once, with the exact count, and
// a record that was late before a restart is late after it.
func TestAppWindowsSurviveRestarts(t *testing.T) {
	addr := startBroker(t)
	const partitions = 2
	createTopics(t, addr, partitions, "clicks", "clicks-per-minute", "clicks-per-session")

	// Four minutes of clicks on 20 pages, up to 3s out of order (within
	// the grace period: none is late).
	rng := rand.New(rand.NewPCG(3, 4))
	msg := func(page string, ts time.Time) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: "clicks", Key: sarama.StringEncoder(page), Value: sarama.StringEncoder("/"),
			Timestamp: ts, Partition: streams.DefaultPartition([]byte(page), partitions)}
	}
	var msgs []*sarama.ProducerMessage
	times := map[string][]int64{}
	for i := range 2400 {
		page := fmt.Sprintf("page-%d", rng.IntN(20))
		ts := base.Add(time.Duration(i)*100*time.Millisecond - time.Duration(rng.IntN(3000))*time.Millisecond)
		msgs = append(msgs, msg(page, ts))
		times[page] = append(times[page], ts.UnixMilli())
	}
	type win struct {
		page       string
		start, end int64
	}
	wantMinutes, wantSessions := map[win]int64{}, map[win]int64{}
	for page, ts := range times {
		for _, t := range ts {
			start := t - t%60000
			wantMinutes[win{page, start, start + 60000}]++
		}
		slices.Sort(ts)
		s := win{page, ts[0], ts[0]}
		n := int64(0)
		for _, t := range ts {
			if t-s.end > 2000 {
				wantSessions[s] = n
				s, n = win{page, t, t}, 0
			}
			s.end = t
			n++
		}
		wantSessions[s] = n
	}
	// A record an hour later on every partition closes every window.
	var flush []*sarama.ProducerMessage
	flushed := map[int32]bool{}
	for i := 0; len(flushed) < partitions; i++ {
		k := fmt.Sprintf("flush-%d", i)
		if p := streams.DefaultPartition([]byte(k), partitions); !flushed[p] {
			flushed[p] = true
			flush = append(flush, msg(k, base.Add(time.Hour)))
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
	defer p.Close()
	send := func(ms []*sarama.ProducerMessage) {
		t.Helper()
		if err := p.SendMessages(ms); err != nil {
			t.Fatal(err)
		}
	}
	// await waits until app has processed n records.
	await := func(app *streams.App, n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for app.Processed() < int64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("processed %d of %d records", app.Processed(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if app.Processed() != int64(n) {
			t.Fatalf("processed %d records, want %d", app.Processed(), n)
		}
	}
	top := clicksPerMinuteAndSession()
	cfg := func(dir string, inMemory bool) streams.Config {
		return streams.Config{ApplicationID: "restarts", Brokers: []string{addr}, StateDir: dir, InMemoryStores: inMemory}
	}
	dirA := t.TempDir()
	third := len(msgs) / 3

	send(msgs[:third])
	a, stopA := runApp(t, top, cfg(dirA, false))
	await(a, third)
	stopA()

	// A click in the first minute, which closed (with its sessions) long
	// before the first instance stopped: late, although the second
	// instance has seen nothing before it, since stream time is committed
	// with the offsets.
	send(append([]*sarama.ProducerMessage{msg("page-0", base)}, msgs[third:2*third]...))
	b, stopB := runApp(t, top, cfg(t.TempDir(), true))
	await(b, 2*third-third+1)
	stopB()

	send(append(msgs[2*third:], flush...))
	c3, stopC := runApp(t, top, cfg(dirA, false))
	await(c3, len(msgs)-2*third+len(flush))
	stopC()
	for i, app := range []*streams.App{a, b, c3} {
		want := int64(0)
		if app == b {
			want = 2 // by the windowed count and by the session count
		}
		if app.LateRecordsDropped() != want {
			t.Errorf("instance %d: %d late records, want %d", i+1, app.LateRecordsDropped(), want)
		}
	}

	check := func(topic string, keys state.Serde[streams.Windowed[string]], want map[win]int64) {
		t.Helper()
		got := map[win]int64{}
		for _, m := range consumeToEnd(t, addr, topic) {
			k, err := keys.Decode(m.Key)
			if err != nil {
				t.Fatal(err)
			}
			n, err := state.Long{}.Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			w := win{k.Key, k.Start.UnixMilli(), k.End.UnixMilli()}
			if _, dup := got[w]; dup {
				t.Errorf("%s: %v emitted twice", topic, w)
			}
			got[w] = n
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d windows, want %d", topic, len(got), len(want))
		}
		for w, n := range want {
			if got[w] != n {
				t.Errorf("%s: %s [%d, %d]: %d, want %d", topic, w.page, w.start, w.end, got[w], n)
			}
		}
	}
	check("clicks-per-minute", streams.TimeWindowedSerde[string](state.String{}, time.Minute), wantMinutes)
	check("clicks-per-session", streams.SessionWindowedSerde[string](state.String{}), wantSessions)
	t.Logf("%d clicks, %d minute windows, %d sessions", len(msgs), len(wantMinutes), len(wantSessions))
}

// An outer stream-stream join survives the same two restarts: every pair
// within the window comes out once, and every record that joined nothing
// comes out once, alone, after its window closed, although the windows of
// many of them span a restart.
func TestAppOuterJoinSurvivesRestarts(t *testing.T) {
	addr := startBroker(t)
	const partitions, n, keys = 2, 1500, 10
	createTopics(t, addr, partitions, "left", "right", "joined")
	const window = 50 * time.Millisecond
	type rec struct {
		left bool
		key  string
		id   int
		ts   time.Time
	}
	rng := rand.New(rand.NewPCG(5, 6))
	recs := make([]rec, n)
	for i := range recs {
		// 7ms apart: no pair is exactly at the window's edge.
		recs[i] = rec{left: rng.IntN(2) == 0, key: fmt.Sprintf("k%d", rng.IntN(keys)), id: i, ts: base.Add(time.Duration(i) * 7 * time.Millisecond)}
	}
	want := map[string]int{}
	joined := map[int]bool{}
	for i, a := range recs {
		if !a.left {
			continue
		}
		for _, b := range recs[max(0, i-10):min(n, i+11)] {
			if !b.left && b.key == a.key && a.ts.Sub(b.ts).Abs() <= window {
				want[fmt.Sprintf("%s:L%d+R%d", a.key, a.id, b.id)]++
				joined[a.id], joined[b.id] = true, true
			}
		}
	}
	for _, r := range recs {
		if joined[r.id] {
			continue
		}
		if r.left {
			want[fmt.Sprintf("%s:L%d+none", r.key, r.id)]++
		} else {
			want[fmt.Sprintf("%s:none+R%d", r.key, r.id)]++
		}
	}
	send := func(rs []rec) {
		t.Helper()
		var left, right []kv
		var tsL, tsR []time.Time
		for _, r := range rs {
			if r.left {
				left = append(left, kv{[]byte(r.key), []byte(fmt.Sprint("L", r.id))})
				tsL = append(tsL, r.ts)
			} else {
				right = append(right, kv{[]byte(r.key), []byte(fmt.Sprint("R", r.id))})
				tsR = append(tsR, r.ts)
			}
		}
		produceAt(t, addr, "left", left, tsL)
		produceAt(t, addr, "right", right, tsR)
	}
	b := streams.NewBuilder()
	l := streams.From(b, "left", streams.Consumed[string, string]{})
	r := streams.From(b, "right", streams.Consumed[string, string]{})
	streams.OuterJoinStreams(l, r, func(a string, okA bool, b string, okB bool) string {
		if !okA {
			a = "none"
		}
		if !okB {
			b = "none"
		}
		return a + "+" + b
	}, streams.JoinWindows{Before: window, After: window}, streams.StreamJoined[string, string, string]{Name: "j"}).
		To("joined", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	await := func(app *streams.App, n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for app.Processed() < int64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("processed %d of %d records", app.Processed(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cfg := func(dir string, inMemory bool) streams.Config {
		return streams.Config{ApplicationID: "join-restarts", Brokers: []string{addr}, StateDir: dir, InMemoryStores: inMemory}
	}
	dirA := t.TempDir()
	third := n / 3
	send(recs[:third])
	a, stopA := runApp(t, top, cfg(dirA, false))
	await(a, third)
	stopA()
	send(recs[third : 2*third])
	bApp, stopB := runApp(t, top, cfg(t.TempDir(), true))
	await(bApp, third)
	stopB()
	// Records a second later on both topics and every partition close every
	// window; they stay open themselves and are left out of the check.
	var flush []rec
	for p := range int32(partitions) {
		for i := 0; ; i++ {
			k := fmt.Sprintf("flush-%d", i)
			if streams.DefaultPartition([]byte(k), partitions) == p {
				at := recs[n-1].ts.Add(time.Second)
				flush = append(flush, rec{left: true, key: k, id: -1, ts: at}, rec{left: false, key: k, id: -2, ts: at})
				break
			}
		}
	}
	send(append(recs[2*third:], flush...))
	c3, stopC := runApp(t, top, cfg(dirA, false))
	await(c3, n-2*third+len(flush))
	stopC()
	for i, app := range []*streams.App{a, bApp, c3} {
		if late := app.LateRecordsDropped(); late != 0 {
			t.Errorf("instance %d dropped %d late records", i+1, late)
		}
	}
	got := map[string]int{}
	for _, m := range consumeToEnd(t, addr, "joined") {
		if strings.HasPrefix(string(m.Key), "flush-") {
			continue
		}
		got[string(m.Key)+":"+string(m.Value)]++
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("%s: %d times, want %d", k, got[k], c)
		}
	}
	for k, c := range got {
		if want[k] == 0 {
			t.Errorf("%s: %d times, want none", k, c)
		}
	}
	t.Logf("%d records, %d outputs", n, len(want))
}
