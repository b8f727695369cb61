package connectors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
)

var storageRFProps = []string{"config.storage.replication.factor", "offset.storage.replication.factor", "status.storage.replication.factor"}

func TestStorageReplicationFactorProperties(t *testing.T) {
	cfg, _, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
		"config.storage.replication.factor": "1",
		"offset.storage.replication.factor": "-1",
		"status.storage.replication.factor": " 3 ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) > 0 {
		t.Fatalf("ignored %v", ignored)
	}
	if cfg.ConfigReplicationFactor != 1 || cfg.OffsetsReplicationFactor != -1 || cfg.StatusReplicationFactor != 3 {
		t.Fatalf("got config %d, offsets %d, status %d; want 1, -1, 3",
			cfg.ConfigReplicationFactor, cfg.OffsetsReplicationFactor, cfg.StatusReplicationFactor)
	}
	for _, k := range storageRFProps {
		if connectors.WorkerProperties[k] == "" {
			t.Errorf("WorkerProperties does not list %s", k)
		}
		for _, bad := range []string{"0", "-2", "three", "", "1.5", "40000"} {
			_, _, _, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{k: bad})
			if err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), "-1 for the broker's default") {
				t.Errorf("%s=%q: got error %v, want one naming the property and the allowed values", k, bad, err)
			}
		}
	}
}

// topicReplication returns the replication factor of each of topics.
func topicReplication(t *testing.T, addr string, topics ...string) map[string]int16 {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	md, err := admin.DescribeTopics(topics)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int16{}
	for _, m := range md {
		if m.Err != sarama.ErrNoError || len(m.Partitions) == 0 {
			t.Fatalf("topic %s: %v, %d partitions", m.Name, m.Err, len(m.Partitions))
		}
		out[m.Name] = int16(len(m.Partitions[0].Replicas))
	}
	return out
}

// The default (-1: the broker's default) and an explicit 1 both work
// against a single broker.
func TestStorageReplicationFactorCreatesTopics(t *testing.T) {
	for _, tc := range []struct {
		name string
		rf   int16
	}{{"default", 0}, {"broker default", -1}, {"one", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startBroker(t)
			startWorker(t, addr, func(c *connectors.WorkerConfig) {
				c.ConfigReplicationFactor, c.OffsetsReplicationFactor, c.StatusReplicationFactor = tc.rf, tc.rf, tc.rf
			})
			got := topicReplication(t, addr, "connect-configs", "connect-offsets", "connect-status")
			for _, topic := range []string{"connect-configs", "connect-offsets", "connect-status"} {
				if got[topic] != 1 {
					t.Errorf("%s has replication factor %d, want 1", topic, got[topic])
				}
			}
		})
	}
}

// Asking one broker for three replicas fails NewWorker at once, with an
// error naming the topic and the property to change.
func TestStorageReplicationFactorTooLarge(t *testing.T) {
	addr := startBroker(t)
	for i, k := range storageRFProps {
		cfg, _, _, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
			"bootstrap.servers": addr, k: "3",
			// Distinct topics per case, as the earlier cases created some.
			"config.storage.topic": "configs-" + string(rune('a'+i)),
			"offset.storage.topic": "offsets-" + string(rune('a'+i)),
			"status.storage.topic": "status-" + string(rune('a'+i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.OffsetsPartitions, cfg.Logger = 1, testLogger(t)
		errc := make(chan error, 1)
		go func() {
			w, err := connectors.NewWorker(context.Background(), cfg)
			if err == nil {
				w.Close()
			}
			errc <- err
		}()
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), "replication factor 3") {
				t.Errorf("%s=3 against one broker: got %v, want an error naming %s", k, err, k)
			} else {
				t.Logf("%s=3: %v", k, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s=3 against one broker: NewWorker did not return", k)
		}
	}
}

// WorkerConfig fields below -1 are refused before connecting.
func TestStorageReplicationFactorBadField(t *testing.T) {
	_, err := connectors.NewWorker(context.Background(), connectors.WorkerConfig{
		Brokers: []string{"127.0.0.1:1"}, StatusReplicationFactor: -2})
	if err == nil || !strings.Contains(err.Error(), "StatusReplicationFactor") {
		t.Fatalf("got %v, want an error naming StatusReplicationFactor", err)
	}
}
