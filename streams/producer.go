package streams

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

// producer wraps a sarama AsyncProducer shared by all tasks of an app: it
// counts records in flight, so that a commit can wait until every output
// and changelog record sent so far is acknowledged, and remembers the last
// offset written per partition (changelog writers report it).
type producer struct {
	p    sarama.AsyncProducer
	done sync.WaitGroup

	mu       sync.Mutex // guards the following
	inflight int
	idle     chan struct{} // closed when inflight drops to 0
	err      error         // the first failed send
	last     map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

func newProducer(client sarama.Client) (*producer, error) {
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("streams: producer: %w", err)
	}
	pr := &producer{p: p, last: map[topicPartition]int64{}}
	pr.done.Add(2)
	go func() {
		defer pr.done.Done()
		for m := range p.Successes() {
			pr.mu.Lock()
			tp := topicPartition{m.Topic, m.Partition}
			if old, ok := pr.last[tp]; !ok || m.Offset > old {
				pr.last[tp] = m.Offset
			}
			pr.ackLocked()
			pr.mu.Unlock()
		}
	}()
	go func() {
		defer pr.done.Done()
		for e := range p.Errors() {
			pr.mu.Lock()
			if pr.err == nil {
				pr.err = fmt.Errorf("streams: produce to %s/%d: %w", e.Msg.Topic, e.Msg.Partition, e.Err)
			}
			pr.ackLocked()
			pr.mu.Unlock()
		}
	}()
	return pr, nil
}

// REQUIRES: p.mu held.
func (p *producer) ackLocked() {
	p.inflight--
	if p.inflight == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

func (p *producer) send(m *sarama.ProducerMessage) error {
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if p.inflight == 0 {
		p.idle = make(chan struct{})
	}
	p.inflight++
	p.mu.Unlock()
	p.p.Input() <- m
	return nil
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

func (p *producer) close() error {
	p.p.AsyncClose()
	p.done.Wait()
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
	m := &sarama.ProducerMessage{Topic: w.tp.topic, Partition: w.tp.partition, Key: sarama.ByteEncoder(append([]byte(nil), key...))}
	if value != nil {
		m.Value = sarama.ByteEncoder(append([]byte{}, value...))
	}
	return w.p.send(m)
}

func (w *changelogWriter) Flush(ctx context.Context) (int64, error) {
	if err := w.p.flush(ctx); err != nil {
		return -1, err
	}
	return w.p.lastOffset(w.tp), nil
}
