package broker

// Shared helpers of the client-compatibility tests (compat_*_test.go):
// a deterministic record set with keys, headers and timestamps, its
// record-by-record comparison, and raw access to the stored record
// batches so a test can check what a client actually sent (for example
// the compression codec bits of each batch's attributes).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compatCodec is a compression codec as numbered in a record batch's
// attributes (bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
type compatCodec int8

var compatCodecs = []compatCodec{0, 1, 2, 3, 4}

func (c compatCodec) String() string {
	return [...]string{"none", "gzip", "snappy", "lz4", "zstd"}[c]
}

type compatHeader struct {
	key   string
	value []byte
}

// compatRecord is one record as produced and, after a round trip, as
// consumed.
type compatRecord struct {
	partition int32
	offset    int64 // -1 until consumed
	key       []byte
	value     []byte
	headers   []compatHeader
	ts        time.Time // millisecond precision, as on the wire
}

// compatBaseTime is the first record's timestamp; a fixed instant far from
// now shows that the broker keeps the producer's CreateTime.
var compatBaseTime = time.UnixMilli(1_600_000_000_000)

// compatRecords builds n deterministic records spread round-robin over
// partitions. They cover null and empty keys and values, zero to three
// headers (one with an empty value), binary bytes, values from a few bytes
// to ~2 KiB that compress well, and timestamps that go backwards within a
// batch (negative timestamp deltas).
func compatRecords(n int, partitions int32) []compatRecord {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(partitions)))
	words := []string{"eddy ", "stream ", "kafka ", "broker ", "partition ", "offset "}
	recs := make([]compatRecord, n)
	for i := range recs {
		r := &recs[i]
		r.partition = int32(i) % partitions
		r.offset = -1
		switch i % 17 {
		case 0:
			r.key = nil
		case 1:
			r.key = []byte{}
		default:
			r.key = fmt.Appendf(nil, "key-%d", i)
		}
		switch i % 23 {
		case 0:
			r.value = nil
		case 1:
			r.value = []byte{}
		default:
			var sb strings.Builder
			fmt.Fprintf(&sb, "value %d: ", i)
			for range rng.IntN(40) {
				sb.WriteString(words[rng.IntN(len(words))])
			}
			v := []byte(sb.String())
			if i%5 == 0 { // some raw binary, every byte value possible
				for range 16 {
					v = append(v, byte(rng.Uint32()))
				}
			}
			r.value = v
		}
		for h := range i % 4 {
			hv := fmt.Appendf(nil, "header value %d/%d", i, h)
			if h == 2 {
				hv = []byte{}
			}
			r.headers = append(r.headers, compatHeader{key: fmt.Sprintf("h%d", h), value: hv})
		}
		ms := int64(i)
		if i%7 == 3 {
			ms -= 3_600_000 // an hour earlier than its neighbours
		}
		r.ts = compatBaseTime.Add(time.Duration(ms) * time.Millisecond)
	}
	return recs
}

// byPartition groups records by partition, keeping their order.
func byPartition(recs []compatRecord, partitions int32) [][]compatRecord {
	out := make([][]compatRecord, partitions)
	for _, r := range recs {
		out[r.partition] = append(out[r.partition], r)
	}
	return out
}

// checkRoundTrip compares what was consumed from each partition with what
// was produced to it: the same records in the same order at offsets
// 0..n-1, byte-identical keys, values and headers, the same timestamps,
// and null keys/values still null. It reports at most a few differences
// per partition.
func checkRoundTrip(t *testing.T, want, got [][]compatRecord) {
	t.Helper()
	for p := range want {
		if len(got[p]) != len(want[p]) {
			t.Errorf("partition %d: consumed %d records, produced %d", p, len(got[p]), len(want[p]))
		}
		bad := 0
		for i := range min(len(got[p]), len(want[p])) {
			if diff := recordDiff(want[p][i], got[p][i], int64(i)); diff != "" {
				t.Errorf("partition %d, record %d: %s", p, i, diff)
				if bad++; bad == 5 {
					t.Errorf("partition %d: giving up after %d differences", p, bad)
					break
				}
			}
		}
	}
}

func recordDiff(w, g compatRecord, offset int64) string {
	switch {
	case g.offset != offset:
		return fmt.Sprintf("offset %d, want %d (offsets must be dense and ordered)", g.offset, offset)
	case !bytes.Equal(g.key, w.key) || (w.key == nil) != (g.key == nil):
		return fmt.Sprintf("key %q (nil %t), want %q (nil %t)", g.key, g.key == nil, w.key, w.key == nil)
	case !bytes.Equal(g.value, w.value) || (w.value == nil) != (g.value == nil):
		return fmt.Sprintf("value %q (nil %t), want %q (nil %t)", g.value, g.value == nil, w.value, w.value == nil)
	case !g.ts.Equal(w.ts):
		return fmt.Sprintf("timestamp %v, want %v", g.ts.UnixMilli(), w.ts.UnixMilli())
	case len(g.headers) != len(w.headers):
		return fmt.Sprintf("%d headers, want %d", len(g.headers), len(w.headers))
	}
	for i := range w.headers {
		if g.headers[i].key != w.headers[i].key || !bytes.Equal(g.headers[i].value, w.headers[i].value) {
			return fmt.Sprintf("header %d is %q=%q, want %q=%q", i,
				g.headers[i].key, g.headers[i].value, w.headers[i].key, w.headers[i].value)
		}
	}
	return ""
}

// newKgoClient is a franz-go client of b that is closed when the test ends.
func newKgoClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("franz-go client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with the given partition count through kadm.
func createTopic(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consumeKgo reads n records from offset 0 of every partition of topic
// with franz-go's direct partition consumption (no group) and returns them
// by partition in the order received.
func consumeKgo(t testing.TB, ctx context.Context, addr, topic string, partitions int32, n int) [][]compatRecord {
	t.Helper()
	offsets := make(map[int32]kgo.Offset)
	for p := range partitions {
		offsets[p] = kgo.NewOffset().At(0)
	}
	cl := newKgoClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	defer cl.Close()
	got := make([][]compatRecord, partitions)
	total := 0
	for total < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", total, n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			cr := compatRecord{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value, ts: r.Timestamp}
			for _, h := range r.Headers {
				cr.headers = append(cr.headers, compatHeader{key: h.Key, value: h.Value})
			}
			got[r.Partition] = append(got[r.Partition], cr)
			total++
		})
	}
	return got
}

// storedBatches returns the headers of every record batch stored in
// topic/partition, read with raw Fetch requests, so a test sees exactly
// what the producer sent (the broker stores batches as they arrive).
func storedBatches(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, partition int32) []kmsg.RecordBatch {
	t.Helper()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	id := md.Topics[topic].ID
	var batches []kmsg.RecordBatch
	offset := int64(0)
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxBytes = 4 << 20
		req.SessionEpoch = -1 // no session
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = partition
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch %s/%d: response has %d topics", topic, partition, len(resp.Topics))
		}
		fp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
		}
		raw := fp.RecordBatches
		n := 0
		for len(raw) >= 12 {
			size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:])))
			if size > len(raw) {
				break // a partial batch at the end of the response
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw[:size]); err != nil {
				t.Fatalf("fetch %s/%d: bad batch at %d: %v", topic, partition, offset, err)
			}
			batches = append(batches, b)
			offset = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			raw = raw[size:]
			n++
		}
		if offset >= fp.HighWatermark {
			return batches
		}
		if n == 0 {
			t.Fatalf("fetch %s/%d at %d: no whole batch in %d bytes below high watermark %d",
				topic, partition, offset, len(fp.RecordBatches), fp.HighWatermark)
		}
	}
}

// codecCounts counts batches by compression codec.
func codecCounts(batches []kmsg.RecordBatch) map[compatCodec]int {
	m := make(map[compatCodec]int)
	for _, b := range batches {
		m[compatCodec(b.Attributes&0x7)]++
	}
	return m
}

// rawBatch encodes a v2 record batch (uncompressed, no producer id) of
// the given values with null keys, for tests that speak the protocol
// directly.
func rawBatch(values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		var body []byte
		body = append(body, 0)                          // attributes
		body = binary.AppendVarint(body, 0)             // timestamp delta
		body = binary.AppendVarint(body, int64(i))      // offset delta
		body = binary.AppendVarint(body, -1)            // null key
		body = binary.AppendVarint(body, int64(len(v))) // value
		body = append(body, v...)
		body = binary.AppendVarint(body, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	now := time.Now().UnixMilli()
	b := make([]byte, 0, 61+len(recs))
	b = binary.BigEndian.AppendUint64(b, 0)                     // base offset
	b = binary.BigEndian.AppendUint32(b, 0)                     // length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)            // partition leader epoch -1
	b = append(b, 2)                                            // magic
	b = binary.BigEndian.AppendUint32(b, 0)                     // crc, below
	b = binary.BigEndian.AppendUint16(b, 0)                     // attributes
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)-1)) // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(now))           // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(now))           // max timestamp
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff)    // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)                // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)            // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))   // record count
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// rawProduce sends one Produce request with batch for topic/partition and
// returns the partition's error code.
func rawProduce(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, partition int32, batch []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce to %s/%d: response has %d topics", topic, partition, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
