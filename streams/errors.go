package streams

import (
	"fmt"
	"log/slog"
	"strconv"
)

// ErrorPolicy says what happens to an input record that cannot be decoded
// (a deserialization error). A record is never dropped silently: each policy
// logs it or sends it on.
type ErrorPolicy int

const (
	// LogAndFail logs the record and stops the app (the test driver
	// returns the error). It is the default.
	LogAndFail ErrorPolicy = iota
	// LogAndContinue logs the record at Warn and goes on with the next.
	LogAndContinue
	// DeadLetter writes the record as it was read to the dead-letter topic,
	// with headers naming the error and where the record came from
	// (eddy.error, eddy.topic, eddy.partition, eddy.offset), and goes on.
	DeadLetter
)

// handleDeserializationError applies policy to r.
func handleDeserializationError(policy ErrorPolicy, dlq string, log *slog.Logger, t *task, r *rawRecord, err error) error {
	switch policy {
	case LogAndContinue:
		log.Warn("streams: skipping a record that cannot be deserialized",
			"task", t.id.String(), "topic", r.topic, "partition", r.partition, "offset", r.offset, "err", err)
		return nil
	case DeadLetter:
		if dlq == "" {
			return fmt.Errorf("streams: DeadLetter policy without a dead-letter topic: %s/%d@%d: %w", r.topic, r.partition, r.offset, err)
		}
		headers := append(append([]Header{}, r.headers...),
			Header{Key: "eddy.error", Value: []byte(err.Error())},
			Header{Key: "eddy.topic", Value: []byte(r.topic)},
			Header{Key: "eddy.partition", Value: []byte(strconv.Itoa(int(r.partition)))},
			Header{Key: "eddy.offset", Value: []byte(strconv.FormatInt(r.offset, 10))},
		)
		log.Warn("streams: record that cannot be deserialized sent to the dead-letter topic",
			"dlq", dlq, "topic", r.topic, "partition", r.partition, "offset", r.offset, "err", err)
		return t.env.produce(dlq, r.partition%mustPartitions(t, dlq), r.key, r.value, r.timestamp, headers)
	default:
		log.Error("streams: record cannot be deserialized",
			"task", t.id.String(), "topic", r.topic, "partition", r.partition, "offset", r.offset, "err", err)
		return fmt.Errorf("streams: deserialize %s/%d@%d: %w", r.topic, r.partition, r.offset, err)
	}
}

func mustPartitions(t *task, topic string) int32 {
	n, err := t.env.partitions(topic)
	if err != nil || n <= 0 {
		return 1
	}
	return n
}
