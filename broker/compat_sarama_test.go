package broker

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/IBM/sarama"
)

// TestCompatSaramaVersions runs sarama pinned to Kafka 2.0 (what goka
// pins, so sarama speaks older request versions: Produce v6, Fetch v8,
// Metadata v6, ...) and at its default version: create a topic with the
// cluster admin as goka's topic manager does, produce with the sync
// producer at acks=all, read the offsets, and consume with partition
// consumers.
func TestCompatSaramaVersions(t *testing.T) {
	b := startBroker(t)
	versions := []struct {
		name string
		v    sarama.KafkaVersion
	}{
		{"V2_0_0_0", sarama.V2_0_0_0},
		{"default", sarama.NewConfig().Version},
	}
	const partitions, n = 4, 2000
	recs := compatRecords(n, partitions)
	want := byPartition(recs, partitions)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ctx := testCtx(t)
			newCfg := func() *sarama.Config {
				cfg := sarama.NewConfig()
				cfg.Version = ver.v
				cfg.ClientID = "eddy-compat-" + ver.name
				return cfg
			}
			topic := "sarama-" + ver.name

			// The cluster admin, as goka's topic manager uses it.
			admin, err := sarama.NewClusterAdmin([]string{b.Addr()}, newCfg())
			if err != nil {
				t.Fatalf("cluster admin: %v", err)
			}
			defer admin.Close()
			if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
			if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				t.Errorf("creating %s twice: %v, want %v", topic, err, sarama.ErrTopicAlreadyExists)
			}
			metas, err := admin.DescribeTopics([]string{topic})
			if err != nil {
				t.Fatalf("describe topics: %v", err)
			}
			if len(metas) != 1 || !errors.Is(metas[0].Err, sarama.ErrNoError) || len(metas[0].Partitions) != partitions {
				t.Fatalf("describe %s: %+v", topic, metas)
			}
			for _, p := range metas[0].Partitions {
				if !slices.Equal(p.Replicas, []int32{0}) || p.Leader != 0 {
					t.Errorf("%s/%d: leader %d, replicas %v; want 0, [0]", topic, p.ID, p.Leader, p.Replicas)
				}
			}

			// The sync producer, at acks=all.
			cfg := newCfg()
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Return.Successes = true
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Compression = sarama.CompressionGZIP
			prod, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
			if err != nil {
				t.Fatalf("sync producer: %v", err)
			}
			msgs := make([]*sarama.ProducerMessage, 0, n)
			for _, r := range recs {
				m := &sarama.ProducerMessage{Topic: topic, Partition: r.partition, Timestamp: r.ts}
				if r.key != nil {
					m.Key = sarama.ByteEncoder(r.key)
				}
				if r.value != nil {
					m.Value = sarama.ByteEncoder(r.value)
				}
				for _, h := range r.headers {
					m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.key), Value: h.value})
				}
				msgs = append(msgs, m)
			}
			// One message alone first: its offset is known exactly.
			if p, o, err := prod.SendMessage(msgs[0]); err != nil || p != 0 || o != 0 {
				t.Fatalf("first message: partition %d, offset %d, err %v; want 0, 0, nil", p, o, err)
			}
			if err := prod.SendMessages(msgs[1:]); err != nil {
				t.Fatalf("send messages: %v", err)
			}
			if err := prod.Close(); err != nil {
				t.Errorf("close producer: %v", err)
			}
			// Each message learnt its offset: dense per partition.
			next := make([]int64, partitions)
			for i, m := range msgs {
				if m.Offset != next[m.Partition] {
					t.Fatalf("message %d: partition %d offset %d, want %d", i, m.Partition, m.Offset, next[m.Partition])
				}
				next[m.Partition]++
			}

			client, err := sarama.NewClient([]string{b.Addr()}, newCfg())
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			for p := range int32(partitions) {
				oldest, err1 := client.GetOffset(topic, p, sarama.OffsetOldest)
				newest, err2 := client.GetOffset(topic, p, sarama.OffsetNewest)
				if err := errors.Join(err1, err2); err != nil || oldest != 0 || newest != int64(len(want[p])) {
					t.Errorf("%s/%d: offsets %d..%d (err %v), want 0..%d", topic, p, oldest, newest, err, len(want[p]))
				}
			}
			client.Close()

			got := consumeSaramaWith(t, ctx, b.Addr(), topic, partitions, n, newCfg())
			checkRoundTrip(t, want, got)
		})
	}
}

// TestCompatGokaTopicCheck follows goka's topic manager when the topic it
// needs already exists (a processor's second start): it asks the cluster
// admin for the topic's configs (DescribeConfigs, key 32), which must
// report cleanup.policy=compact for a table.
func TestCompatGokaTopicCheck(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_0_0_0
	admin, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	retention := "86400000"
	err = admin.CreateTopic("goka-table", &sarama.TopicDetail{
		NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"cleanup.policy": new("compact"), "retention.ms": &retention},
	}, false)
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "goka-table"})
	if err != nil {
		t.Fatalf("describe config: %v", err)
	}
	got := make(map[string]string)
	for _, e := range entries {
		got[e.Name] = e.Value
	}
	for k, v := range map[string]string{"cleanup.policy": "compact", "retention.ms": retention} {
		if got[k] != v {
			t.Errorf("config %s = %q, want %q (all: %v)", k, got[k], v, fmt.Sprint(got))
		}
	}
}
