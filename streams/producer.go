package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// producer sends the records of all tasks of an app (outputs, repartition
// and changelog records) in batches, through sarama's Broker.Produce over
// a client of its own (its produce requests do not queue behind the
// consumer's long-polling fetches on a shared connection).
//
// A record sent is appended to its partition's pending batch: no channel,
// no goroutine per record. One sender goroutine takes every pending batch,
// sends one produce request per leader broker (concurrently), and handles
// the responses; records sent meanwhile wait for the next round, so that
// batches grow with the load (Kafka's linger without a timer). A failed
// batch is retried (Producer.Retry.Max times, Producer.Retry.Backoff apart)
// before anything else is sent, so records of a partition land in the
// order sent, which changelogs need, without idempotence.
//
// The producer counts records not yet acknowledged, so that a commit can
// wait until every record sent so far is written, and remembers the last
// offset written per partition (changelog writers report it).
type producer struct {
	client     sarama.Client
	version    int16
	acks       sarama.RequiredAcks
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	batchBytes int // largest batch per partition per request
	maxPending int // bytes buffered before send blocks

	wake chan struct{} // capacity 1: records are pending
	done chan struct{} // closed when the sender has stopped

	mu           sync.Mutex // guards the following
	space        sync.Cond  // signalled when pending bytes drop or on failure
	pending      map[topicPartition]*pendingBatch
	pendingBytes int
	inflight     int           // records sent and not acknowledged (pending included)
	idle         chan struct{} // closed when inflight drops to 0
	err          error         // the first failed send
	closing      bool
	last         map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

type pendingBatch struct {
	first   time.Time // timestamp of the first record
	records []*sarama.Record
	bytes   int
}

const recordOverhead = 32 // bytes per record on top of key, value and headers (an upper bound)

func newProducer(client sarama.Client) (*producer, error) {
	conf := client.Config()
	p := &producer{
		client:     client,
		version:    produceVersion(conf.Version),
		acks:       conf.Producer.RequiredAcks,
		timeout:    conf.Producer.Timeout,
		retries:    conf.Producer.Retry.Max,
		backoff:    conf.Producer.Retry.Backoff,
		batchBytes: conf.Producer.MaxMessageBytes,
		maxPending: 32 << 20,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		pending:    map[topicPartition]*pendingBatch{},
		last:       map[topicPartition]int64{},
	}
	if p.batchBytes <= 0 {
		p.batchBytes = 1 << 20
	}
	if p.retries < 3 {
		p.retries = 3
	}
	if p.backoff <= 0 {
		p.backoff = 100 * time.Millisecond
	}
	p.space.L = &p.mu
	go p.run()
	return p, nil
}

// produceVersion is the produce request version for the client's Kafka
// version, as sarama's async producer picks it, and at least 3 (record
// batches, Kafka 0.11).
func produceVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V3_7_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_8_0_0):
		return 9
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 6
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 5
	}
	return 3
}

// send queues a record (key and value are not copied: the caller must not
// modify them afterwards). A zero timestamp means now. It blocks while more
// than maxPending bytes wait to be sent, and returns the first failure of an
// earlier send.
func (p *producer) send(topic string, partition int32, key, value []byte, ts time.Time, headers []Header) error {
	if ts.IsZero() {
		ts = time.Now()
	}
	ts = ts.Truncate(time.Millisecond)
	size := len(key) + len(value) + recordOverhead
	r := &sarama.Record{Key: key, Value: value}
	if len(headers) > 0 {
		r.Headers = make([]*sarama.RecordHeader, len(headers))
		for i, h := range headers {
			r.Headers[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
			size += len(h.Key) + len(h.Value) + 10
		}
	}
	tp := topicPartition{topic, partition}
	p.mu.Lock()
	for p.pendingBytes >= p.maxPending && p.err == nil && !p.closing {
		p.space.Wait()
	}
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if p.closing {
		p.mu.Unlock()
		return errors.New("streams: producer closed")
	}
	b := p.pending[tp]
	if b == nil {
		b = &pendingBatch{first: ts}
		p.pending[tp] = b
	}
	r.TimestampDelta = ts.Sub(b.first)
	b.records = append(b.records, r)
	b.bytes += size
	p.pendingBytes += size
	if p.inflight == 0 {
		p.idle = make(chan struct{})
	}
	p.inflight++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is the sender goroutine.
func (p *producer) run() {
	defer close(p.done)
	for {
		p.mu.Lock()
		for len(p.pending) == 0 && !p.closing {
			p.mu.Unlock()
			<-p.wake
			p.mu.Lock()
		}
		if len(p.pending) == 0 && p.closing {
			p.mu.Unlock()
			return
		}
		take := p.takeLocked()
		p.mu.Unlock()
		p.space.Broadcast()
		p.sendRound(take)
	}
}

// takeLocked takes the pending batches, each cut at batchBytes (the rest
// stays pending for the next round). REQUIRES: p.mu held.
func (p *producer) takeLocked() map[topicPartition]*pendingBatch {
	take := make(map[topicPartition]*pendingBatch, len(p.pending))
	for tp, b := range p.pending {
		if b.bytes <= p.batchBytes {
			take[tp] = b
			p.pendingBytes -= b.bytes
			delete(p.pending, tp)
			continue
		}
		// Split: the first records up to batchBytes go now.
		n, bytes := 0, 0
		for n < len(b.records) {
			s := len(b.records[n].Key) + len(b.records[n].Value) + recordOverhead
			for _, h := range b.records[n].Headers {
				s += len(h.Key) + len(h.Value) + 10
			}
			if n > 0 && bytes+s > p.batchBytes {
				break
			}
			bytes += s
			n++
		}
		head := &pendingBatch{first: b.first, records: b.records[:n:n], bytes: bytes}
		rest := &pendingBatch{first: b.first, records: b.records[n:], bytes: b.bytes - bytes}
		// Timestamp deltas of the rest are relative to b.first: keep it.
		take[tp] = head
		p.pending[tp] = rest
		p.pendingBytes -= bytes
	}
	return take
}

// sendRound sends the batches, retrying the failed ones until they are
// written or out of retries, and acknowledges their records.
func (p *producer) sendRound(batches map[topicPartition]*pendingBatch) {
	for attempt := 0; len(batches) > 0; attempt++ {
		failed, err := p.sendOnce(batches)
		if len(failed) == 0 {
			return
		}
		if attempt >= p.retries {
			n := 0
			for _, b := range failed {
				n += len(b.records)
			}
			p.ack(n, fmt.Errorf("streams: produce: %w", err))
			return
		}
		time.Sleep(p.backoff)
		topics := map[string]bool{}
		for tp := range failed {
			topics[tp.topic] = true
		}
		for t := range topics {
			_ = p.client.RefreshMetadata(t)
		}
		batches = failed
	}
}

// sendOnce sends one request per leader broker and returns the batches that
// failed with a retriable error (and that error). Batches that succeed or
// fail for good are acknowledged.
func (p *producer) sendOnce(batches map[topicPartition]*pendingBatch) (map[topicPartition]*pendingBatch, error) {
	type brokerReq struct {
		b   *sarama.Broker
		req *sarama.ProduceRequest
		tps []topicPartition
	}
	reqs := map[int32]*brokerReq{}
	failed := map[topicPartition]*pendingBatch{}
	var lastErr error
	for tp, b := range batches {
		leader, err := p.client.Leader(tp.topic, tp.partition)
		if err != nil {
			failed[tp], lastErr = b, err
			continue
		}
		br := reqs[leader.ID()]
		if br == nil {
			br = &brokerReq{b: leader, req: &sarama.ProduceRequest{
				RequiredAcks: p.acks,
				Timeout:      int32(p.timeout / time.Millisecond),
				Version:      p.version,
			}}
			reqs[leader.ID()] = br
		}
		br.req.AddBatch(tp.topic, tp.partition, recordBatch(b))
		br.tps = append(br.tps, tp)
	}
	type result struct {
		br   *brokerReq
		resp *sarama.ProduceResponse
		err  error
	}
	results := make(chan result, len(reqs))
	for _, br := range reqs {
		if len(reqs) == 1 {
			resp, err := br.b.Produce(br.req)
			results <- result{br, resp, err}
			break
		}
		go func() {
			resp, err := br.b.Produce(br.req)
			results <- result{br, resp, err}
		}()
	}
	acked := 0
	var fatal error
	var last []struct {
		tp  topicPartition
		off int64
	}
	for range reqs {
		r := <-results
		if r.err != nil {
			// The connection is broken or the request timed out: close it
			// (Leader reopens it) and retry.
			_ = r.br.b.Close()
			for _, tp := range r.br.tps {
				failed[tp] = batches[tp]
			}
			lastErr = r.err
			continue
		}
		for _, tp := range r.br.tps {
			b := batches[tp]
			var kerr sarama.KError
			var off int64 = -1
			if r.resp == nil { // acks=0
				kerr = sarama.ErrNoError
			} else if blk := r.resp.GetBlock(tp.topic, tp.partition); blk == nil {
				failed[tp], lastErr = b, sarama.ErrIncompleteResponse
				continue
			} else {
				kerr, off = blk.Err, blk.Offset
			}
			switch {
			case kerr == sarama.ErrNoError:
				acked += len(b.records)
				if off >= 0 {
					last = append(last, struct {
						tp  topicPartition
						off int64
					}{tp, off + int64(len(b.records)) - 1})
				}
			case retriable(kerr):
				failed[tp], lastErr = b, kerr
			default:
				acked += len(b.records)
				if fatal == nil {
					fatal = fmt.Errorf("streams: produce to %s/%d: %w", tp.topic, tp.partition, kerr)
				}
			}
		}
	}
	p.mu.Lock()
	for _, l := range last {
		if old, ok := p.last[l.tp]; !ok || l.off > old {
			p.last[l.tp] = l.off
		}
	}
	p.mu.Unlock()
	p.ack(acked, fatal)
	return failed, lastErr
}

func retriable(err sarama.KError) bool {
	switch err {
	case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrRequestTimedOut,
		sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrUnknownTopicOrPartition,
		sarama.ErrNetworkException, sarama.ErrKafkaStorageError,
		sarama.ErrBrokerNotAvailable, sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch,
		sarama.ErrOffsetNotAvailable:
		return true
	}
	return false
}

func recordBatch(b *pendingBatch) *sarama.RecordBatch {
	rb := &sarama.RecordBatch{
		Version:         2,
		FirstTimestamp:  b.first,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		Records:         b.records,
		LastOffsetDelta: int32(len(b.records) - 1),
	}
	var maxDelta time.Duration
	for i, r := range b.records {
		r.OffsetDelta = int64(i)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	rb.MaxTimestamp = b.first.Add(maxDelta)
	return rb
}

// ack counts n records as acknowledged (written, or failed with err).
func (p *producer) ack(n int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && p.err == nil {
		p.err = err
		p.space.Broadcast()
	}
	p.inflight -= n
	if p.inflight == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

// flush waits until every record sent so far is acknowledged or failed and
// returns the first failure.
func (p *producer) flush(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *producer) lastOffset(tp topicPartition) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.last[tp]; ok {
		return off
	}
	return -1
}

// close sends what is pending, stops the sender and returns the first
// failure.
func (p *producer) close() error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.space.Broadcast()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// changelogWriter is a state.ChangelogWriter over the app's producer.
type changelogWriter struct {
	p  *producer
	tp topicPartition
}

func (w *changelogWriter) Send(key, value []byte) error {
	k := append([]byte(nil), key...)
	var v []byte
	if value != nil {
		v = append([]byte{}, value...)
	}
	return w.p.send(w.tp.topic, w.tp.partition, k, v, time.Time{}, nil)
}

func (w *changelogWriter) Flush(ctx context.Context) (int64, error) {
	if err := w.p.flush(ctx); err != nil {
		return -1, err
	}
	return w.p.lastOffset(w.tp), nil
}
