package streams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// An app describes itself in StreamsAppsTopic when it starts, and again
// when a second instance joins.
func TestAppPublishesDescription(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 2, "text", "word-counts")
	began := time.Now()
	top := testapps.WordCount()
	runApp(t, top, streams.Config{ApplicationID: "wc-pub", Brokers: []string{addr}})

	// descriptions decodes the app's records; it fails the test on a
	// record that is not an AppDescription.
	descriptions := func(ms []*sarama.ConsumerMessage) []streams.AppDescription {
		var out []streams.AppDescription
		for _, m := range ms {
			if string(m.Key) != "wc-pub" {
				continue
			}
			var d streams.AppDescription
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatalf("value %q: %v", m.Value, err)
			}
			out = append(out, d)
		}
		return out
	}
	withInstances := func(n int) func([]*sarama.ConsumerMessage) bool {
		return func(ms []*sarama.ConsumerMessage) bool {
			for _, d := range descriptions(ms) {
				if d.Instances == n {
					return true
				}
			}
			return false
		}
	}
	// Wait until the app has created the topic (a consumer asking for it
	// earlier would have the broker create it with default settings).
	adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		topics, err := adm.ListTopics()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := topics[streams.StreamsAppsTopic]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not create %s", streams.StreamsAppsTopic)
		}
	}
	ms := consumeAll(t, addr, streams.StreamsAppsTopic, 60*time.Second, withInstances(1))
	d := descriptions(ms)[0]
	if d.ApplicationID != "wc-pub" || d.UpdatedMs < began.UnixMilli() || d.UpdatedMs > time.Now().UnixMilli() {
		t.Errorf("application %q updated at %d (test began at %d)", d.ApplicationID, d.UpdatedMs, began.UnixMilli())
	}
	if len(d.Subtopologies) != 2 || len(d.Subtopologies[1].Nodes) != 4 {
		t.Fatalf("subtopologies %+v", d.Subtopologies)
	}
	// Internal topics carry their run-time names.
	src := d.Subtopologies[1].Nodes[0]
	if src.Type != streams.NodeSource || len(src.Topics) != 1 || src.Topics[0] != "wc-pub-words-repartition" {
		t.Errorf("repartition source %+v", src)
	}
	if sink := d.Subtopologies[1].Nodes[3]; sink.Type != streams.NodeSink || sink.Topics[0] != "word-counts" {
		t.Errorf("sink %+v", sink)
	}
	if count := d.Subtopologies[1].Nodes[1]; len(count.Stores) != 1 || count.Stores[0] != "counts" {
		t.Errorf("count %+v", count)
	}

	// The topic is compacted, with one partition.
	metas, err := adm.DescribeTopics([]string{streams.StreamsAppsTopic})
	if err != nil || len(metas) != 1 || len(metas[0].Partitions) != 1 {
		t.Fatalf("describe %s: %v %+v", streams.StreamsAppsTopic, err, metas)
	}
	cfgs, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: streams.StreamsAppsTopic})
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, c := range cfgs {
		if c.Name == "cleanup.policy" {
			policy = c.Value
		}
	}
	if policy != "compact" {
		t.Errorf("cleanup.policy=%q", policy)
	}

	// A second instance: the description says two.
	runApp(t, top, streams.Config{ApplicationID: "wc-pub", Brokers: []string{addr}})
	consumeAll(t, addr, streams.StreamsAppsTopic, 60*time.Second, withInstances(2))
}
