package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumeRaw reads the topic from the start, like consume, but with bare
// Fetch requests through kgo.Client.Request: the response's record batches
// are kept as the bytes kmsg slices them into, and only each batch's header
// is read (base offset, last offset delta, record count) to move on. There
// is no CRC check and no record decoding. One fetch is in flight at a time,
// with kgo's default sizes (1 MiB per partition, 50 MiB per response,
// 5 s MaxWait, MinBytes 1) and no fetch session.
//
// A kgo consumer spends most of a consume phase decoding, the same work
// whatever broker sent the bytes, so its rate says little about how fast a
// broker serves fetches; this reader's rate says more. Records are counted
// from the batch headers and MB/s as records times the value size.
func (l throughputLoad) consumeRaw(ctx context.Context, want int64) (phase, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.addr), loadLogger(l.stderr, "raw fetch"))
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()

	// The topic's id, for Fetch v13 and up, which name topics by id.
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(l.topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return phase{}, fmt.Errorf("raw fetch: metadata: %w", err)
	}
	if len(mresp.Topics) != 1 {
		return phase{}, fmt.Errorf("raw fetch: metadata: %d topics for %s", len(mresp.Topics), l.topic)
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return phase{}, fmt.Errorf("raw fetch: metadata of %s: %w", l.topic, err)
	}
	topicID := mresp.Topics[0].TopicID

	next := make([]int64, l.partitions) // the next offset to fetch, per partition
	var p phase
	cpu0, start := cpuTime(), time.Now()
	for p.records < want {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 5000
		req.MinBytes = 1
		req.MaxBytes = 50 << 20
		req.SessionEpoch = -1 // no session: every partition every time
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = l.topic, topicID
		for part, off := range next {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = int32(part)
			rp.FetchOffset = off
			rp.PartitionMaxBytes = 1 << 20
			rp.LogStartOffset = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return p, fmt.Errorf("raw fetch: %d of %d records after %v: %w", p.records, want, time.Since(start).Round(time.Millisecond), err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return p, fmt.Errorf("raw fetch: %w", err)
		}
		p.requests++
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return p, fmt.Errorf("raw fetch: partition %d: %w", rp.Partition, err)
				}
				if rp.Partition < 0 || int(rp.Partition) >= len(next) {
					return p, fmt.Errorf("raw fetch: partition %d not asked for", rp.Partition)
				}
				p.wire += int64(len(rp.RecordBatches))
				n, end := batchHeaders(rp.RecordBatches, next[rp.Partition])
				p.records += n
				next[rp.Partition] = end
			}
		}
	}
	p.elapsed, p.cpu = time.Since(start), cpuTime()-cpu0
	p.bytes = p.records * int64(l.recordSize)
	if p.records != want {
		return p, fmt.Errorf("raw fetch: got %d records, want %d", p.records, want)
	}
	return p, nil
}

// batchHeaders walks record batches (v2) by their headers and returns how
// many records those at or after offset from hold, and the offset after the
// last whole batch. A partial batch at the end, which Kafka may send, is
// left for the next fetch.
func batchHeaders(b []byte, from int64) (records, next int64) {
	next = from
	for len(b) >= 61 {
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if length < 49 || 12+length > int64(len(b)) {
			break
		}
		base := int64(binary.BigEndian.Uint64(b))
		last := base + int64(int32(binary.BigEndian.Uint32(b[23:])))
		if last >= next {
			records += int64(int32(binary.BigEndian.Uint32(b[57:])))
			next = last + 1
		}
		b = b[12+length:]
	}
	return records, next
}
