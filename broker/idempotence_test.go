package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/internal/records"
)

// idempotentBatch is a v2 batch of n records from producer pid/epoch whose
// first record has sequence seq.
func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Value: fmt.Appendf(nil, "seq-%d", int(seq)+i)}
	}
	b := records.AppendBatch(nil, 1, recs...)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func produceRaw(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// TestIdempotentSequenceChecks drives the sequence rules with raw batches,
// across a broker restart: retries are answered with their first offsets,
// gaps and old epochs are refused with Kafka's codes.
func TestIdempotentSequenceChecks(t *testing.T) {
	dir := t.TempDir()
	withDir := func(c *Config) { c.DataDir = dir }
	b := startBroker(t, withDir)
	ctx := testCtx(t)
	cl := newKgo(t, b.Addr())
	produceN(t, b.Addr(), "idem", 1, 0)

	initResp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(initResp.ErrorCode))
	}
	pid := initResp.ProducerID

	expect := func(cl *kgo.Client, what string, batch []byte, code *kerr.Error, offset int64) {
		t.Helper()
		got := produceRaw(t, ctx, cl, "idem", batch)
		var want int16
		if code != nil {
			want = code.Code
		}
		if got.ErrorCode != want {
			t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got.ErrorCode), code)
		}
		if code == nil && got.BaseOffset != offset {
			t.Fatalf("%s: base offset %d, want %d", what, got.BaseOffset, offset)
		}
	}
	var ok *kerr.Error
	expect(cl, "first batch", idempotentBatch(pid, 0, 0, 3), ok, 0)
	expect(cl, "second batch", idempotentBatch(pid, 0, 3, 2), ok, 3)
	expect(cl, "retry of the first batch", idempotentBatch(pid, 0, 0, 3), ok, 0)
	expect(cl, "retry of the second batch", idempotentBatch(pid, 0, 3, 2), ok, 3)
	expect(cl, "a gap", idempotentBatch(pid, 0, 9, 1), kerr.OutOfOrderSequenceNumber, 0)
	expect(cl, "next in sequence", idempotentBatch(pid, 0, 5, 1), ok, 5)

	b.Close()
	b2 := startBroker(t, withDir)
	cl2 := newKgo(t, b2.Addr())
	expect(cl2, "retry after restart", idempotentBatch(pid, 0, 5, 1), ok, 5)
	expect(cl2, "gap after restart", idempotentBatch(pid, 0, 7, 1), kerr.OutOfOrderSequenceNumber, 0)
	expect(cl2, "new epoch from sequence 0", idempotentBatch(pid, 1, 0, 1), ok, 6)
	expect(cl2, "old epoch", idempotentBatch(pid, 0, 6, 1), kerr.InvalidProducerEpoch, 0)
	expect(cl2, "new epoch not from 0", idempotentBatch(pid, 2, 5, 1), kerr.OutOfOrderSequenceNumber, 0)

	// Nothing but the accepted batches is in the log: offsets 0..6.
	if end := b2.topics.partition("idem", 0).log.EndOffset(); end != 7 {
		t.Errorf("log end %d, want 7", end)
	}
	// A new producer id differs from the one before the restart.
	again, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl2)
	if err != nil || again.ProducerID == pid {
		t.Errorf("producer id after restart %d (err %v), first was %d", again.ProducerID, err, pid)
	}
}

// chaosConn closes itself after a random number of written bytes, as a
// network that drops connections would.
type chaosConn struct {
	net.Conn
	left atomic.Int64
}

func (c *chaosConn) Write(b []byte) (int, error) {
	if c.left.Add(-int64(len(b))) < 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// TestIdempotentProduceSurvivesDroppedConnections produces with franz-go's
// default (idempotent) producer over connections that drop at random, then
// checks every record is in the log exactly once and in order.
func TestIdempotentProduceSurvivesDroppedConnections(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "chaos", 4, 0)
	var drops atomic.Int64
	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 7))
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		rngMu.Lock()
		budget := 2000 + rng.Int64N(40000)
		rngMu.Unlock()
		cc := &chaosConn{Conn: nc}
		cc.left.Store(budget)
		drops.Add(1)
		return cc, nil
	}
	const n = 20000
	cl := newKgo(t, b.Addr(), kgo.Dialer(dial), kgo.RecordRetries(1000), kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(2000))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: "chaos", Key: fmt.Appendf(nil, "k%d", i%4), Value: fmt.Appendf(nil, "%d", i)},
			func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
				wg.Done()
			})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d produces failed", failed.Load())
	}
	if drops.Load() < 10 {
		t.Fatalf("only %d connections: the chaos did not happen", drops.Load())
	}

	consumer := newKgo(t, b.Addr(), kgo.ConsumeTopics("chaos"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := make(map[string]int, n)
	last := map[int32]int{}
	for len(seen) < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (have %d of %d)", err, len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			if seen[v] > 1 {
				t.Errorf("record %s written %d times", v, seen[v])
			}
			var i int
			fmt.Sscan(v, &i)
			if prev, ok := last[r.Partition]; ok && i <= prev {
				t.Errorf("partition %d: record %d after %d", r.Partition, i, prev)
			}
			last[r.Partition] = i
		})
	}
	var total int64
	for _, p := range b.topics.partitionsOf(b.topics.get("chaos")) {
		total += p.log.EndOffset()
	}
	if total != n {
		t.Errorf("logs hold %d records, want exactly %d", total, n)
	}
	t.Logf("%d connections dialled", drops.Load())
}
