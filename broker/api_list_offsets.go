package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special timestamps of a ListOffsets request (Kafka's ListOffsetsRequest constants).
const (
	listLatest        = -1 // the high watermark (= last stable offset until transactions exist)
	listEarliest      = -2 // the log start offset
	listMaxTimestamp  = -3 // KIP-734: the record with the largest timestamp
	listEarliestLocal = -4 // KIP-405: without tiered storage, the log start offset
)

// handleListOffsets answers ListOffsets (key 2), v0-v8. Besides the special timestamps above,
// a timestamp asks for the first record at or after the log start offset whose timestamp is at
// least it, found through the time index; its offset and timestamp are returned, or offset -1
// and timestamp -1 without an error when there is none, as Kafka answers.
func handleListOffsets(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := r.resp.(*kmsg.ListOffsetsResponse)
	b := c.b
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp = -1
			sp.Offset = -1
			if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p := b.topics.partition(rt.Topic, rp.Partition)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			offset, ts := int64(-1), int64(-1)
			var err error
			switch rp.Timestamp {
			case listLatest:
				offset = p.log.EndOffset()
				if req.Version >= 2 && req.IsolationLevel == 1 { // read_committed
					offset = p.lastStableOffset()
				}
			case listEarliest, listEarliestLocal:
				offset = p.log.StartOffset()
			case listMaxTimestamp:
				ts, offset, err = p.log.MaxTimestamp()
			default:
				var found bool
				offset, ts, found, err = p.log.OffsetForTimestamp(rp.Timestamp)
				if !found {
					offset, ts = -1, -1
				}
			}
			if err != nil {
				sp.ErrorCode = kerr.KafkaStorageError.Code
				c.log.Error("list offsets failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.Offset, sp.Timestamp = offset, ts
			sp.LeaderEpoch = 0
			if req.Version == 0 && offset >= 0 {
				sp.OldStyleOffsets = []int64{offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
