package streams

import (
	"errors"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// GroupedTable is a table re-grouped by a new key, ready for aggregation
// with an adder and a subtractor: Kafka Streams' KGroupedTable. Every
// update of the source table takes its old value out of the aggregate of
// the old value's group (the subtractor) and puts the new value into the
// aggregate of the new one's (the adder).
type GroupedTable[K, V any] struct {
	s Stream[K, tableChange[V]]
}

// tableChange is one half of a table update on its way to a table
// aggregation: a value to add to its group's aggregate, or to subtract.
type tableChange[V any] struct {
	value    V
	subtract bool
}

// tableChangeSerde writes a tableChange as a flag byte (1: subtract)
// followed by the encoded value.
type tableChangeSerde[V any] struct{ values state.Serde[V] }

func (s tableChangeSerde[V]) Encode(c tableChange[V]) ([]byte, error) {
	vb, err := s.values.Encode(c.value)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+len(vb))
	if c.subtract {
		out[0] = 1
	}
	return append(out, vb...), nil
}

func (s tableChangeSerde[V]) Decode(b []byte) (tableChange[V], error) {
	if len(b) < 1 || b[0] > 1 {
		return tableChange[V]{}, errors.New("streams: malformed table change (flag byte missing or unknown)")
	}
	v, err := s.values.Decode(b[1:])
	if err != nil {
		return tableChange[V]{}, err
	}
	return tableChange[V]{value: v, subtract: b[0] == 1}, nil
}

// GroupTableBy groups the table's entries by the key (and value) fn
// computes from them: Kafka Streams' KTable.groupBy. The changes are
// repartitioned by the new key through "<application id>-<name>-repartition"
// (g.Name, or a generated name).
//
// Kafka Streams gets the old value of an update from the table itself
// (Change<V>); here the grouping keeps the last value of every key of the
// source table in a store of its own ("<name>-prior", with a changelog),
// which costs a copy of the table.
func GroupTableBy[K, V, KR, VR any](tb Table[K, V], fn func(K, V) (KR, VR), g Grouped[KR, VR]) GroupedTable[KR, VR] {
	b := tb.b
	base := g.Name
	if base == "" {
		base = b.newName("KTABLE-GROUPBY")
	}
	priorName := base + "-prior"
	b.addStore(kvSpec(priorName, tb.keys, tb.values))
	var n *node
	n = b.addNode(kindProcessor, b.newName("KTABLE-SELECT"), []*node{tb.n}, func(t *task) error {
		in, err := tableInOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		prior, err := kvStore[K, V](t, priorName)
		if err != nil {
			return err
		}
		out := newOut[KR, tableChange[VR]](t, n)
		in.next = append(in.next, func(k K, v V, deleted bool, ts time.Time) error {
			old, had, err := prior.Get(k)
			if err != nil {
				return err
			}
			if had {
				ok, ov := fn(k, old)
				if err := out.emit(Record[KR, tableChange[VR]]{Key: ok, Value: tableChange[VR]{value: ov, subtract: true}, Timestamp: ts}); err != nil {
					return err
				}
			}
			if deleted {
				if had {
					return prior.Delete(k)
				}
				return nil
			}
			if err := prior.Put(k, v); err != nil {
				return err
			}
			nk, nv := fn(k, v)
			return out.emit(Record[KR, tableChange[VR]]{Key: nk, Value: tableChange[VR]{value: nv}, Timestamp: ts})
		})
		return nil
	})
	n.stores = []string{priorName}
	s := Stream[KR, tableChange[VR]]{b: b, n: n, keys: serdeOr(g.Keys), values: tableChangeSerde[VR]{serdeOr(g.Values)}, keyChanged: true}
	return GroupedTable[KR, VR]{s: repartition(s, Repartitioned[KR, tableChange[VR]]{Name: base}, "KTABLE-GROUPBY")}
}

// Count counts the source table's entries per group.
func (g GroupedTable[K, V]) Count(m Materialized[K, int64]) Table[K, int64] {
	if m.Values == nil {
		m.Values = state.Long{}
	}
	return tableAggregate(g, "KTABLE-AGGREGATE", m, func(_ K, _ V, n int64, _ bool) int64 { return n + 1 },
		func(_ K, _ V, n int64) int64 { return n - 1 })
}

// Reduce combines the values per group: the first value of a group is kept
// as it is, later ones are combined with adder, and values that leave the
// group are taken out with subtractor.
func (g GroupedTable[K, V]) Reduce(adder, subtractor func(acc, v V) V, m Materialized[K, V]) Table[K, V] {
	if m.Values == nil {
		m.Values = g.s.values.(tableChangeSerde[V]).values
	}
	return tableAggregate(g, "KTABLE-REDUCE", m, func(_ K, v V, acc V, found bool) V {
		if !found {
			return v
		}
		return adder(acc, v)
	}, func(_ K, v V, acc V) V { return subtractor(acc, v) })
}

// AggregateTable folds the values per group into an aggregate of type A,
// starting from init(): adder puts a value in, subtractor takes one out
// (Kafka Streams' KGroupedTable.aggregate).
func AggregateTable[K, V, A any](g GroupedTable[K, V], init func() A, adder, subtractor func(k K, v V, agg A) A, m Materialized[K, A]) Table[K, A] {
	return tableAggregate(g, "KTABLE-AGGREGATE", m, func(k K, v V, acc A, found bool) A {
		if !found {
			acc = init()
		}
		return adder(k, v, acc)
	}, subtractor)
}

// tableAggregate adds the aggregation node and its store. A subtraction
// from a group that has no aggregate (which only a lost update could
// cause) is ignored.
func tableAggregate[K, V, A any](g GroupedTable[K, V], prefix string, m Materialized[K, A],
	add func(K, V, A, bool) A, sub func(K, V, A) A) Table[K, A] {
	s, b := g.s, g.s.b
	keys := serdeOverride(m.Keys, s.keys)
	values := serdeOr(m.Values)
	name := b.newName(prefix)
	storeName := b.storeNameOr(m.Name, "KTABLE-AGGREGATE-STATE-STORE")
	b.addStore(kvSpec(storeName, keys, values))
	var n *node
	n = b.addNode(kindProcessor, name, []*node{s.n}, func(t *task) error {
		in, err := inOf[K, tableChange[V]](t, s.n)
		if err != nil {
			return err
		}
		store, err := kvStore[K, A](t, storeName)
		if err != nil {
			return err
		}
		out := newTableOut[K, A](t, n)
		t.getters[n.id] = getter[K, A](store.Get)
		in.next = append(in.next, func(r Record[K, tableChange[V]]) error {
			acc, found, err := store.Get(r.Key)
			if err != nil {
				return err
			}
			if r.Value.subtract {
				if !found {
					return nil
				}
				acc = sub(r.Key, r.Value.value, acc)
			} else {
				acc = add(r.Key, r.Value.value, acc, found)
			}
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
