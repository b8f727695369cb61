package streams

import (
	"errors"
	"fmt"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// Stream is an unbounded sequence of records with keys of type K and values
// of type V. Operations that keep K and V are methods; operations that
// change a type are package functions (Map, MapValues, FlatMap, SelectKey,
// GroupBy, Join, ...), because Go methods cannot take type parameters of
// their own.
//
// A Stream carries serdes for its keys and values, used where it is written
// to a topic or a store; operations that change a type switch to
// DefaultSerde for it unless given one (WithSerdes).
type Stream[K, V any] struct {
	b      *Builder
	n      *node
	keys   state.Serde[K]
	values state.Serde[V]
	// keyChanged is set after an operation that may change keys (Map,
	// SelectKey, FlatMap): grouping or joining it first repartitions.
	keyChanged bool
}

// Consumed says how to read a topic: serdes (nil means DefaultSerde), the
// event time of a record (nil means the record's Kafka timestamp) and the
// source node's name.
//
// As in Kafka Streams, the event time Timestamp gives is the record's
// timestamp everywhere: the runtime decodes a record when it reaches the
// head of its partition's buffer and chooses the next record of a task by
// it, and it drives stream time, windows and joins. A record it gives a
// time before 1970 (the zero time included), like one that cannot be
// decoded, goes to Config.OnDeserializationError.
type Consumed[K, V any] struct {
	Keys      state.Serde[K]
	Values    state.Serde[V]
	Timestamp func(r Record[K, V]) time.Time
	Name      string
}

// Produced says how to write a topic: serdes (nil means the stream's), the
// partitioner (nil means DefaultPartition of the encoded key) and the sink
// node's name.
type Produced[K, V any] struct {
	Keys        state.Serde[K]
	Values      state.Serde[V]
	Partitioner Partitioner[K, V]
	Name        string
}

// From reads topic as a stream.
func From[K, V any](b *Builder, topic string, c Consumed[K, V]) Stream[K, V] {
	keys, values := serdeOr(c.Keys), serdeOr(c.Values)
	name := b.nameOr(c.Name, "KSTREAM-SOURCE")
	var n *node
	n = b.addSource(name, topicRef{name: topic}, func(t *task) error {
		out := newOut[K, V](t, n)
		t.sources[n.source] = sourceFunc(t, n.source, keys, values, c.Timestamp, out.emit)
		return nil
	})
	return Stream[K, V]{b: b, n: n, keys: keys, values: values}
}

// sourceFunc decodes raw records and passes them on; records that cannot be
// decoded, or whose extracted timestamp is invalid, go to the
// deserialization error handler. With an extractor (ts), the source also
// registers a prepare function, so that the runtime orders the record by
// its extracted timestamp (decoding it once, when it reaches the head of
// its partition's queue).
func sourceFunc[K, V any](t *task, ref topicRef, keys state.Serde[K], values state.Serde[V], ts func(Record[K, V]) time.Time, next func(Record[K, V]) error) func(*rawRecord) error {
	if ts != nil {
		t.prepares[ref] = func(raw *rawRecord) { prepareRecord(raw, keys, values, ts, false) }
	}
	return func(raw *rawRecord) error {
		r, err := takeRecord(raw, keys, values, ts, false)
		if err != nil {
			return t.env.deserializationError(t, raw, err)
		}
		t.observe(r.Timestamp)
		return next(r)
	}
}

// errInvalidTimestamp is what a record whose extracted timestamp is before
// 1970 (Kafka Streams: negative) fails with; the ErrorPolicy handles it.
var errInvalidTimestamp = errors.New("invalid timestamp")

// decodeRecord decodes raw and gives it its event time: ts's (when not nil)
// or the record's Kafka timestamp. With tombstones, a nil value is not
// decoded (the zero V).
func decodeRecord[K, V any](raw *rawRecord, keys state.Serde[K], values state.Serde[V], ts func(Record[K, V]) time.Time, tombstones bool) (Record[K, V], error) {
	k, err := keys.Decode(raw.key)
	if err != nil {
		return Record[K, V]{}, err
	}
	var v V
	if !tombstones || raw.value != nil {
		if v, err = values.Decode(raw.value); err != nil {
			return Record[K, V]{}, err
		}
	}
	r := Record[K, V]{Key: k, Value: v, Timestamp: raw.timestamp, Headers: raw.headers}
	if ts != nil {
		r.Timestamp = ts(r)
		if r.Timestamp.UnixMilli() < 0 && tombstones && raw.value == nil {
			r.Timestamp = raw.timestamp // a deletion has no value to take a time from
		} else if r.Timestamp.UnixMilli() < 0 {
			return Record[K, V]{}, fmt.Errorf("streams: timestamp extractor gave %v: %w", r.Timestamp, errInvalidTimestamp)
		}
	}
	return r, nil
}

// prepareRecord decodes raw ahead of processing (see rawRecord.prepared).
func prepareRecord[K, V any](raw *rawRecord, keys state.Serde[K], values state.Serde[V], ts func(Record[K, V]) time.Time, tombstones bool) {
	r, err := decodeRecord(raw, keys, values, ts, tombstones)
	raw.prepared = true
	if err != nil {
		raw.err, raw.eventTime = err, time.Time{}
		return
	}
	raw.decoded, raw.eventTime = r, r.Timestamp
}

// takeRecord is the decoded record of raw: the one prepared, else decoded
// now.
func takeRecord[K, V any](raw *rawRecord, keys state.Serde[K], values state.Serde[V], ts func(Record[K, V]) time.Time, tombstones bool) (Record[K, V], error) {
	if raw.prepared {
		if raw.err != nil {
			return Record[K, V]{}, raw.err
		}
		if r, ok := raw.decoded.(Record[K, V]); ok {
			return r, nil
		}
	}
	return decodeRecord(raw, keys, values, ts, tombstones)
}

// streamOp adds a processor fed by s whose records go to out.
func streamOp[K, V, K2, V2 any](s Stream[K, V], prefix string, op func(out *emitter[K2, V2]) func(Record[K, V]) error) *node {
	var n *node
	n = s.b.addNode(kindProcessor, s.b.newName(prefix), []*node{s.n}, func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		out := newOut[K2, V2](t, n)
		in.next = append(in.next, op(out))
		return nil
	})
	return n
}

func derive[K, V, K2, V2 any](s Stream[K, V], n *node, keys state.Serde[K2], values state.Serde[V2], keyChanged bool) Stream[K2, V2] {
	return Stream[K2, V2]{b: s.b, n: n, keys: serdeOr(keys), values: serdeOr(values), keyChanged: keyChanged}
}

// WithSerdes returns s with other serdes for its keys and values (nil keeps
// the current one).
func (s Stream[K, V]) WithSerdes(keys state.Serde[K], values state.Serde[V]) Stream[K, V] {
	if keys != nil {
		s.keys = keys
	}
	if values != nil {
		s.values = values
	}
	return s
}

// Filter keeps the records for which keep returns true.
func (s Stream[K, V]) Filter(keep func(K, V) bool) Stream[K, V] {
	n := streamOp(s, "KSTREAM-FILTER", func(out *emitter[K, V]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			if keep(r.Key, r.Value) {
				return out.emit(r)
			}
			return nil
		}
	})
	s.n = n
	return s
}

// FilterNot drops the records for which drop returns true.
func (s Stream[K, V]) FilterNot(drop func(K, V) bool) Stream[K, V] {
	n := streamOp(s, "KSTREAM-FILTER", func(out *emitter[K, V]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			if !drop(r.Key, r.Value) {
				return out.emit(r)
			}
			return nil
		}
	})
	s.n = n
	return s
}

// Peek calls fn with every record and passes the record on.
func (s Stream[K, V]) Peek(fn func(K, V)) Stream[K, V] {
	n := streamOp(s, "KSTREAM-PEEK", func(out *emitter[K, V]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			fn(r.Key, r.Value)
			return out.emit(r)
		}
	})
	s.n = n
	return s
}

// Foreach calls fn with every record; it ends the stream.
func (s Stream[K, V]) Foreach(fn func(K, V)) {
	streamOp(s, "KSTREAM-FOREACH", func(out *emitter[K, V]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			fn(r.Key, r.Value)
			return nil
		}
	})
}

// Merge returns a stream of the records of s and of others.
func (s Stream[K, V]) Merge(others ...Stream[K, V]) Stream[K, V] {
	parents := []*node{s.n}
	changed := s.keyChanged
	for _, o := range others {
		parents = append(parents, o.n)
		changed = changed || o.keyChanged
	}
	var n *node
	n = s.b.addNode(kindProcessor, s.b.newName("KSTREAM-MERGE"), parents, func(t *task) error {
		out := newOut[K, V](t, n)
		for _, p := range parents {
			in, err := inOf[K, V](t, p)
			if err != nil {
				return err
			}
			in.next = append(in.next, out.emit)
		}
		return nil
	})
	s.n = n
	s.keyChanged = changed
	return s
}

// Split sends each record to the stream of the first predicate that
// matches, or to the last stream returned (one more than the predicates)
// when none does: Kafka Streams' split().branch(...).defaultBranch().
func (s Stream[K, V]) Split(preds ...func(K, V) bool) []Stream[K, V] {
	split := streamOp(s, "KSTREAM-BRANCH", func(out *emitter[K, V]) func(Record[K, V]) error {
		return out.emit
	})
	branches := make([]Stream[K, V], len(preds)+1)
	for i := range branches {
		i := i
		var n *node
		n = s.b.addNode(kindProcessor, s.b.newName("KSTREAM-BRANCHCHILD"), []*node{split}, func(t *task) error {
			in, err := inOf[K, V](t, split)
			if err != nil {
				return err
			}
			out := newOut[K, V](t, n)
			in.next = append(in.next, func(r Record[K, V]) error {
				for j := 0; j < i; j++ {
					if preds[j](r.Key, r.Value) {
						return nil
					}
				}
				if i < len(preds) && !preds[i](r.Key, r.Value) {
					return nil
				}
				return out.emit(r)
			})
			return nil
		})
		b := s
		b.n = n
		branches[i] = b
	}
	return branches
}

// To writes the stream to topic.
func (s Stream[K, V]) To(topic string, p Produced[K, V]) {
	keys, values := s.keys, s.values
	if p.Keys != nil {
		keys = p.Keys
	}
	if p.Values != nil {
		values = p.Values
	}
	addSink(s.b, s.n, s.b.nameOr(p.Name, "KSTREAM-SINK"), topicRef{name: topic}, keys, values, p.Partitioner)
}

func addSink[K, V any](b *Builder, parent *node, name string, ref topicRef, keys state.Serde[K], values state.Serde[V], part Partitioner[K, V]) *node {
	n := b.addNode(kindSink, name, []*node{parent}, func(t *task) error {
		in, err := inOf[K, V](t, parent)
		if err != nil {
			return err
		}
		topic := ref.resolve(t.env.appID())
		in.next = append(in.next, func(r Record[K, V]) error {
			kb, err := keys.Encode(r.Key)
			if err != nil {
				return err
			}
			vb, err := values.Encode(r.Value)
			if err != nil {
				return err
			}
			p := int32(-1)
			if part != nil {
				np, err := t.env.partitions(topic)
				if err != nil {
					return err
				}
				p = part(r.Key, r.Value, np)
			}
			return t.env.produce(topic, p, kb, vb, r.Timestamp, r.Headers)
		})
		return nil
	})
	n.sink = ref
	return n
}

// Repartitioned names an explicit or automatic repartition topic
// ("<application id>-<Name>-repartition") and gives its partition count
// (0: as many as the writing sub-topology has tasks) and serdes (nil: the
// stream's).
type Repartitioned[K, V any] struct {
	Name       string
	Partitions int32
	Keys       state.Serde[K]
	Values     state.Serde[V]
}

// Repartition writes the stream to an internal topic partitioned by its
// current keys and reads it back: downstream of it, records with equal keys
// are in the same task.
func (s Stream[K, V]) Repartition(r Repartitioned[K, V]) Stream[K, V] {
	return repartition(s, r, "KSTREAM-REPARTITION")
}

func repartition[K, V any](s Stream[K, V], r Repartitioned[K, V], prefix string) Stream[K, V] {
	b := s.b
	base := r.Name
	if base == "" {
		base = b.newName(prefix)
	}
	if r.Keys != nil {
		s.keys = r.Keys
	}
	if r.Values != nil {
		s.values = r.Values
	}
	ref := topicRef{name: base + "-repartition", internal: true}
	b.repartitions = append(b.repartitions, &repartitionSpec{ref: ref, partitions: r.Partitions})
	addSink(b, s.n, base+"-repartition-sink", ref, s.keys, s.values, nil)
	keys, values := s.keys, s.values
	var n *node
	n = b.addSource(base+"-repartition-source", ref, func(t *task) error {
		out := newOut[K, V](t, n)
		t.sources[ref] = sourceFunc(t, ref, keys, values, nil, out.emit)
		return nil
	})
	s.n = n
	s.keyChanged = false
	return s
}

// Map replaces every record's key and value.
func Map[K, V, K2, V2 any](s Stream[K, V], fn func(K, V) (K2, V2)) Stream[K2, V2] {
	n := streamOp(s, "KSTREAM-MAP", func(out *emitter[K2, V2]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			k, v := fn(r.Key, r.Value)
			return out.emit(Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers})
		}
	})
	return derive[K, V, K2, V2](s, n, nil, nil, true)
}

// MapValues replaces every record's value; keys stay, so no repartitioning
// follows.
func MapValues[K, V, V2 any](s Stream[K, V], fn func(K, V) V2) Stream[K, V2] {
	n := streamOp(s, "KSTREAM-MAPVALUES", func(out *emitter[K, V2]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			return out.emit(Record[K, V2]{Key: r.Key, Value: fn(r.Key, r.Value), Timestamp: r.Timestamp, Headers: r.Headers})
		}
	})
	return derive[K, V, K, V2](s, n, s.keys, nil, s.keyChanged)
}

// SelectKey gives every record a new key.
func SelectKey[K, V, K2 any](s Stream[K, V], fn func(K, V) K2) Stream[K2, V] {
	n := streamOp(s, "KSTREAM-KEY-SELECT", func(out *emitter[K2, V]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			return out.emit(Record[K2, V]{Key: fn(r.Key, r.Value), Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers})
		}
	})
	return derive[K, V, K2, V](s, n, nil, s.values, true)
}

// FlatMap replaces every record with zero or more records.
func FlatMap[K, V, K2, V2 any](s Stream[K, V], fn func(K, V) []KeyValue[K2, V2]) Stream[K2, V2] {
	n := streamOp(s, "KSTREAM-FLATMAP", func(out *emitter[K2, V2]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			for _, kv := range fn(r.Key, r.Value) {
				if err := out.emit(Record[K2, V2]{Key: kv.Key, Value: kv.Value, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
					return err
				}
			}
			return nil
		}
	})
	return derive[K, V, K2, V2](s, n, nil, nil, true)
}

// FlatMapValues replaces every record with zero or more records of the same
// key.
func FlatMapValues[K, V, V2 any](s Stream[K, V], fn func(K, V) []V2) Stream[K, V2] {
	n := streamOp(s, "KSTREAM-FLATMAPVALUES", func(out *emitter[K, V2]) func(Record[K, V]) error {
		return func(r Record[K, V]) error {
			for _, v := range fn(r.Key, r.Value) {
				if err := out.emit(Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
					return err
				}
			}
			return nil
		}
	})
	return derive[K, V, K, V2](s, n, s.keys, nil, s.keyChanged)
}
