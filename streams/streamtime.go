package streams

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Stream time survives restarts and task moves the way Kafka Streams keeps
// it: committed with the input offsets, in the offset commit's metadata,
// which Kafka Streams' TopicPartitionMetadata encodes as base64 of a
// version byte (2) and the partition time in milliseconds (8 bytes,
// big-endian), optionally followed by processor metadata (none here). A
// task that opens on an instance reads it back before it processes
// anything, so that records that were late before a restart are late after
// it, and windows that suppression already emitted as final stay closed.

const streamTimeMetadataVersion = 2

// encodeStreamTime is the offset commit metadata for stream time t (empty
// when the task has seen no record).
func encodeStreamTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	var b [9]byte
	b[0] = streamTimeMetadataVersion
	binary.BigEndian.PutUint64(b[1:], uint64(t.UnixMilli()))
	return base64.StdEncoding.EncodeToString(b[:])
}

// decodeStreamTime reads what encodeStreamTime (or Kafka Streams, versions
// 1 and 2) wrote; ok is false for empty or foreign metadata.
func decodeStreamTime(md string) (t time.Time, ok bool) {
	if md == "" {
		return time.Time{}, false
	}
	b, err := base64.StdEncoding.DecodeString(md)
	if err != nil || len(b) < 9 || (b[0] != 1 && b[0] != 2) {
		return time.Time{}, false
	}
	ms := int64(binary.BigEndian.Uint64(b[1:9]))
	if ms < 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// committedStreamTimes fetches the group's committed metadata of the given
// partitions and returns the stream times found in it.
func (a *App) committedStreamTimes(parts map[string][]int32) (map[topicPartition]time.Time, error) {
	out := map[topicPartition]time.Time{}
	if len(parts) == 0 {
		return out, nil
	}
	coord, err := a.client.Coordinator(a.cfg.ApplicationID)
	if err != nil {
		return nil, fmt.Errorf("streams: group coordinator: %w", err)
	}
	resp, err := coord.FetchOffset(sarama.NewOffsetFetchRequest(a.sc.Version, a.cfg.ApplicationID, parts))
	if err != nil {
		return nil, fmt.Errorf("streams: fetch committed offsets: %w", err)
	}
	if resp.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("streams: fetch committed offsets: %w", resp.Err)
	}
	for topic, ps := range parts {
		for _, p := range ps {
			blk := resp.GetBlock(topic, p)
			if blk == nil || blk.Err != sarama.ErrNoError {
				continue
			}
			if t, ok := decodeStreamTime(blk.Metadata); ok {
				out[topicPartition{topic, p}] = t
			}
		}
	}
	return out, nil
}
