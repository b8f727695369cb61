package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compatRoundTripRecords is how many records each client × codec subtest
// produces and reads back; -short drops it tenfold.
func compatRoundTripRecords() int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

const compatRoundTripPartitions = 8

// TestCompatRoundTrip produces records with keys, headers and timestamps to
// an 8-partition topic with sarama and with franz-go, once per compression
// codec, at acks=all, and reads every record back with the same client's
// own partition consumer: each must come back byte-identical at dense,
// ordered offsets. It also checks, from the stored batches, that the
// client really used the codec (the broker stores batches as sent).
func TestCompatRoundTrip(t *testing.T) {
	b := startBroker(t)
	n := compatRoundTripRecords()
	recs := compatRecords(n, compatRoundTripPartitions)
	want := byPartition(recs, compatRoundTripPartitions)

	clients := []struct {
		name    string
		produce func(t *testing.T, ctx context.Context, addr, topic string, codec compatCodec, recs []compatRecord)
		consume func(t *testing.T, ctx context.Context, addr, topic string, partitions int32, n int) [][]compatRecord
	}{
		{"sarama", produceSarama, consumeSarama},
		{"franz-go", produceKgo, func(t *testing.T, ctx context.Context, addr, topic string, partitions int32, n int) [][]compatRecord {
			return consumeKgo(t, ctx, addr, topic, partitions, n)
		}},
	}
	for _, c := range clients {
		for _, codec := range compatCodecs {
			t.Run(fmt.Sprintf("%s/%s", c.name, codec), func(t *testing.T) {
				ctx := testCtx(t)
				topic := fmt.Sprintf("roundtrip-%s-%s", c.name, codec)
				admin := newKgoClient(t, b.Addr())
				createTopic(t, ctx, admin, topic, compatRoundTripPartitions)

				start := time.Now()
				c.produce(t, ctx, b.Addr(), topic, codec, recs)
				produced := time.Now()
				got := c.consume(t, ctx, b.Addr(), topic, compatRoundTripPartitions, n)
				t.Logf("produced %d records in %v, consumed them in %v", n,
					produced.Sub(start).Round(time.Millisecond), time.Since(produced).Round(time.Millisecond))
				checkRoundTrip(t, want, got)

				// Every batch carries the codec asked for; franz-go may
				// leave a batch uncompressed when compressing would not
				// shrink it (a batch of one tiny record), so "none" is
				// tolerated as long as some batches are compressed.
				counts := make(map[compatCodec]int)
				for p := range int32(compatRoundTripPartitions) {
					for k, v := range codecCounts(storedBatches(t, ctx, admin, topic, p)) {
						counts[k] += v
					}
				}
				t.Logf("stored batches by codec: %v", counts)
				for k, v := range counts {
					if k != codec && k != 0 {
						t.Errorf("%d batches stored with codec %s, want %s", v, k, codec)
					}
				}
				if counts[codec] == 0 {
					t.Errorf("no batch stored with codec %s: %v", codec, counts)
				}
			})
		}
	}
}

var saramaCodecs = map[compatCodec]sarama.CompressionCodec{
	0: sarama.CompressionNone,
	1: sarama.CompressionGZIP,
	2: sarama.CompressionSnappy,
	3: sarama.CompressionLZ4,
	4: sarama.CompressionZSTD,
}

var kgoCodecs = map[compatCodec]kgo.CompressionCodec{
	0: kgo.NoCompression(),
	1: kgo.GzipCompression(),
	2: kgo.SnappyCompression(),
	3: kgo.Lz4Compression(),
	4: kgo.ZstdCompression(),
}

// produceSarama sends recs with sarama's async producer at acks=all to the
// partitions they name and waits for every acknowledgement.
func produceSarama(t *testing.T, ctx context.Context, addr, topic string, codec compatCodec, recs []compatRecord) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "eddy-compat"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = saramaCodecs[codec]
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	// One request in flight per broker keeps per-partition order even if a
	// request were retried.
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	var (
		acked    int
		firstErr error
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for acked < len(recs) {
			select {
			case <-p.Successes():
			case pe := <-p.Errors():
				if firstErr == nil {
					firstErr = pe.Err
				}
			case <-ctx.Done():
				return
			}
			acked++
		}
	}()
	for i := range recs {
		r := &recs[i]
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.partition, Timestamp: r.ts}
		if r.key != nil {
			m.Key = sarama.ByteEncoder(r.key)
		}
		if r.value != nil {
			m.Value = sarama.ByteEncoder(r.value)
		}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.key), Value: h.value})
		}
		select {
		case p.Input() <- m:
		case <-ctx.Done():
			t.Fatalf("sarama: produced %d of %d records: %v", i, len(recs), ctx.Err())
		}
	}
	<-done
	if err := p.Close(); err != nil {
		t.Errorf("sarama producer close: %v", err)
	}
	if firstErr != nil {
		t.Fatalf("sarama produce: %v", firstErr)
	}
	if acked != len(recs) {
		t.Fatalf("sarama: %d of %d records acknowledged: %v", acked, len(recs), ctx.Err())
	}
}

// consumeSarama reads n records from the oldest offset of every partition
// with sarama partition consumers, one goroutine per partition so that
// none stalls the shared fetch.
func consumeSarama(t *testing.T, ctx context.Context, addr, topic string, partitions int32, n int) [][]compatRecord {
	return consumeSaramaWith(t, ctx, addr, topic, partitions, n, sarama.NewConfig())
}

func consumeSaramaWith(t testing.TB, ctx context.Context, addr, topic string, partitions int32, n int, cfg *sarama.Config) [][]compatRecord {
	t.Helper()
	cfg.ClientID = "eddy-compat"
	cfg.Consumer.Return.Errors = true
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	ends := make([]int64, partitions)
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	total := int64(0)
	for p := range partitions {
		if ends[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			t.Fatalf("sarama newest offset of %s/%d: %v", topic, p, err)
		}
		total += ends[p]
	}
	client.Close()
	if total != int64(n) {
		t.Errorf("sarama: partitions' end offsets sum to %d, want %d", total, n)
	}

	got := make([][]compatRecord, partitions)
	errs := make([]error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama consume %s/%d: %v", topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close() // drains what is buffered
			for int64(len(got[p])) < ends[p] {
				select {
				case m := <-pc.Messages():
					cr := compatRecord{partition: m.Partition, offset: m.Offset, key: m.Key, value: m.Value, ts: m.Timestamp}
					for _, h := range m.Headers {
						cr.headers = append(cr.headers, compatHeader{key: string(h.Key), value: h.Value})
					}
					got[p] = append(got[p], cr)
				case err := <-pc.Errors():
					errs[p] = err
					return
				case <-ctx.Done():
					errs[p] = fmt.Errorf("consumed %d of %d: %w", len(got[p]), ends[p], ctx.Err())
					return
				}
			}
		}()
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			t.Fatalf("sarama partition consumer %s/%d: %v", topic, p, err)
		}
	}
	return got
}

// produceKgo sends recs with franz-go at acks=all to the partitions they
// name and waits for every acknowledgement. The broker does not offer
// InitProducerId, so franz-go produces without a producer id.
func produceKgo(t *testing.T, ctx context.Context, addr, topic string, codec compatCodec, recs []compatRecord) {
	cl := newKgoClient(t, addr,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgoCodecs[codec]),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic),
	)
	defer cl.Close()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range recs {
		r := &recs[i]
		kr := &kgo.Record{Partition: r.partition, Key: r.key, Value: r.value, Timestamp: r.ts}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.key, Value: h.value})
		}
		wg.Add(1)
		cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("franz-go produce: %v", firstErr)
	}
}
