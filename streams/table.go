package streams

import (
	"time"

	"github.com/eddy-streams/eddy/state"
)

// Table is a changelog stream seen as the latest value per key. A table
// from a topic or an aggregation is materialized in a state store (with a
// changelog topic "<application id>-<store>-changelog"); tables derived by
// Filter, MapTableValues or joins compute their values from the tables they
// come from when looked up.
type Table[K, V any] struct {
	b      *Builder
	n      *node
	keys   state.Serde[K]
	values state.Serde[V]
	store  string // the materializing store, if any
}

// Materialized names a table's store (empty: a generated name) and gives
// its serdes (nil: DefaultSerde, or the stream's where there is one).
type Materialized[K, V any] struct {
	Name   string
	Keys   state.Serde[K]
	Values state.Serde[V]
	// Retention is how long a window or session store keeps windows,
	// measured back from stream time (zero: the window size plus the grace
	// period, the least it may be). Key-value stores ignore it.
	Retention time.Duration
}

// StoreName is the name of the store materializing t, or "" when t is
// computed from other tables.
func (t Table[K, V]) StoreName() string { return t.store }

// TableFrom reads topic as a table: a record with a nil value deletes its
// key. The table is materialized in a store named m.Name (or a generated
// name). A deletion for which c.Timestamp gives an invalid time (before
// 1970: the zero time, say, from the zero V it is given) takes its Kafka
// timestamp instead, rather than going to the error policy.
func TableFrom[K, V any](b *Builder, topic string, c Consumed[K, V], m Materialized[K, V]) Table[K, V] {
	keys, values := serdeOverride(m.Keys, serdeOr(c.Keys)), serdeOverride(m.Values, serdeOr(c.Values))
	srcName := b.nameOr(c.Name, "KSTREAM-SOURCE")
	storeName := b.storeNameOr(m.Name, topic+"-STATE-STORE")
	var src *node
	src = b.addSource(srcName, topicRef{name: topic}, func(t *task) error {
		out := newTableOut[K, V](t, src)
		if c.Timestamp != nil {
			t.prepares[src.source] = func(raw *rawRecord) { prepareRecord(raw, keys, values, c.Timestamp, true) }
		}
		t.sources[src.source] = func(raw *rawRecord) error {
			r, err := takeRecord(raw, keys, values, c.Timestamp, true)
			if err != nil {
				return t.env.deserializationError(t, raw, err)
			}
			k, v, ts := r.Key, r.Value, r.Timestamp
			t.observe(ts)
			return out.emit(k, v, raw.value == nil, ts)
		}
		return nil
	})
	b.addStore(kvSpec(storeName, keys, values))
	var n *node
	n = b.addNode(kindProcessor, b.newName("KTABLE-SOURCE"), []*node{src}, func(t *task) error {
		in, err := tableInOf[K, V](t, src)
		if err != nil {
			return err
		}
		store, err := kvStore[K, V](t, storeName)
		if err != nil {
			return err
		}
		out := newTableOut[K, V](t, n)
		t.getters[n.id] = getter[K, V](store.Get)
		in.next = append(in.next, func(k K, v V, deleted bool, ts time.Time) error {
			if deleted {
				if err := store.Delete(k); err != nil {
					return err
				}
			} else if err := store.Put(k, v); err != nil {
				return err
			}
			return out.emit(k, v, deleted, ts)
		})
		return nil
	})
	n.stores = []string{storeName}
	return Table[K, V]{b: b, n: n, keys: keys, values: values, store: storeName}
}

// tableOp adds a table processor fed by t's updates; look is its getter.
func tableOp[K, V, V2 any](tb Table[K, V], prefix string,
	op func(out *tableEmitter[K, V2]) func(K, V, bool, time.Time) error,
	look func(parent getter[K, V]) getter[K, V2]) *node {
	var n *node
	n = tb.b.addNode(kindProcessor, tb.b.newName(prefix), []*node{tb.n}, func(t *task) error {
		in, err := tableInOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		g, err := getterOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		out := newTableOut[K, V2](t, n)
		t.getters[n.id] = look(g)
		in.next = append(in.next, op(out))
		return nil
	})
	return n
}

// Filter keeps the keys whose values match keep; an update that does not
// match deletes its key downstream.
func (tb Table[K, V]) Filter(keep func(K, V) bool) Table[K, V] {
	n := tableOp(tb, "KTABLE-FILTER", func(out *tableEmitter[K, V]) func(K, V, bool, time.Time) error {
		return func(k K, v V, deleted bool, ts time.Time) error {
			if !deleted && !keep(k, v) {
				var zero V
				return out.emit(k, zero, true, ts)
			}
			return out.emit(k, v, deleted, ts)
		}
	}, func(g getter[K, V]) getter[K, V] {
		return func(k K) (V, bool, error) {
			v, found, err := g(k)
			if err != nil || !found || keep(k, v) {
				return v, found, err
			}
			var zero V
			return zero, false, nil
		}
	})
	return Table[K, V]{b: tb.b, n: n, keys: tb.keys, values: tb.values}
}

// FilterNot is Filter with the predicate negated.
func (tb Table[K, V]) FilterNot(drop func(K, V) bool) Table[K, V] {
	return tb.Filter(func(k K, v V) bool { return !drop(k, v) })
}

// MapTableValues replaces every value of the table.
func MapTableValues[K, V, V2 any](tb Table[K, V], fn func(K, V) V2) Table[K, V2] {
	n := tableOp(tb, "KTABLE-MAPVALUES", func(out *tableEmitter[K, V2]) func(K, V, bool, time.Time) error {
		return func(k K, v V, deleted bool, ts time.Time) error {
			var v2 V2
			if !deleted {
				v2 = fn(k, v)
			}
			return out.emit(k, v2, deleted, ts)
		}
	}, func(g getter[K, V]) getter[K, V2] {
		return func(k K) (V2, bool, error) {
			var v2 V2
			v, found, err := g(k)
			if err != nil || !found {
				return v2, found, err
			}
			return fn(k, v), true, nil
		}
	})
	return Table[K, V2]{b: tb.b, n: n, keys: tb.keys, values: DefaultSerde[V2]()}
}

// ToStream returns the table's updates as a stream. Deletions are not
// passed on (Kafka Streams passes them as null values, which a Go value
// type cannot express).
func (tb Table[K, V]) ToStream() Stream[K, V] {
	var n *node
	n = tb.b.addNode(kindProcessor, tb.b.newName("KTABLE-TOSTREAM"), []*node{tb.n}, func(t *task) error {
		in, err := tableInOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		out := newOut[K, V](t, n)
		in.next = append(in.next, func(k K, v V, deleted bool, ts time.Time) error {
			if deleted {
				return nil
			}
			return out.emit(Record[K, V]{Key: k, Value: v, Timestamp: ts})
		})
		return nil
	})
	return Stream[K, V]{b: tb.b, n: n, keys: tb.keys, values: tb.values}
}

// GroupedStream is a stream grouped by key, ready for aggregation.
type GroupedStream[K, V any] struct {
	s Stream[K, V]
}

// Grouped names the repartition topic a grouping may need and gives the
// serdes it is written with (nil: the stream's).
type Grouped[K, V any] struct {
	Name   string
	Keys   state.Serde[K]
	Values state.Serde[V]
}

// GroupByKey groups the stream by its keys. If an operation before it may
// have changed the keys (Map, SelectKey, FlatMap), the stream is first
// repartitioned through "<application id>-<name>-repartition".
func (s Stream[K, V]) GroupByKey(g Grouped[K, V]) GroupedStream[K, V] {
	if g.Keys != nil {
		s.keys = g.Keys
	}
	if g.Values != nil {
		s.values = g.Values
	}
	if s.keyChanged {
		s = repartition(s, Repartitioned[K, V]{Name: g.Name}, "KSTREAM-AGGREGATE-STATE-STORE")
	}
	return GroupedStream[K, V]{s: s}
}

// GroupBy groups the stream by a new key; it always repartitions.
func GroupBy[K, V, K2 any](s Stream[K, V], key func(K, V) K2, g Grouped[K2, V]) GroupedStream[K2, V] {
	return SelectKey(s, key).GroupByKey(g)
}

// Count counts the records per key.
func (g GroupedStream[K, V]) Count(m Materialized[K, int64]) Table[K, int64] {
	if m.Values == nil {
		m.Values = state.Long{} // Kafka's LongSerde, as Kafka Streams counts
	}
	return aggregate(g, "KSTREAM-COUNT", m, func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 })
}

// Reduce combines the values per key: the first value of a key is kept as
// it is, later ones are combined with the current result.
func (g GroupedStream[K, V]) Reduce(fn func(acc, v V) V, m Materialized[K, V]) Table[K, V] {
	if m.Values == nil {
		m.Values = g.s.values
	}
	return aggregateWith(g, "KSTREAM-REDUCE", m, func(k K, v V, acc V, found bool) V {
		if !found {
			return v
		}
		return fn(acc, v)
	})
}

// Aggregate folds the values per key into an aggregate of type A, starting
// from init().
func Aggregate[K, V, A any](g GroupedStream[K, V], init func() A, fn func(k K, v V, agg A) A, m Materialized[K, A]) Table[K, A] {
	return aggregate(g, "KSTREAM-AGGREGATE", m, init, fn)
}

func aggregate[K, V, A any](g GroupedStream[K, V], prefix string, m Materialized[K, A], init func() A, fn func(K, V, A) A) Table[K, A] {
	return aggregateWith(g, prefix, m, func(k K, v V, acc A, found bool) A {
		if !found {
			acc = init()
		}
		return fn(k, v, acc)
	})
}

func aggregateWith[K, V, A any](g GroupedStream[K, V], prefix string, m Materialized[K, A], fn func(K, V, A, bool) A) Table[K, A] {
	s, b := g.s, g.s.b
	keys := serdeOverride(m.Keys, s.keys)
	values := serdeOr(m.Values)
	name := b.newName(prefix)
	storeName := b.storeNameOr(m.Name, "KSTREAM-AGGREGATE-STATE-STORE")
	b.addStore(kvSpec(storeName, keys, values))
	var n *node
	n = b.addNode(kindProcessor, name, []*node{s.n}, func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		store, err := kvStore[K, A](t, storeName)
		if err != nil {
			return err
		}
		out := newTableOut[K, A](t, n)
		t.getters[n.id] = getter[K, A](store.Get)
		in.next = append(in.next, func(r Record[K, V]) error {
			acc, found, err := store.Get(r.Key)
			if err != nil {
				return err
			}
			acc = fn(r.Key, r.Value, acc, found)
			if err := store.Put(r.Key, acc); err != nil {
				return err
			}
			return out.emit(r.Key, acc, false, r.Timestamp)
		})
		return nil
	})
	n.stores = []string{storeName}
	return Table[K, A]{b: b, n: n, keys: keys, values: values, store: storeName}
}

// Join enriches every record of s with the value of its key in tb; records
// whose key is not in tb are dropped. s and tb must be co-partitioned (same
// partition count, same partitioning of keys); if s's keys may have changed
// it is repartitioned first.
func Join[K, V, VT, VR any](s Stream[K, V], tb Table[K, VT], fn func(v V, tv VT) VR) Stream[K, VR] {
	return streamTableJoin(s, tb, "KSTREAM-JOIN", func(v V, tv VT, found bool) (VR, bool) {
		if !found {
			var zero VR
			return zero, false
		}
		return fn(v, tv), true
	})
}

// LeftJoin is Join that keeps records whose key is not in tb: fn gets
// found=false and the zero VT for them.
func LeftJoin[K, V, VT, VR any](s Stream[K, V], tb Table[K, VT], fn func(v V, tv VT, found bool) VR) Stream[K, VR] {
	return streamTableJoin(s, tb, "KSTREAM-LEFTJOIN", func(v V, tv VT, found bool) (VR, bool) {
		return fn(v, tv, found), true
	})
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], tb Table[K, VT], prefix string, fn func(V, VT, bool) (VR, bool)) Stream[K, VR] {
	if s.keyChanged {
		s = repartition(s, Repartitioned[K, V]{}, prefix)
	}
	n := streamOp(s, prefix, func(out *emitter[K, VR]) func(Record[K, V]) error {
		return nil // set by build below, which needs the task's getter
	})
	n.linked = []*node{tb.n}
	n.stores = tableStores(tb)
	n.build = func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		g, err := getterOf[K, VT](t, tb.n)
		if err != nil {
			return err
		}
		out := newOut[K, VR](t, n)
		in.next = append(in.next, func(r Record[K, V]) error {
			tv, found, err := g(r.Key)
			if err != nil {
				return err
			}
			vr, ok := fn(r.Value, tv, found)
			if !ok {
				return nil
			}
			return out.emit(Record[K, VR]{Key: r.Key, Value: vr, Timestamp: r.Timestamp, Headers: r.Headers})
		})
		return nil
	}
	return derive[K, V, K, VR](s, n, s.keys, nil, false)
}

// tableStores lists the stores a table's lookups read.
func tableStores[K, V any](tb Table[K, V]) []string {
	var out []string
	seen := map[*node]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.kind == kindProcessor && len(n.stores) > 0 && n.linked == nil {
			out = append(out, n.stores...)
			return
		}
		for _, p := range n.parents {
			walk(p)
		}
	}
	walk(tb.n)
	return out
}

// JoinTables joins two co-partitioned tables: the result has a key when
// both have it.
func JoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], fn func(V1, V2) VR) Table[K, VR] {
	return tableJoin(a, b, "KTABLE-JOIN", func(v1 V1, ok1 bool, v2 V2, ok2 bool) (VR, bool) {
		var zero VR
		if !ok1 || !ok2 {
			return zero, false
		}
		return fn(v1, v2), true
	})
}

// LeftJoinTables joins two co-partitioned tables: the result has the keys
// of a; fn gets found=false and the zero V2 where b lacks the key.
func LeftJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], fn func(v1 V1, v2 V2, found bool) VR) Table[K, VR] {
	return tableJoin(a, b, "KTABLE-LEFTJOIN", func(v1 V1, ok1 bool, v2 V2, ok2 bool) (VR, bool) {
		var zero VR
		if !ok1 {
			return zero, false
		}
		return fn(v1, v2, ok2), true
	})
}

// OuterJoinTables joins two co-partitioned tables: the result has the keys
// of either.
func OuterJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], fn func(v1 V1, found1 bool, v2 V2, found2 bool) VR) Table[K, VR] {
	return tableJoin(a, b, "KTABLE-OUTERJOIN", func(v1 V1, ok1 bool, v2 V2, ok2 bool) (VR, bool) {
		var zero VR
		if !ok1 && !ok2 {
			return zero, false
		}
		return fn(v1, ok1, v2, ok2), true
	})
}

// tableJoin adds a node fed by both tables. fn computes the joined value
// from both sides' current values, or says the key is absent. On an update
// of one side the other is looked up.
func tableJoin[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], prefix string, fn func(V1, bool, V2, bool) (VR, bool)) Table[K, VR] {
	bl := a.b
	var n *node
	n = bl.addNode(kindProcessor, bl.newName(prefix), []*node{a.n, b.n}, func(t *task) error {
		inA, err := tableInOf[K, V1](t, a.n)
		if err != nil {
			return err
		}
		inB, err := tableInOf[K, V2](t, b.n)
		if err != nil {
			return err
		}
		ga, err := getterOf[K, V1](t, a.n)
		if err != nil {
			return err
		}
		gb, err := getterOf[K, V2](t, b.n)
		if err != nil {
			return err
		}
		out := newTableOut[K, VR](t, n)
		look := func(k K) (VR, bool, error) {
			v1, ok1, err := ga(k)
			if err != nil {
				return *new(VR), false, err
			}
			v2, ok2, err := gb(k)
			if err != nil {
				return *new(VR), false, err
			}
			vr, ok := fn(v1, ok1, v2, ok2)
			return vr, ok, nil
		}
		t.getters[n.id] = getter[K, VR](look)
		// Both sides' stores are already updated when their updates
		// arrive here, so the join is computed from the stores.
		// A key whose result is absent now had one before only if this
		// side was just deleted and the other side would have joined with
		// it (not knowing old values, the deleted side is assumed to have
		// had one).
		update := func(k K, deleted bool, ts time.Time, couldJoin func(K) (bool, error)) error {
			vr, ok, err := look(k)
			if err != nil {
				return err
			}
			if ok {
				return out.emit(k, vr, false, ts)
			}
			if !deleted {
				return nil
			}
			could, err := couldJoin(k)
			if err != nil || !could {
				return err
			}
			return out.emit(k, vr, true, ts)
		}
		inA.next = append(inA.next, func(k K, _ V1, deleted bool, ts time.Time) error {
			return update(k, deleted, ts, func(k K) (bool, error) {
				v2, ok2, err := gb(k)
				_, ok := fn(*new(V1), true, v2, ok2)
				return ok, err
			})
		})
		inB.next = append(inB.next, func(k K, _ V2, deleted bool, ts time.Time) error {
			return update(k, deleted, ts, func(k K) (bool, error) {
				v1, ok1, err := ga(k)
				_, ok := fn(v1, ok1, *new(V2), true)
				return ok, err
			})
		})
		return nil
	})
	n.stores = append(tableStores(a), tableStores(b)...)
	return Table[K, VR]{b: bl, n: n, keys: a.keys, values: DefaultSerde[VR]()}
}

// To writes the table's updates to topic, a deletion as a tombstone (a
// record with a nil value). (ToStream().To would drop deletions.)
func (tb Table[K, V]) To(topic string, p Produced[K, V]) {
	keys, values := tb.keys, tb.values
	if p.Keys != nil {
		keys = p.Keys
	}
	if p.Values != nil {
		values = p.Values
	}
	ref := topicRef{name: topic}
	n := tb.b.addNode(kindSink, tb.b.nameOr(p.Name, "KTABLE-SINK"), []*node{tb.n}, func(t *task) error {
		in, err := tableInOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		in.next = append(in.next, func(k K, v V, deleted bool, ts time.Time) error {
			kb, err := keys.Encode(k)
			if err != nil {
				return err
			}
			var vb []byte
			if !deleted {
				if vb, err = values.Encode(v); err != nil {
					return err
				}
				if vb == nil {
					vb = []byte{}
				}
			}
			part := int32(-1)
			if p.Partitioner != nil {
				np, err := t.env.partitions(topic)
				if err != nil {
					return err
				}
				part = p.Partitioner(k, v, np)
			}
			return t.env.produce(topic, part, kb, vb, ts, nil)
		})
		return nil
	})
	n.sink = ref
}
