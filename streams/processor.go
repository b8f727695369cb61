package streams

import (
	"time"

	"github.com/eddy-streams/eddy/state"
)

// Processor is a custom processor of the Processor API: Init is called once
// per task with the task's context, Process with every record, Close when
// the task closes. A processor instance belongs to one task and is called
// by one goroutine at a time.
type Processor[K, V, K2, V2 any] interface {
	Init(ctx *ProcessorContext[K2, V2]) error
	Process(r Record[K, V]) error
	Close() error
}

// PunctuationType says which clock drives a punctuation.
type PunctuationType int

const (
	// StreamTime punctuations follow the largest record timestamp the task
	// has seen; they fire while records arrive.
	StreamTime PunctuationType = iota
	// WallClockTime punctuations follow the system clock (the test
	// driver's clock in tests).
	WallClockTime
)

type punctuation struct {
	typ      PunctuationType
	interval time.Duration
	next     time.Time
	fn       func(now time.Time) error
}

// punctuate runs the punctuations of typ that are due at now.
func (t *task) punctuate(typ PunctuationType, now time.Time) error {
	for _, p := range t.puncts {
		if p.typ != typ || now.Before(p.next) {
			continue
		}
		if p.next.IsZero() {
			p.next = now
		}
		for !p.next.After(now) {
			p.next = p.next.Add(p.interval)
		}
		if err := p.fn(now); err != nil {
			return err
		}
	}
	return nil
}

// ProcessorContext is a custom processor's view of its task: forwarding,
// stores and punctuations. It is valid from Init until Close, in the
// processor's own calls and punctuations only.
type ProcessorContext[K, V any] struct {
	t   *task
	out *emitter[K, V]
}

// Forward passes a record to the processor's children.
func (c *ProcessorContext[K, V]) Forward(r Record[K, V]) error { return c.out.emit(r) }

// TaskID is the task the processor runs in.
func (c *ProcessorContext[K, V]) TaskID() TaskID { return c.t.id }

// StreamTime is the largest record timestamp the task has seen.
func (c *ProcessorContext[K, V]) StreamTime() time.Time { return c.t.streamTime }

// Topic, Partition and Offset locate the input record being processed; they
// are empty (and -1) in punctuations.
func (c *ProcessorContext[K, V]) Topic() string {
	if c.t.cur == nil {
		return ""
	}
	return c.t.cur.topic
}

// Partition: see Topic.
func (c *ProcessorContext[K, V]) Partition() int32 {
	if c.t.cur == nil {
		return -1
	}
	return c.t.cur.partition
}

// Offset: see Topic.
func (c *ProcessorContext[K, V]) Offset() int64 {
	if c.t.cur == nil {
		return -1
	}
	return c.t.cur.offset
}

// Schedule calls fn every interval of the given clock. A stream-time
// punctuation first fires with the first record after Schedule.
func (c *ProcessorContext[K, V]) Schedule(interval time.Duration, typ PunctuationType, fn func(now time.Time) error) {
	if interval <= 0 {
		interval = time.Millisecond
	}
	c.t.puncts = append(c.t.puncts, &punctuation{typ: typ, interval: interval, fn: fn})
}

// storeHolder is any ProcessorContext.
type storeHolder interface{ task() *task }

func (c *ProcessorContext[K, V]) task() *task { return c.t }

// GetStore returns the key-value store name of the processor's task; the
// processor must have been added with the store's name (Process).
func GetStore[K, V any](c storeHolder, name string) (*state.KeyValueStore[K, V], error) {
	return kvStore[K, V](c.task(), name)
}

// AddStore declares a key-value store for custom processors, with its
// changelog "<application id>-<name>-changelog".
func AddStore[K, V any](b *Builder, m Materialized[K, V]) string {
	if m.Name == "" {
		m.Name = b.newName("STATE-STORE")
	}
	b.addStore(kvSpec(m.Name, serdeOr(m.Keys), serdeOr(m.Values)))
	return m.Name
}

// Process runs a custom processor over the stream. newProcessor is called
// once per task; stores names the stores (AddStore) it uses. The result
// carries DefaultSerde serdes.
func Process[K, V, K2, V2 any](s Stream[K, V], name string, newProcessor func() Processor[K, V, K2, V2], stores ...string) Stream[K2, V2] {
	b := s.b
	for _, st := range stores {
		if b.stores[st] == nil {
			b.fail("processor %s uses unknown store %q", name, st)
		}
	}
	var n *node
	n = b.addNode(kindProcessor, b.nameOr(name, "KSTREAM-PROCESSOR"), []*node{s.n}, func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		out := newOut[K2, V2](t, n)
		p := newProcessor()
		if err := p.Init(&ProcessorContext[K2, V2]{t: t, out: out}); err != nil {
			return err
		}
		t.closers = append(t.closers, p.Close)
		in.next = append(in.next, p.Process)
		return nil
	})
	n.stores = stores
	return derive[K, V, K2, V2](s, n, nil, nil, true)
}
