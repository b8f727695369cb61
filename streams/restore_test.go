package streams_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// A task whose restoration does not finish holds up neither the group nor
// the instance's other tasks, and stopping the app cancels it. Partition 0
// of the word counts' changelog ends with a transaction marker, which
// consumers never see: restoring task 1_0 waits for it (until the
// restorer's 30s idle timeout, which the test does not reach), while task
// 1_1 counts its words.
func TestAppRestoresBesideProcessing(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 2, "text", "word-counts")
	changelog := "stall-counts-changelog"
	adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	compact := "compact"
	if err := adm.CreateTopic(changelog, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false); err != nil {
		t.Fatal(err)
	}
	adm.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("stall"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	one, _ := state.Long{}.Encode(1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: changelog, Partition: 0, Key: []byte("zzz"), Value: one}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// Words counted by task 1_0 (stuck) and by task 1_1.
	var stuck, free []string
	for _, w := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"} {
		if streams.DefaultPartition([]byte(w), 2) == 0 {
			stuck = append(stuck, w)
		} else {
			free = append(free, w)
		}
	}
	if len(stuck) == 0 || len(free) == 0 {
		t.Fatalf("words on partition 0: %v, on 1: %v", stuck, free)
	}
	var lines []kv
	for i, w := range append(append([]string{}, stuck...), free...) {
		lines = append(lines, kv{[]byte{byte(i)}, []byte(w)})
	}
	produce(t, addr, "text", lines)

	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	_, stop := runApp(t, testapps.WordCount(), streams.Config{ApplicationID: "stall", Brokers: []string{addr}, Registerer: reg})
	want := map[string]int64{}
	for _, w := range free {
		want[w] = 1
	}
	consumeAll(t, addr, "word-counts", 60*time.Second, reached(want))
	// Task 1_0 is still restoring, one offset short of the end, and has
	// counted nothing.
	restoring := map[string]string{"application_id": "stall", "task": "1_0", "store": "counts"}
	awaitMetrics(t, srv.URL, "task 1_0 restoring", func(f map[string]*dto.MetricFamily) bool {
		return sample(f, streams.MetricRestoreRemainingRecords, restoring) == 1
	})
	for _, m := range consumeToEnd(t, addr, "word-counts") {
		for _, w := range stuck {
			if string(m.Key) == w {
				t.Errorf("%s counted by a task still restoring", w)
			}
		}
	}
	// Stopping cancels the restoration; Run returns no error (runApp's stop
	// checks).
	stop()
}
