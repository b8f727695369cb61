package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The franz-go load every broker gets, identically. Producers use acks=all
// (kgo's default) without compression and, because Eddy does not serve
// InitProducerID yet, without idempotence; with idempotence off kgo allows
// several produce requests in flight, and we allow Kafka's default of 5.
// Records have no key, so kgo's default partitioner spreads them over the
// partitions in 64 KiB runs. Values are random bytes.

// phase is one timed phase of a case: how much moved, how long it took,
// and how much CPU the whole process (broker and client) used meanwhile.
type phase struct {
	records int64
	bytes   int64 // record value bytes
	elapsed time.Duration
	cpu     time.Duration
	// requests and wire (record batch bytes) the raw fetch reader counts.
	requests, wire int64
}

func (p phase) mbps() float64 { return float64(p.bytes) / p.elapsed.Seconds() / 1e6 }
func (p phase) rps() float64  { return float64(p.records) / p.elapsed.Seconds() }

// loadLogger passes franz-go's warnings and errors (retries, broker errors)
// to stderr, so a misbehaving broker shows in the progress output.
func loadLogger(stderr io.Writer, who string) kgo.Opt {
	return kgo.WithLogger(kgo.BasicLogger(stderr, kgo.LogLevelWarn, func() string { return "  [franz-go " + who + "]" }))
}

func producerOpts(addr string, linger time.Duration, stderr io.Writer) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(5),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
		loadLogger(stderr, "producer"),
	}
}

func consumerOpts(addr, topic string, stderr io.Writer) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		loadLogger(stderr, "consumer"),
	}
}

// createTopic creates topic with the given partitions (replication 1)
// through cl, which also warms cl's connection to the broker.
func createTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("create topic %s with %d partitions: %w", topic, partitions, err)
	}
	return nil
}

func randomValue(size int) []byte {
	v := make([]byte, size)
	r := rand.NewChaCha8([32]byte{'e', 'd', 'd', 'y'})
	_, _ = r.Read(v)
	return v
}

// throughputLoad is one produce-then-consume case against one broker.
type throughputLoad struct {
	addr       string
	topic      string
	partitions int
	recordSize int
	records    int64         // produce exactly this many, or
	duration   time.Duration // if records is 0, produce for this long
	timeout    time.Duration // bound on each phase; a broker that stalls fails the case
	stderr     io.Writer
}

// produce creates the topic, then produces as fast as kgo's buffer allows
// until the record count or duration is reached, and flushes. The phase
// runs from the first Produce call until every record is acknowledged.
func (l throughputLoad) produce(ctx context.Context) (phase, error) {
	cl, err := kgo.NewClient(producerOpts(l.addr, 10*time.Millisecond, l.stderr)...)
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	if err := createTopic(ctx, cl, l.topic, l.partitions); err != nil {
		return phase{}, err
	}
	limit := l.duration + l.timeout
	if l.records > 0 {
		limit = l.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	value := randomValue(l.recordSize)
	var (
		acked    atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		pool     = sync.Pool{New: func() any { return new(kgo.Record) }}
	)
	done := func(r *kgo.Record, err error) {
		if err != nil {
			errOnce.Do(func() { firstErr = err; failed.Store(true) })
		} else {
			acked.Add(1)
		}
		*r = kgo.Record{}
		pool.Put(r)
	}

	cpu0, start := cpuTime(), time.Now()
	deadline := start.Add(l.duration)
	var sent int64
	for !failed.Load() {
		if l.records > 0 {
			if sent == l.records {
				break
			}
		} else if sent%256 == 0 && time.Now().After(deadline) {
			break
		}
		r := pool.Get().(*kgo.Record)
		r.Topic, r.Value = l.topic, value
		cl.Produce(ctx, r, done)
		sent++
	}
	flushErr := cl.Flush(ctx)
	p := phase{records: acked.Load(), elapsed: time.Since(start), cpu: cpuTime() - cpu0}
	p.bytes = p.records * int64(l.recordSize)
	switch {
	case firstErr != nil:
		return p, fmt.Errorf("produce: %d of %d records acknowledged; first error: %w", p.records, sent, firstErr)
	case flushErr != nil:
		return p, fmt.Errorf("produce: %d of %d records acknowledged after %v: %w", p.records, sent, p.elapsed.Round(time.Millisecond), flushErr)
	}
	return p, nil
}

// consume reads the topic from the start with a fresh client (no group)
// until it has want records. The phase runs from the first poll to the
// last record.
func (l throughputLoad) consume(ctx context.Context, want int64) (phase, error) {
	cl, err := kgo.NewClient(consumerOpts(l.addr, l.topic, l.stderr)...)
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()

	var p phase
	var bad error
	cpu0, start := cpuTime(), time.Now()
	for p.records < want && bad == nil {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			bad = fmt.Errorf("consume: %d of %d records after %v: %w", p.records, want, time.Since(start).Round(time.Millisecond), err)
			break
		}
		for _, fe := range fs.Errors() {
			bad = fmt.Errorf("consume: fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != l.recordSize && bad == nil {
				bad = fmt.Errorf("consume: record %s[%d]@%d has %d value bytes, want %d", r.Topic, r.Partition, r.Offset, len(r.Value), l.recordSize)
			}
			p.records++
			p.bytes += int64(len(r.Value))
		})
	}
	p.elapsed, p.cpu = time.Since(start), cpuTime()-cpu0
	if bad == nil && p.records != want {
		bad = fmt.Errorf("consume: got %d records, want %d", p.records, want)
	}
	return p, bad
}

// latencyLoad measures end-to-end latency: a producer with linger 0 sends
// records at a fixed rate while a consumer, started first and long-polling,
// receives them. Latency is from just before Produce is called for a record
// to the moment PollFetches hands it to the consumer. Go's timers wake at
// about 1 ms granularity on Linux, so the pacer sends the records due each
// time it wakes (about 10 at 10,000 records/s) rather than one every 100 µs.
type latencyLoad struct {
	addr       string
	topic      string
	partitions int
	recordSize int
	rate       int           // records per second
	warmup     time.Duration // sent first, not measured
	duration   time.Duration // measured
	timeout    time.Duration
	stderr     io.Writer
}

type latencyResult struct {
	p50, p99, max time.Duration
	samples       int
	rate          float64 // achieved send rate, records/s
	cpu           time.Duration
	brokerCPU     time.Duration // of cpu, the broker process's share (0 in process)
}

func (l latencyLoad) run(ctx context.Context) (latencyResult, error) {
	prod, err := kgo.NewClient(producerOpts(l.addr, 0, l.stderr)...)
	if err != nil {
		return latencyResult{}, err
	}
	defer prod.Close()
	if err := createTopic(ctx, prod, l.topic, l.partitions); err != nil {
		return latencyResult{}, err
	}
	cons, err := kgo.NewClient(consumerOpts(l.addr, l.topic, l.stderr)...)
	if err != nil {
		return latencyResult{}, err
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(ctx, l.warmup+l.duration+l.timeout)
	defer cancel()

	warm := int64(l.warmup.Seconds() * float64(l.rate))
	total := warm + int64(l.duration.Seconds()*float64(l.rate))
	base := time.Now()
	// sentAt[i] is when record i was handed to Produce, as time since base.
	sentAt := make([]atomic.Int64, total)

	type consumed struct {
		lats []time.Duration
		n    int64
		err  error
	}
	got := make(chan consumed, 1)
	go func() {
		var c consumed
		c.lats = make([]time.Duration, 0, total-warm)
		for c.n < total && c.err == nil {
			fs := cons.PollFetches(ctx)
			now := time.Since(base)
			if err := ctx.Err(); err != nil {
				c.err = fmt.Errorf("consume: %d of %d records: %w", c.n, total, err)
				break
			}
			for _, fe := range fs.Errors() {
				c.err = fmt.Errorf("consume: fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				c.n++
				if len(r.Value) < 8 {
					return
				}
				i := int64(binary.LittleEndian.Uint64(r.Value))
				if i >= warm && i < total {
					c.lats = append(c.lats, now-time.Duration(sentAt[i].Load()))
				}
			})
		}
		got <- c
	}()

	var (
		errOnce  sync.Once
		firstErr error
	)
	// Values are recycled once acknowledged, so the load itself makes next to
	// no garbage: at 10,000 records/s a fresh 1 KiB value per record would
	// set the pace of this process's collections, whose marking takes one of
	// the machine's two processors and shows up in the p99 of every system.
	free := make(chan []byte, 1<<14)
	done := func(r *kgo.Record, err error) {
		if err != nil {
			errOnce.Do(func() { firstErr = err })
		}
		select {
		case free <- r.Value:
		default:
		}
	}
	interval := time.Second / time.Duration(l.rate)
	var cpu0, bcpu0 time.Duration
	var measureStart time.Time
	for i := int64(0); i < total && ctx.Err() == nil; {
		due := base.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		for ; i < total && !base.Add(time.Duration(i)*interval).After(now); i++ {
			if i == warm {
				cpu0, bcpu0, measureStart = cpuTime(), brokerCPU(), time.Now()
			}
			var v []byte
			select {
			case v = <-free:
			default:
				v = make([]byte, max(l.recordSize, 8))
			}
			binary.LittleEndian.PutUint64(v, uint64(i))
			sentAt[i].Store(int64(time.Since(base)))
			prod.Produce(ctx, &kgo.Record{Topic: l.topic, Value: v}, done)
		}
	}
	sendElapsed := time.Since(measureStart)
	flushErr := prod.Flush(ctx)
	c := <-got
	res := latencyResult{cpu: cpuTime() - cpu0, brokerCPU: brokerCPU() - bcpu0, samples: len(c.lats)}
	res.rate = float64(total-warm) / sendElapsed.Seconds()
	switch {
	case firstErr != nil:
		return res, fmt.Errorf("produce: %w", firstErr)
	case flushErr != nil:
		return res, fmt.Errorf("produce flush: %w", flushErr)
	case c.err != nil:
		return res, c.err
	case len(c.lats) != int(total-warm):
		return res, fmt.Errorf("consume: %d measured records arrived, want %d", len(c.lats), total-warm)
	}
	slices.Sort(c.lats)
	res.p50, res.p99, res.max = percentile(c.lats, 0.50), percentile(c.lats, 0.99), c.lats[len(c.lats)-1]
	return res, nil
}
