package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

// ChangelogWriter sends a store's writes to its changelog topic partition.
// The store's owner (the streams task) provides it: the task knows the
// topic, the partition and the producer, which it may share with its output
// (and its transaction). The state package only calls it.
type ChangelogWriter interface {
	// Send queues one change. A nil value is a tombstone (the key was
	// deleted); an empty value is a present, empty value. Send copies key
	// and value or finishes with them before it returns.
	Send(key, value []byte) error
	// Flush waits until every change sent so far is durably in the
	// changelog and returns the offset of the last record written, or -1 if
	// nothing was ever written. A write that failed is reported here (and
	// by later calls): the changelog then has a gap, and the store must be
	// restored before it is used again.
	Flush(ctx context.Context) (lastOffset int64, err error)
}

// Logged is a Backend that sends every write it applies to a
// ChangelogWriter after writing it to the backend below. Put a Cache in
// front of it so that repeated writes to a key between commits are sent
// once.
type Logged struct {
	inner Backend
	w     ChangelogWriter
}

// NewLogged returns inner with its writes logged to w.
func NewLogged(inner Backend, w ChangelogWriter) *Logged {
	return &Logged{inner: inner, w: w}
}

// Inner is the backend below the log.
func (l *Logged) Inner() Backend { return l.inner }

// Writer is the changelog writer.
func (l *Logged) Writer() ChangelogWriter { return l.w }

func (l *Logged) Get(key []byte) ([]byte, bool, error) { return l.inner.Get(key) }

func (l *Logged) Put(key, value []byte) error {
	if err := l.inner.Put(key, value); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return l.w.Send(key, value)
}

func (l *Logged) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	old, found, err := l.inner.PutIfAbsent(key, value)
	if err != nil || found {
		return old, found, err
	}
	if value == nil {
		value = []byte{}
	}
	return nil, false, l.w.Send(key, value)
}

func (l *Logged) Delete(key []byte) error {
	if err := l.inner.Delete(key); err != nil {
		return err
	}
	return l.w.Send(key, nil)
}

func (l *Logged) Range(from, to []byte) Iterator           { return l.inner.Range(from, to) }
func (l *Logged) Prefix(prefix []byte) Iterator            { return l.inner.Prefix(prefix) }
func (l *Logged) ApproximateCount() (int64, error)         { return l.inner.ApproximateCount() }
func (l *Logged) NewBatch() Batch                          { return l.inner.NewBatch() }
func (l *Logged) Close() error                             { return l.inner.Close() }
func (l *Logged) Flush(ctx context.Context) (int64, error) { return l.w.Flush(ctx) }

type sendReplay struct {
	w   ChangelogWriter
	err error
}

func (r *sendReplay) Put(key, value []byte) {
	if r.err == nil {
		if value == nil {
			value = []byte{}
		}
		r.err = r.w.Send(key, value)
	}
}

func (r *sendReplay) Delete(key []byte) {
	if r.err == nil {
		r.err = r.w.Send(key, nil)
	}
}

func (l *Logged) Write(b Batch) error {
	if err := l.inner.Write(b); err != nil {
		return err
	}
	r := &sendReplay{w: l.w}
	if err := b.Replay(r); err != nil {
		return err
	}
	return r.err
}

// SaramaChangelogWriter is a ChangelogWriter that produces to one topic
// partition through github.com/IBM/sarama's async producer, with acks from
// all in-sync replicas and one request in flight, so that records land in
// the order they were sent.
type SaramaChangelogWriter struct {
	topic     string
	partition int32
	client    sarama.Client
	producer  sarama.AsyncProducer
	done      sync.WaitGroup

	mu       sync.Mutex // guards the following
	inflight int
	idle     chan struct{} // closed when inflight drops to 0
	last     int64
	err      error
	closed   bool
}

// NewSaramaChangelogWriter connects to the brokers at addrs and returns a
// writer to topic's partition. cfg may be nil; the writer copies it and sets
// what it relies on (successes and errors returned, manual partitioning,
// acks=all, one request in flight).
func NewSaramaChangelogWriter(addrs []string, cfg *sarama.Config, topic string, partition int32) (*SaramaChangelogWriter, error) {
	c := sarama.NewConfig()
	if cfg != nil {
		copied := *cfg
		c = &copied
	}
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	client, err := sarama.NewClient(addrs, c)
	if err != nil {
		return nil, fmt.Errorf("state: changelog client: %w", err)
	}
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("state: changelog producer: %w", err)
	}
	w := &SaramaChangelogWriter{topic: topic, partition: partition, client: client, producer: p, last: -1}
	w.done.Add(2)
	go w.readSuccesses()
	go w.readErrors()
	return w, nil
}

func (w *SaramaChangelogWriter) readSuccesses() {
	defer w.done.Done()
	for m := range w.producer.Successes() {
		w.mu.Lock()
		if m.Offset > w.last {
			w.last = m.Offset
		}
		w.ackLocked()
		w.mu.Unlock()
	}
}

func (w *SaramaChangelogWriter) readErrors() {
	defer w.done.Done()
	for e := range w.producer.Errors() {
		w.mu.Lock()
		if w.err == nil {
			w.err = fmt.Errorf("state: changelog %s/%d: %w", w.topic, w.partition, e.Err)
		}
		w.ackLocked()
		w.mu.Unlock()
	}
}

// REQUIRES: w.mu held.
func (w *SaramaChangelogWriter) ackLocked() {
	w.inflight--
	if w.inflight == 0 {
		close(w.idle)
		w.idle = nil
	}
}

// ErrWriterClosed is returned by a ChangelogWriter used after Close.
var ErrWriterClosed = errors.New("state: changelog writer closed")

func (w *SaramaChangelogWriter) Send(key, value []byte) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.inflight == 0 {
		w.idle = make(chan struct{})
	}
	w.inflight++
	w.mu.Unlock()
	m := &sarama.ProducerMessage{Topic: w.topic, Partition: w.partition, Key: sarama.ByteEncoder(bytes.Clone(key))}
	if value != nil {
		m.Value = sarama.ByteEncoder(append([]byte{}, value...))
	}
	w.producer.Input() <- m
	return nil
}

func (w *SaramaChangelogWriter) Flush(ctx context.Context) (int64, error) {
	w.mu.Lock()
	idle := w.idle
	w.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// The successes of the whole flush have been seen: everything sent
	// before Flush was called is acknowledged or failed.
	return w.last, w.err
}

// Close flushes what was sent and closes the producer and its client.
func (w *SaramaChangelogWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.producer.AsyncClose()
	w.done.Wait()
	err := w.client.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return err
}
