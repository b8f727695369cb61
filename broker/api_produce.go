package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/storage"
)

// handleProduce answers Produce (key 0), v0-v11.
//
// Appends happen here, on the connection's reader goroutine, in request
// order. For acks=all the response waits on the writer goroutine until the
// appended bytes are fsynced; the partition log group-commits, so
// producers (and pipelined requests of one producer) share fsyncs.
// acks=1 answers once the bytes are written to the file; acks=0 sends no
// response at all.
func handleProduce(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := r.resp.(*kmsg.ProduceResponse)
	b := c.b

	type pending struct {
		p   *partition
		end int64
		rp  *kmsg.ProduceResponseTopicPartition
	}
	var toSync []pending

	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		resp.Topics = append(resp.Topics, st)
	}
	txnDenied := req.TransactionID != nil &&
		!c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID)
	for i, rt := range req.Topics {
		topicDenied := !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic)
		for j, rp := range rt.Partitions {
			out := &resp.Topics[i].Partitions[j]
			*out = kmsg.NewProduceResponseTopicPartition()
			out.Partition = rp.Partition
			out.BaseOffset = -1
			out.LogAppendTime = -1
			out.LogStartOffset = -1
			fail := func(e *kerr.Error, msg string) {
				out.ErrorCode = e.Code
				if msg != "" {
					out.ErrorMessage = kmsg.StringPtr(msg)
				}
			}
			if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
				fail(kerr.InvalidRequiredAcks, fmt.Sprintf("acks must be 0, 1 or -1, got %d", req.Acks))
				continue
			}
			if txnDenied {
				fail(kerr.TransactionalIDAuthorizationFailed, "")
				continue
			}
			if topicDenied {
				fail(kerr.TopicAuthorizationFailed, "")
				continue
			}
			p := b.topics.partition(rt.Topic, rp.Partition)
			if p == nil {
				fail(kerr.UnknownTopicOrPartition, "")
				continue
			}
			lc := b.topicLiveConfig(rt.Topic)
			size, n, ok := largestBatch(rp.Records)
			if ok && size > int(lc.maxMessageBytes) {
				fail(kerr.MessageTooLarge, fmt.Sprintf("record batch of %d bytes exceeds max.message.bytes %d", size, lc.maxMessageBytes))
				continue
			}
			if ok && n > 1 {
				// Kafka: from v3 on, exactly one batch per partition.
				fail(kerr.InvalidRecord, fmt.Sprintf("%d record batches for one partition; produce requests carry exactly one", n))
				continue
			}
			var err error
			if lc.compact {
				err = storage.CheckKeys(rp.Records)
			}
			var res storage.AppendResult
			if err == nil {
				res, err = p.append(rp.Records)
			}
			if err != nil {
				e := appendErrorCode(err)
				if e == kerr.KafkaStorageError {
					c.log.Error("append failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
				fail(e, err.Error())
				continue
			}
			p.appended()
			b.metrics.produced(p, res.Records, res.Bytes)
			out.BaseOffset = res.BaseOffset
			if lc.logAppendTime && res.LogAppendTime > 0 {
				out.LogAppendTime = res.LogAppendTime
			}
			out.LogStartOffset = p.log.StartOffset()
			if req.Acks == -1 {
				toSync = append(toSync, pending{p: p, end: res.LastOffset + 1, rp: out})
			}
		}
	}

	switch {
	case req.Acks == 0:
		r.resp = nil
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					c.log.Debug("closing connection after a failed acks=0 produce", "topic", st.Topic, "partition", sp.Partition, "error_code", sp.ErrorCode)
					r.closeConn = true
				}
			}
		}
	case len(toSync) == 1:
		ps := toSync[0]
		r.complete = func(ctx context.Context) {
			start := time.Now()
			if err := ps.p.log.SyncTo(ctx, ps.end); err != nil {
				ps.rp.ErrorCode, ps.rp.ErrorMessage = syncErrorCode(c, ps.p, err)
			}
			b.metrics.observeFsyncWait(start)
		}
	case len(toSync) > 1:
		// fsync the partitions side by side: each is a separate file.
		r.complete = func(ctx context.Context) {
			var wg sync.WaitGroup
			for _, ps := range toSync {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					if err := ps.p.log.SyncTo(ctx, ps.end); err != nil {
						ps.rp.ErrorCode, ps.rp.ErrorMessage = syncErrorCode(c, ps.p, err)
					}
					b.metrics.observeFsyncWait(start)
				}()
			}
			wg.Wait()
		}
	}
}

// syncErrorCode reports a failed wait for durability: the broker shutting
// down is a timeout (the client retries elsewhere); an fsync failure is a
// storage error.
func syncErrorCode(c *conn, p *partition, err error) (int16, *string) {
	if errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrClosed) {
		return kerr.RequestTimedOut.Code, kmsg.StringPtr("broker shutting down before the write was durable")
	}
	c.log.Error("fsync failed", "topic", p.topic, "partition", p.index, "err", err)
	return kerr.KafkaStorageError.Code, kmsg.StringPtr(err.Error())
}

// appendErrorCode maps storage's validation errors to Kafka's codes.
func appendErrorCode(err error) *kerr.Error {
	if e := producerErrorCode(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage
	case errors.Is(err, storage.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat
	case errors.Is(err, storage.ErrInvalidBatch):
		return kerr.InvalidRecord
	default:
		return kerr.KafkaStorageError
	}
}

// largestBatch returns the size of the largest batch in concatenated
// record batches and how many there are, reading only their length
// fields; ok is false when the framing is broken (storage reports that
// precisely).
func largestBatch(b []byte) (largest, count int, ok bool) {
	for len(b) > 0 {
		if len(b) < 12 {
			return largest, count, false
		}
		n := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if n < 12 {
			return largest, count, false
		}
		largest = max(largest, n)
		count++
		if n > len(b) {
			return largest, count, false
		}
		b = b[n:]
	}
	return largest, count, true
}
