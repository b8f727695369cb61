package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// The worker keeps its state in three compacted topics, with the record
// formats of Kafka Connect's distributed mode, so the topics read the same
// to a Kafka Connect user:
//
//	connect-configs  connector-NAME      {"properties":{...}}    (tombstone: deleted)
//	                 task-NAME-N         {"properties":{...}}
//	                 commit-NAME         {"tasks":N}
//	                 target-state-NAME   {"state":"PAUSED"}     (STARTED, PAUSED, STOPPED)
//	connect-offsets  ["NAME",{partition}] {offset}
//	connect-status   status-connector-NAME, status-task-NAME-N
//	                 {"state":"RUNNING","trace":null,"worker_id":"...","generation":0}

// internalTopic is one of the worker's topics, as ensureTopic creates it.
type internalTopic struct {
	name       string
	partitions int32
	// replication is the replication factor, -1 for the broker's default;
	// property is the worker property that sets it, for errors.
	replication int16
	property    string
}

// ensureTopic creates a compacted topic unless it exists.
func ensureTopic(admin sarama.ClusterAdmin, t internalTopic) error {
	compact := "compact"
	err := admin.CreateTopic(t.name, &sarama.TopicDetail{
		NumPartitions:     t.partitions,
		ReplicationFactor: t.replication,
		ConfigEntries:     map[string]*string{"cleanup.policy": &compact},
	}, false)
	switch {
	case err == nil, errors.Is(err, sarama.ErrTopicAlreadyExists):
		return nil
	case errors.Is(err, sarama.ErrInvalidReplicationFactor):
		return fmt.Errorf("creating topic %s with replication factor %d (%s): %w; "+
			"set %s to at most the number of brokers, or to -1 for the broker's default",
			t.name, t.replication, t.property, err, t.property)
	default:
		return fmt.Errorf("creating topic %s: %w", t.name, err)
	}
}

// readTopic calls fn for every record of topic, partition by partition
// from the oldest offset to the end as it was when readTopic began. All
// partitions are consumed at once: sarama's consumer adds a partition to
// a broker's fetch only between long polls, so opening them one after
// another would cost a poll wait each.
func readTopic(ctx context.Context, client sarama.Client, topic string, fn func(key, value []byte)) error {
	if err := client.RefreshMetadata(topic); err != nil {
		return err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("reading %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	type span struct {
		p   int32
		end int64
		pc  sarama.PartitionConsumer
	}
	var spans []span
	defer func() {
		for _, s := range spans {
			s.pc.Close()
		}
	}()
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("reading %s[%d]: %w", topic, p, err)
		}
		start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("reading %s[%d]: %w", topic, p, err)
		}
		if end <= start {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, start)
		if err != nil {
			return fmt.Errorf("reading %s[%d]: %w", topic, p, err)
		}
		spans = append(spans, span{p, end, pc})
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for _, s := range spans {
	read:
		for {
			select {
			case m := <-s.pc.Messages():
				fn(m.Key, m.Value)
				if m.Offset+1 >= s.end {
					break read
				}
			case err := <-s.pc.Errors():
				return fmt.Errorf("reading %s[%d]: %w", topic, s.p, err)
			case <-timeout.C:
				return fmt.Errorf("reading %s[%d]: timed out before offset %d", topic, s.p, s.end)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// write produces one record (a nil value is a tombstone) and waits for it.
func write(p sarama.SyncProducer, topic, key string, value []byte) error {
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key)}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	_, _, err := p.SendMessage(msg)
	return err
}
