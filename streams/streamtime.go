package streams

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

// Stream time survives restarts and task moves the way Kafka Streams keeps
// it: committed with the input offsets, in the offset commit's metadata,
// which Kafka Streams' TopicPartitionMetadata encodes as base64 of a
// version byte (2) and the partition time in milliseconds (8 bytes,
// big-endian), optionally followed by processor metadata. Eddy's processor
// metadata is the stream time each windowed operator has observed (see
// observedTime): a 4-byte count, then for each processor a 4-byte name
// length, the name and the time in milliseconds (8 bytes), all big-endian.
// A task that opens on an instance reads it back before it processes
// anything, so that records that were late before a restart are late after
// it, and windows that suppression already emitted as final stay closed.

const streamTimeMetadataVersion = 2

// maxCommitMetadata is Kafka's default offset.metadata.max.bytes: a commit
// with longer metadata is refused. Processor times that would not fit are
// left out (the processors then resume at the task's stream time).
const maxCommitMetadata = 4096

// committedTime is what a commit's metadata holds: the task's stream time
// and its processors' observed stream times (nil when the metadata has no
// processor section).
type committedTime struct {
	stream time.Time
	procs  map[string]time.Time
}

// encodeStreamTime is the offset commit metadata for stream time t and the
// processors' observed times procs (empty when the task has seen no
// record; no processor section when procs is nil, or when it would make
// the metadata longer than maxCommitMetadata).
func encodeStreamTime(t time.Time, procs map[string]time.Time) string {
	if t.IsZero() {
		return ""
	}
	b := make([]byte, 9, 13)
	b[0] = streamTimeMetadataVersion
	binary.BigEndian.PutUint64(b[1:], uint64(t.UnixMilli()))
	if procs != nil {
		names := make([]string, 0, len(procs))
		for name := range procs {
			names = append(names, name)
		}
		sort.Strings(names)
		b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
		for _, name := range names {
			b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
			b = append(b, name...)
			b = binary.BigEndian.AppendUint64(b, uint64(procs[name].UnixMilli()))
		}
		if base64.StdEncoding.EncodedLen(len(b)) > maxCommitMetadata {
			b = b[:9]
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeStreamTime reads what encodeStreamTime (or Kafka Streams, versions
// 1 and 2) wrote; ok is false for empty or foreign metadata. A processor
// section that does not parse is ignored (procs nil).
func decodeStreamTime(md string) (c committedTime, ok bool) {
	if md == "" {
		return c, false
	}
	b, err := base64.StdEncoding.DecodeString(md)
	if err != nil || len(b) < 9 || (b[0] != 1 && b[0] != 2) {
		return c, false
	}
	ms := int64(binary.BigEndian.Uint64(b[1:9]))
	if ms < 0 {
		return c, false
	}
	c.stream = time.UnixMilli(ms)
	if b[0] == 2 && len(b) > 9 {
		c.procs = decodeProcessorTimes(b[9:])
	}
	return c, true
}

// decodeProcessorTimes parses the processor section, or returns nil.
func decodeProcessorTimes(b []byte) map[string]time.Time {
	if len(b) < 4 {
		return nil
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/12 {
		return nil
	}
	out := make(map[string]time.Time, n)
	for i := uint32(0); i < n; i++ {
		if len(b) < 4 {
			return nil
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(l)+8 {
			return nil
		}
		name := string(b[:l])
		ms := int64(binary.BigEndian.Uint64(b[l : l+8]))
		b = b[l+8:]
		if ms < 0 {
			return nil
		}
		out[name] = time.UnixMilli(ms)
	}
	if len(b) != 0 {
		return nil
	}
	return out
}

// committedStreamTimes fetches the group's committed metadata of the given
// partitions and returns the stream times found in it.
func (a *App) committedStreamTimes(parts map[string][]int32) (map[topicPartition]committedTime, error) {
	out := map[topicPartition]committedTime{}
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
