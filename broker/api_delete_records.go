package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/storage"
)

// handleDeleteRecords answers DeleteRecords (key 21), v0-v2: it moves each partition's log
// start offset up to the given offset (-1: the high watermark), fsynced before the answer, and
// returns the new low watermark. Segments wholly below it are removed by the cleaner, which is
// woken. As in Kafka, a topic whose cleanup.policy lacks "delete" answers POLICY_VIOLATION, and
// an offset above the high watermark OFFSET_OUT_OF_RANGE; an offset below the log start offset
// changes nothing.
func handleDeleteRecords(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := r.resp.(*kmsg.DeleteRecordsResponse)
	b := c.b
	moved := false
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		lc := b.topicLiveConfig(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p := b.topics.partition(rt.Topic, rp.Partition)
			switch {
			case !c.authorized(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, rt.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !lc.delete:
				sp.ErrorCode = kerr.PolicyViolation.Code
			default:
				offset := rp.Offset
				if offset == -1 {
					offset = p.log.EndOffset()
				}
				start, err := p.log.SetStartOffset(offset)
				switch {
				case err == nil:
					sp.LowWatermark = start
					moved = true
				case errors.Is(err, storage.ErrOffsetOutOfRange):
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
				case errors.Is(err, storage.ErrClosed):
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					c.log.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					sp.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if moved {
		b.cleaner.poke()
	}
}
