package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// TaskID names a task: a sub-topology and the partition of its inputs it
// processes.
type TaskID struct {
	SubTopology int
	Partition   int32
}

func (id TaskID) String() string { return fmt.Sprintf("%d_%d", id.SubTopology, id.Partition) }

// rawRecord is a record as read from a topic.
type rawRecord struct {
	topic     string
	partition int32
	offset    int64
	key       []byte
	value     []byte
	timestamp time.Time
	headers   []Header

	// Set when a source with a timestamp extractor prepared the record at
	// the head of its partition's queue (Kafka Streams' RecordQueue): the
	// decoded record (a Record[K, V]) and its extracted timestamp, or the
	// error that decoding or extraction gave. The record is decoded once.
	prepared  bool
	decoded   any
	eventTime time.Time
	err       error
}

// orderTime is the timestamp the record is chosen by among the heads of a
// task's partitions: its extracted timestamp once prepared (the zero time,
// first, for a record that failed, so that it goes on to the error policy
// at once), else its Kafka timestamp.
func (r *rawRecord) orderTime() time.Time {
	if r.prepared {
		return r.eventTime
	}
	return r.timestamp
}

// taskEnv is what a task needs from whatever runs it: the sarama runtime or
// the test driver.
type taskEnv interface {
	appID() string
	// produce sends a record; partition -1 means DefaultPartition of key.
	produce(topic string, partition int32, key, value []byte, ts time.Time, headers []Header) error
	partitions(topic string) (int32, error)
	// openStore opens (and restores) a store of t; ctx cancels a
	// restoration.
	openStore(ctx context.Context, t *task, spec *storeSpec) (*state.Store, error)
	// deserializationError decides what happens to a record that cannot be
	// decoded: nil skips it, an error stops the task.
	deserializationError(t *task, r *rawRecord, err error) error
	// lateRecord counts a record that a windowed operation dropped because
	// its window had closed, and logs it at debug level.
	lateRecord(t *task, op string, ts time.Time, attrs ...any)
	// metrics are the Prometheus series to record into (nil: none).
	metrics() *appMetrics
	// globalStore is the typed store of a global table.
	globalStore(name string) (any, error)
}

// task runs one sub-topology over one partition of its inputs. Its methods
// are called by one goroutine at a time (the runtime holds task.mu).
type task struct {
	id      TaskID
	sub     *SubTopology
	env     taskEnv
	outs    map[int]any // node id -> *emitter[K, V] or *tableEmitter[K, V]
	getters map[int]any // table node id -> getter[K, V]
	sources map[topicRef]func(r *rawRecord) error
	// prepares are the sources' prepare functions, for sources whose event
	// time is not the record's Kafka timestamp: they decode a record and
	// extract its timestamp before it is chosen (see rawRecord.prepared).
	prepares map[topicRef]func(r *rawRecord)
	stores   map[string]*taskStore
	m        *taskMetrics // nil without metrics
	puncts   []*punctuation
	closers  []func() error // custom processors' Close
	// The record being processed.
	cur *rawRecord
	// streamTime is Kafka Streams' stream time: the largest timestamp of
	// the records the task has read, after timestamp extraction (sources
	// call observe).
	streamTime time.Time
	// clocks are the stream times that windowed operators observe, by
	// processor name (see observedTime).
	clocks map[string]*observedTime
}

// observedTime is the stream time one processor observes, as Kafka
// Streams' KStreamWindowAggregate observedStreamTime: the largest
// timestamp of the records that processor has seen (the zero time before
// the first). It is at most the task's stream time, and behind it when
// the processor sees only part of the task's records (a branch, a merge
// with another topic, a repartition).
type observedTime struct{ t time.Time }

func (c *observedTime) observe(ts time.Time) {
	if ts.After(c.t) {
		c.t = ts
	}
}

// clock returns the stream time that processor name observes.
func (t *task) clock(name string) *observedTime {
	c := t.clocks[name]
	if c == nil {
		c = &observedTime{}
		t.clocks[name] = c
	}
	return c
}

// observedTimes are the processors' observed stream times, for committing
// (processors that have seen no record are left out).
func (t *task) observedTimes() map[string]time.Time {
	if len(t.clocks) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(t.clocks))
	for name, c := range t.clocks {
		if !c.t.IsZero() {
			out[name] = c.t
		}
	}
	return out
}

// resume sets the stream times committed with the task's offsets: the
// task's, and the processors' (nil when the commit had none, from an
// earlier version: each processor then resumes at the task's stream time,
// which may count as late a record that the processor would have taken).
func (t *task) resume(stream time.Time, procs map[string]time.Time) {
	t.observe(stream)
	for name, c := range t.clocks {
		if procs == nil {
			c.observe(stream)
		} else {
			c.observe(procs[name])
		}
	}
}

type taskStore struct {
	spec  *storeSpec
	store *state.Store
	typed any
	// savedSeen is the cache's Saved count already reported.
	savedSeen int64
}

// newTask opens the task's stores, restoring them (ctx cancels that), and
// instantiates its nodes.
func newTask(ctx context.Context, id TaskID, sub *SubTopology, env taskEnv) (*task, error) {
	t := &task{
		id: id, sub: sub, env: env,
		outs:     map[int]any{},
		getters:  map[int]any{},
		sources:  map[topicRef]func(r *rawRecord) error{},
		prepares: map[topicRef]func(r *rawRecord){},
		stores:   map[string]*taskStore{},
		clocks:   map[string]*observedTime{},
		m:        env.metrics().forTask(id),
	}
	for _, spec := range sub.stores {
		st, err := env.openStore(ctx, t, spec)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("streams: task %s: open store %s: %w", id, spec.name, err)
		}
		t.stores[spec.name] = &taskStore{spec: spec, store: st, typed: spec.open(st.Backend())}
	}
	for _, n := range sub.nodes {
		if err := n.build(t); err != nil {
			t.close()
			return nil, fmt.Errorf("streams: task %s: node %s: %w", id, n.name, err)
		}
	}
	return t, nil
}

// process runs one input record through the task.
func (t *task) process(r *rawRecord, ref topicRef) error {
	return t.processWith(t.sources[ref], r)
}

// processWith runs one input record through the task's source src.
func (t *task) processWith(src func(*rawRecord) error, r *rawRecord) error {
	if src == nil {
		return fmt.Errorf("streams: task %s has no source for topic %s", t.id, r.topic)
	}
	t.cur = r
	err := src(r)
	t.cur = nil
	if err != nil {
		return err
	}
	return t.punctuate(StreamTime, t.streamTime)
}

// observe advances stream time to ts, the (extracted) timestamp of a record
// the task has just read.
func (t *task) observe(ts time.Time) {
	if ts.After(t.streamTime) {
		t.streamTime = ts
	}
}

// lateRecord counts and logs a record dropped by a windowed operation.
func (t *task) lateRecord(op string, ts time.Time, attrs ...any) {
	t.m.lateRecord()
	t.env.lateRecord(t, op, ts, attrs...)
}

// close closes the task's stores without committing.
func (t *task) close() error {
	var first error
	for _, c := range t.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	t.closers = nil
	t.m.closed(t)
	for _, s := range t.stores {
		if err := s.store.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func kvStore[K, V any](t *task, name string) (*state.KeyValueStore[K, V], error) {
	s := t.stores[name]
	if s == nil {
		return nil, fmt.Errorf("streams: store %q is not in task %s", name, t.id)
	}
	kv, ok := s.typed.(*state.KeyValueStore[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: store %q is a %T, not a key-value store of these types", name, s.typed)
	}
	return kv, nil
}

func kvSpec[K, V any](name string, keys state.Serde[K], values state.Serde[V]) *storeSpec {
	return &storeSpec{name: name, open: func(b state.Backend) any {
		return state.NewKeyValueStore(b, keys, values)
	}}
}

// emitter fans a node's output records out to its children.
type emitter[K, V any] struct {
	next []func(Record[K, V]) error
}

func (e *emitter[K, V]) emit(r Record[K, V]) error {
	for _, f := range e.next {
		if err := f(r); err != nil {
			return err
		}
	}
	return nil
}

// tableEmitter fans a table's updates out: a new value for a key, or its
// deletion.
type tableEmitter[K, V any] struct {
	next []func(k K, v V, deleted bool, ts time.Time) error
}

func (e *tableEmitter[K, V]) emit(k K, v V, deleted bool, ts time.Time) error {
	for _, f := range e.next {
		if err := f(k, v, deleted, ts); err != nil {
			return err
		}
	}
	return nil
}

// getter looks a key up in a table.
type getter[K, V any] func(k K) (V, bool, error)

func newOut[K, V any](t *task, n *node) *emitter[K, V] {
	e := &emitter[K, V]{}
	t.outs[n.id] = e
	return e
}

func newTableOut[K, V any](t *task, n *node) *tableEmitter[K, V] {
	e := &tableEmitter[K, V]{}
	t.outs[n.id] = e
	return e
}

func inOf[K, V any](t *task, parent *node) (*emitter[K, V], error) {
	e, ok := t.outs[parent.id].(*emitter[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: node %s has no stream output of the expected type (%T)", parent.name, t.outs[parent.id])
	}
	return e, nil
}

func tableInOf[K, V any](t *task, parent *node) (*tableEmitter[K, V], error) {
	e, ok := t.outs[parent.id].(*tableEmitter[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: node %s has no table output of the expected type (%T)", parent.name, t.outs[parent.id])
	}
	return e, nil
}

func getterOf[K, V any](t *task, n *node) (getter[K, V], error) {
	g, ok := t.getters[n.id].(getter[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: table %s is not readable in task %s", n.name, t.id)
	}
	return g, nil
}
