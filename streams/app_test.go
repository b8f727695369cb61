package streams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

func quiet() *slog.Logger {
	if os.Getenv("STREAMS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startBroker(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, Logger: quiet()})
	if err != nil {
		cancel()
		t.Skipf("embedded broker not usable: %v", err)
	}
	t.Cleanup(func() { b.Close(); cancel() })
	return b.Addr()
}

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Producer.Idempotent = false
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	// A member that dies during a rebalance holds the group up for this
	// long (sarama's default is a minute).
	c.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Metadata.RefreshFrequency = time.Second
	return c
}

func createTopics(t testing.TB, addr string, partitions int32, topics ...string) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, topic := range topics {
		if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
}

type kv struct {
	k, v []byte
}

// produce writes records, partitioned like the streams runtime partitions
// (streams.DefaultPartition), so that co-partitioned topics agree.
func produce(t testing.TB, addr, topic string, recs []kv) {
	t.Helper()
	if err := produceErr(addr, topic, recs); err != nil {
		t.Fatal(err)
	}
}

func produceErr(addr, topic string, recs []kv) error {
	c := saramaConfig()
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	client, err := sarama.NewClient([]string{addr}, c)
	if err != nil {
		return err
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil {
		return err
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.k), Partition: streams.DefaultPartition(r.k, int32(len(ps)))}
		if r.v != nil {
			m.Value = sarama.ByteEncoder(r.v)
		}
		msgs[i] = m
	}
	for len(msgs) > 0 {
		n := min(len(msgs), 1000)
		if err := p.SendMessages(msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// consumeAll reads topic from the start until done says stop or timeout.
func consumeAll(t testing.TB, addr, topic string, timeout time.Duration, done func([]*sarama.ConsumerMessage) bool) []*sarama.ConsumerMessage {
	t.Helper()
	c := saramaConfig()
	cons, err := sarama.NewConsumer([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ps, err := cons.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *sarama.ConsumerMessage, 1024)
	var pcs []sarama.PartitionConsumer
	for _, p := range ps {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				ch <- m
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	var got []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	for !done(got) {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("topic %s: timed out after %d records", topic, len(got))
		}
		// Take what is there before calling done again: done may look at
		// every record.
		for more := true; more; {
			select {
			case m := <-ch:
				got = append(got, m)
			default:
				more = false
			}
		}
	}
	return got
}

// runApp runs an app in the background until the test ends.
func runApp(t testing.TB, top *streams.Topology, cfg streams.Config) (*streams.App, context.CancelFunc) {
	t.Helper()
	if cfg.Sarama == nil {
		cfg.Sarama = saramaConfig()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 200 * time.Millisecond
	}
	app, err := streams.NewApp(top, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("app.Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("app.Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return app, stop
}

func words(n int) ([]kv, map[string]int64) {
	vocab := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"}
	want := map[string]int64{}
	var lines []kv
	for i := 0; i < n; i++ {
		var ws []string
		for j := 0; j < 1+i%4; j++ {
			w := vocab[(i*7+j*3)%len(vocab)]
			ws = append(ws, w)
			want[w]++
		}
		lines = append(lines, kv{[]byte(fmt.Sprint("line", i)), []byte(strings.Join(ws, " "))})
	}
	return lines, want
}

// latestCounts folds word-count outputs into the last count per word; it
// also checks that each word's counts increase one by one.
func latestCounts(t testing.TB, msgs []*sarama.ConsumerMessage, strict bool) map[string]int64 {
	got := map[string]int64{}
	for _, m := range msgs {
		n, err := streams.DefaultSerde[int64]().Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		w := string(m.Key)
		if strict && n != got[w]+1 {
			t.Fatalf("word %q: count %d after %d", w, n, got[w])
		}
		got[w] = max(got[w], n)
	}
	return got
}

func reached(want map[string]int64) func([]*sarama.ConsumerMessage) bool {
	return func(msgs []*sarama.ConsumerMessage) bool {
		got := map[string]int64{}
		for _, m := range msgs {
			n, _ := streams.DefaultSerde[int64]().Decode(m.Value)
			got[string(m.Key)] = max(got[string(m.Key)], n)
		}
		for w, n := range want {
			if got[w] < n {
				return false
			}
		}
		return true
	}
}

func TestAppWordCount(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 4, "text", "word-counts")
	lines, want := words(400)
	produce(t, addr, "text", lines)
	start := time.Now()
	app, stop := runApp(t, testapps.WordCount(), streams.Config{ApplicationID: "wc", Brokers: []string{addr}})
	msgs := consumeAll(t, addr, "word-counts", 60*time.Second, reached(want))
	stop()
	got := latestCounts(t, msgs, true)
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%s: %d, want %d", w, got[w], n)
		}
	}
	t.Logf("%d lines, %d counts in %v; %d records processed, %d commits", len(lines), len(msgs), time.Since(start), app.Processed(), app.Commits())

	// Internal topics exist with the right partition counts and policies.
	client, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, topic := range []string{"wc-words-repartition", "wc-counts-changelog"} {
		ps, err := client.Partitions(topic)
		if err != nil || len(ps) != 4 {
			t.Errorf("%s: partitions %v, %v", topic, ps, err)
		}
	}
	// The changelog holds the counts.
	cl := consumeAll(t, addr, "wc-counts-changelog", 10*time.Second, reached(want))
	if len(cl) == 0 {
		t.Fatal("empty changelog")
	}
}

func TestAppEnrichmentTwoInstances(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 3, "customers", "orders", "enriched-orders", "country-totals")
	enc := func(v any) []byte {
		switch v := v.(type) {
		case testapps.Customer:
			b, _ := streams.DefaultSerde[testapps.Customer]().Encode(v)
			return b
		case testapps.Order:
			b, _ := streams.DefaultSerde[testapps.Order]().Encode(v)
			return b
		}
		panic(v)
	}
	countries := []string{"UK", "US", "FR", "DE"}
	var customers []kv
	for i := 0; i < 20; i++ {
		customers = append(customers, kv{[]byte(fmt.Sprint("c", i)), enc(testapps.Customer{Name: fmt.Sprint("name", i), Country: countries[i%4]})})
	}
	produce(t, addr, "customers", customers)
	top := testapps.Enrichment()
	runApp(t, top, streams.Config{ApplicationID: "enrich", Brokers: []string{addr}})
	runApp(t, top, streams.Config{ApplicationID: "enrich", Brokers: []string{addr}})
	// Wait until the customers table is loaded: a probe order of the last
	// customer comes out enriched.
	produce(t, addr, "orders", []kv{{[]byte("probe"), enc(testapps.Order{Customer: "c19", Amount: 0})}})
	consumeAll(t, addr, "enriched-orders", 60*time.Second, func(ms []*sarama.ConsumerMessage) bool {
		for _, m := range ms {
			e, _ := streams.DefaultSerde[testapps.Enriched]().Decode(m.Value)
			if e.Name == "name19" {
				return true
			}
		}
		return false
	})
	var orders []kv
	wantTotals := map[string]int64{"DE": 0} // c19 is in DE
	for i := 0; i < 300; i++ {
		c := i % 25 // c20..c24 are unknown
		amount := int64(i)
		orders = append(orders, kv{[]byte(fmt.Sprint("o", i)), enc(testapps.Order{Customer: fmt.Sprint("c", c), Amount: amount})})
		country := "?"
		if c < 20 {
			country = countries[c%4]
		}
		wantTotals[country] += amount
	}
	produce(t, addr, "orders", orders)
	msgs := consumeAll(t, addr, "country-totals", 60*time.Second, reached(wantTotals))
	got := latestCounts(t, msgs, false)
	if fmt.Sprint(got) != fmt.Sprint(wantTotals) {
		t.Fatalf("totals %v, want %v", got, wantTotals)
	}
	enriched := consumeAll(t, addr, "enriched-orders", 10*time.Second, func(ms []*sarama.ConsumerMessage) bool { return len(ms) >= 301 })
	names := map[string]int{}
	for _, m := range enriched {
		e, _ := streams.DefaultSerde[testapps.Enriched]().Decode(m.Value)
		if string(m.Key) != e.Customer {
			t.Fatalf("enriched record keyed %q for customer %q", m.Key, e.Customer)
		}
		names[e.Name]++
	}
	if names["?"] != 60 || names["name3"] != 12 {
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("enriched names %v", names)
	}
}

// consumeToEnd reads every record of topic up to its current end.
func consumeToEnd(t testing.TB, addr, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	client, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	total := 0
	for _, p := range ps {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = end
		total += int(end)
	}
	return consumeAll(t, addr, topic, 30*time.Second, func(ms []*sarama.ConsumerMessage) bool {
		return len(ms) >= total
	})
}
