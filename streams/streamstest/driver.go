// Package streamstest runs a streams topology in memory, without a broker,
// for unit tests: pipe records into its input topics, read what it writes
// to its output topics and look into its stores.
//
// The driver behaves like Kafka Streams' TopologyTestDriver: every topic
// has one partition, so every sub-topology has one task; records are
// processed one at a time, synchronously, in the order piped; a record
// written to a topic the topology reads itself (a repartition topic, say)
// is processed right after the record that wrote it; stores are in memory
// and have no cache, so every update reaches the output. A Driver is not
// safe for concurrent use.
package streamstest

import (
	"time"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testhook"
)

// Config configures a Driver. The zero value is usable.
type Config struct {
	// ApplicationID prefixes internal topic names; "test" if empty.
	ApplicationID string
	// WallClock is the driver's initial wall-clock time (default: the Unix
	// epoch); AdvanceWallClock moves it and fires wall-clock punctuations.
	WallClock time.Time
	// OnDeserializationError and DeadLetterTopic are as in streams.Config.
	OnDeserializationError streams.ErrorPolicy
	DeadLetterTopic        string
}

// Driver runs one topology in memory.
type Driver struct {
	e   testhook.Engine
	cfg Config
}

// New starts a driver for t.
func New(t *streams.Topology, cfg Config) (*Driver, error) {
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "test"
	}
	e, err := testhook.NewEngine(t, testhook.Config{
		ApplicationID:   cfg.ApplicationID,
		WallClock:       cfg.WallClock,
		OnError:         int(cfg.OnDeserializationError),
		DeadLetterTopic: cfg.DeadLetterTopic,
	})
	if err != nil {
		return nil, err
	}
	return &Driver{e: e, cfg: cfg}, nil
}

// Close closes the driver's tasks and stores.
func (d *Driver) Close() error { return d.e.Close() }

// AdvanceWallClock moves the wall clock and runs the wall-clock
// punctuations that are due.
func (d *Driver) AdvanceWallClock(by time.Duration) error { return d.e.AdvanceWallClock(by) }

// StreamTime is the largest record timestamp seen by any task.
func (d *Driver) StreamTime() time.Time { return d.e.StreamTime() }

// LateRecordsDropped counts the records that windowed aggregations and
// stream-stream joins dropped because their window had closed (see
// streams.App.LateRecordsDropped).
func (d *Driver) LateRecordsDropped() int64 { return d.e.LateRecordsDropped() }

// InternalTopic returns the run-time name of an internal topic ("<name>"
// as Describe shows it becomes "<application id>-<name>").
func (d *Driver) InternalTopic(name string) string { return d.cfg.ApplicationID + "-" + name }

// KeyValueStore returns the store name for reading (and, in tests, writing).
func KeyValueStore[K, V any](d *Driver, name string) (*state.KeyValueStore[K, V], error) {
	s, err := d.e.Store(name)
	if err != nil {
		return nil, err
	}
	kv, ok := s.(*state.KeyValueStore[K, V])
	if !ok {
		return nil, &wrongType{name: name, got: s}
	}
	return kv, nil
}

// WindowStore returns the store name of a time or sliding windowed
// aggregation, whose values carry the largest timestamp aggregated into
// them (Kafka Streams' timestamped window store).
func WindowStore[K, V any](d *Driver, name string) (*state.WindowStore[K, streams.ValueAndTimestamp[V]], error) {
	s, err := d.e.Store(name)
	if err != nil {
		return nil, err
	}
	ws, ok := s.(*state.WindowStore[K, streams.ValueAndTimestamp[V]])
	if !ok {
		return nil, &wrongType{name: name, got: s}
	}
	return ws, nil
}

// SessionStore returns the store name of a session windowed aggregation.
func SessionStore[K, V any](d *Driver, name string) (*state.SessionStore[K, V], error) {
	s, err := d.e.Store(name)
	if err != nil {
		return nil, err
	}
	ss, ok := s.(*state.SessionStore[K, V])
	if !ok {
		return nil, &wrongType{name: name, got: s}
	}
	return ss, nil
}

type wrongType struct {
	name string
	got  any
}

func (e *wrongType) Error() string {
	return "streamstest: store " + e.name + " has other types: " + typeName(e.got)
}

// InputTopic pipes typed records into a topic.
type InputTopic[K, V any] struct {
	d       *Driver
	topic   string
	keys    state.Serde[K]
	values  state.Serde[V]
	next    time.Time
	advance time.Duration
}

// NewInputTopic returns an input for topic; nil serdes mean
// streams.DefaultSerde. Records piped without a time get start, then
// start+advance, and so on.
func NewInputTopic[K, V any](d *Driver, topic string, keys state.Serde[K], values state.Serde[V], start time.Time, advance time.Duration) *InputTopic[K, V] {
	if keys == nil {
		keys = streams.DefaultSerde[K]()
	}
	if values == nil {
		values = streams.DefaultSerde[V]()
	}
	return &InputTopic[K, V]{d: d, topic: topic, keys: keys, values: values, next: start, advance: advance}
}

// Pipe sends one record with the topic's next timestamp.
func (in *InputTopic[K, V]) Pipe(k K, v V) error {
	ts := in.next
	in.next = in.next.Add(in.advance)
	return in.PipeAt(k, v, ts)
}

// PipeAt sends one record with the given timestamp.
func (in *InputTopic[K, V]) PipeAt(k K, v V, ts time.Time) error {
	kb, err := in.keys.Encode(k)
	if err != nil {
		return err
	}
	vb, err := in.values.Encode(v)
	if err != nil {
		return err
	}
	if vb == nil {
		vb = []byte{}
	}
	return in.d.e.Pipe(in.topic, kb, vb, ts, nil)
}

// PipeTombstone sends a record with a nil value (a deletion, for a table).
func (in *InputTopic[K, V]) PipeTombstone(k K) error {
	kb, err := in.keys.Encode(k)
	if err != nil {
		return err
	}
	ts := in.next
	in.next = in.next.Add(in.advance)
	return in.d.e.Pipe(in.topic, kb, nil, ts, nil)
}

// PipeRaw sends a record of raw bytes, bypassing the serdes.
func (in *InputTopic[K, V]) PipeRaw(key, value []byte) error {
	ts := in.next
	in.next = in.next.Add(in.advance)
	return in.d.e.Pipe(in.topic, key, value, ts, nil)
}

// PipeAll sends records in order with successive timestamps.
func (in *InputTopic[K, V]) PipeAll(kvs ...streams.KeyValue[K, V]) error {
	for _, kv := range kvs {
		if err := in.Pipe(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// OutputRecord is a record read from an output topic. A tombstone (nil
// value) has the zero Value and Tombstone set.
type OutputRecord[K, V any] struct {
	Key       K
	Value     V
	Tombstone bool
	Timestamp time.Time
	Headers   []streams.Header
}

// OutputTopic reads typed records from a topic.
type OutputTopic[K, V any] struct {
	d      *Driver
	topic  string
	keys   state.Serde[K]
	values state.Serde[V]
}

// NewOutputTopic returns a reader of topic; nil serdes mean
// streams.DefaultSerde.
func NewOutputTopic[K, V any](d *Driver, topic string, keys state.Serde[K], values state.Serde[V]) *OutputTopic[K, V] {
	if keys == nil {
		keys = streams.DefaultSerde[K]()
	}
	if values == nil {
		values = streams.DefaultSerde[V]()
	}
	return &OutputTopic[K, V]{d: d, topic: topic, keys: keys, values: values}
}

// ReadRecords removes and returns every record written to the topic since
// the last read.
func (o *OutputTopic[K, V]) ReadRecords() ([]OutputRecord[K, V], error) {
	raw := o.d.e.Output(o.topic)
	out := make([]OutputRecord[K, V], 0, len(raw))
	for _, r := range raw {
		k, err := o.keys.Decode(r.Key)
		if err != nil {
			return out, err
		}
		rec := OutputRecord[K, V]{Key: k, Tombstone: r.Value == nil, Timestamp: r.Timestamp}
		if r.Value != nil {
			if rec.Value, err = o.values.Decode(r.Value); err != nil {
				return out, err
			}
		}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, streams.Header(h))
		}
		out = append(out, rec)
	}
	return out, nil
}

// ReadKeyValues is ReadRecords without timestamps and headers.
func (o *OutputTopic[K, V]) ReadKeyValues() ([]streams.KeyValue[K, V], error) {
	recs, err := o.ReadRecords()
	kvs := make([]streams.KeyValue[K, V], len(recs))
	for i, r := range recs {
		kvs[i] = streams.KV(r.Key, r.Value)
	}
	return kvs, err
}

// ReadToMap reads every new record of o into m: the latest value per key,
// and a tombstone deletes. m may be nil.
func ReadToMap[K comparable, V any](o *OutputTopic[K, V], m map[K]V) (map[K]V, error) {
	if m == nil {
		m = map[K]V{}
	}
	recs, err := o.ReadRecords()
	for _, r := range recs {
		if r.Tombstone {
			delete(m, r.Key)
		} else {
			m[r.Key] = r.Value
		}
	}
	return m, err
}
