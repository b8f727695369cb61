package connectors

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Offsets can be changed only while the connector is stopped (KIP-875), as
// in Kafka Connect: PATCH /connectors/{name}/offsets alters them, DELETE
// resets them.

func (w *Worker) stoppedConnector(name string) (*connectorRun, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if cr.target != targetStopped {
		return nil, newAPIError(ErrBadConfig, "Connectors must be in the STOPPED state before their offsets can be modified. "+
			"This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", name)
	}
	return cr, nil
}

// AlterOffsets sets a stopped connector's offsets. For a source each
// element's partition is a source partition and its offset the new source
// offset (nil removes it); for a sink the partition is
// {"kafka_topic","kafka_partition"} and the offset {"kafka_offset"} (nil
// removes the committed offset).
func (w *Worker) AlterOffsets(name string, offsets []Offset) error {
	cr, err := w.stoppedConnector(name)
	if err != nil {
		return err
	}
	if cr.plugin.Type == TypeSource {
		msgs := make([]*sarama.ProducerMessage, 0, len(offsets))
		for _, o := range offsets {
			if o.Partition == nil {
				return newAPIError(ErrBadConfig, "Partitions cannot be null")
			}
			m := &sarama.ProducerMessage{Topic: w.cfg.OffsetsTopic, Key: sarama.ByteEncoder(mustJSON([]any{name, o.Partition}))}
			if o.Offset != nil {
				m.Value = sarama.ByteEncoder(mustJSON(o.Offset))
			}
			msgs = append(msgs, m)
		}
		if err := w.producer.SendMessages(msgs); err != nil {
			return err
		}
		w.offMu.Lock()
		defer w.offMu.Unlock()
		m := w.offsets[name]
		if m == nil {
			m = map[string]sourceOffset{}
			w.offsets[name] = m
		}
		for _, o := range offsets {
			k := string(mustJSON(o.Partition))
			if o.Offset == nil {
				delete(m, k)
			} else {
				m[k] = sourceOffset{o.Partition, o.Offset}
			}
		}
		return nil
	}
	om, err := sarama.NewOffsetManagerFromClient(sinkGroup(name), w.client)
	if err != nil {
		return err
	}
	defer om.Close()
	for _, o := range offsets {
		topic, _ := o.Partition["kafka_topic"].(string)
		part, ok := toInt(o.Partition["kafka_partition"])
		if topic == "" || !ok {
			return newAPIError(ErrBadConfig, "Sink connector offsets need a partition with kafka_topic and kafka_partition: %v", o.Partition)
		}
		if o.Offset == nil {
			if err := w.admin.DeleteConsumerGroupOffset(sinkGroup(name), topic, int32(part)); err != nil &&
				!errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				return err
			}
			continue
		}
		off, ok := toInt(o.Offset["kafka_offset"])
		if !ok || off < 0 {
			return newAPIError(ErrBadConfig, "Sink connector offsets need a non-negative kafka_offset: %v", o.Offset)
		}
		pom, err := om.ManagePartition(topic, int32(part))
		if err != nil {
			return err
		}
		pom.ResetOffset(off, "")
		pom.MarkOffset(off, "")
	}
	om.Commit()
	return nil
}

// ResetOffsets removes every offset of a stopped connector.
func (w *Worker) ResetOffsets(name string) error {
	cr, err := w.stoppedConnector(name)
	if err != nil {
		return err
	}
	if cr.plugin.Type == TypeSink {
		err := w.admin.DeleteConsumerGroup(sinkGroup(name))
		if err != nil && !errors.Is(err, sarama.ErrGroupIDNotFound) {
			return fmt.Errorf("deleting group %s: %w", sinkGroup(name), err)
		}
		return nil
	}
	offs, err := w.Offsets(name)
	if err != nil {
		return err
	}
	for i := range offs {
		offs[i].Offset = nil
	}
	return w.AlterOffsets(name, offs)
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), x == float64(int64(x))
	case int:
		return int64(x), true
	}
	return 0, false
}
