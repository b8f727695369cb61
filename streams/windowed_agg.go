package streams

import (
	"fmt"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// TimeWindowedStream is a grouped stream cut into time windows (tumbling or
// hopping) or sliding windows, ready for aggregation: Kafka Streams'
// TimeWindowedKStream. Its aggregations return tables keyed by
// Windowed[K], kept in window stores.
type TimeWindowedStream[K, V any] struct {
	g       GroupedStream[K, V]
	windows TimeWindows
	sliding *SlidingWindows
}

// WindowedBy cuts a grouped stream into time windows: Kafka Streams'
// KGroupedStream.windowedBy(TimeWindows). (It is a function, not a method
// of GroupedStream, because a method returning Windowed[K] tables would
// make Go instantiate Windowed[Windowed[K]] and so on without end.)
//
// Lateness is decided by the stream time the aggregation observes, as
// Kafka Streams' KStreamWindowAggregate observedStreamTime: the largest
// timestamp of the records it has aggregated (late ones included), not the
// task's stream time, which records of other topics of the task (merged
// downstream, or feeding other operations) may have moved far ahead. It is
// committed with the input offsets and resumed after a restart or a move
// of the task (commit metadata without it, as earlier versions wrote,
// resumes the task's stream time instead). The same holds for WindowedBySliding and
// WindowedBySession.
func WindowedBy[K, V any](g GroupedStream[K, V], w TimeWindows) TimeWindowedStream[K, V] {
	if w.Advance == 0 {
		w.Advance = w.Size
	}
	switch {
	case w.Size.Milliseconds() <= 0:
		g.s.b.fail("TimeWindows.Size must be at least a millisecond (got %v)", w.Size)
	case w.Advance.Milliseconds() <= 0 || w.Advance > w.Size:
		g.s.b.fail("TimeWindows.Advance must be in (0, Size] (got %v for size %v)", w.Advance, w.Size)
	case w.Grace < 0:
		g.s.b.fail("TimeWindows.Grace must not be negative (got %v)", w.Grace)
	}
	return TimeWindowedStream[K, V]{g: g, windows: w}
}

// WindowedBySliding cuts a grouped stream into sliding windows:
// KGroupedStream.windowedBy(SlidingWindows).
func WindowedBySliding[K, V any](g GroupedStream[K, V], w SlidingWindows) TimeWindowedStream[K, V] {
	if w.TimeDifference < 0 || w.Grace < 0 {
		g.s.b.fail("SlidingWindows.TimeDifference and Grace must not be negative (got %v, %v)", w.TimeDifference, w.Grace)
	}
	return TimeWindowedStream[K, V]{g: g, sliding: &w}
}

// Count counts the records per key and window.
func (w TimeWindowedStream[K, V]) Count(m Materialized[K, int64]) Table[Windowed[K], int64] {
	if m.Values == nil {
		m.Values = state.Long{} // Kafka's LongSerde, as Kafka Streams counts
	}
	return windowedAggregate(w, "KSTREAM-AGGREGATE", m, func(_ K, _ V, n int64, _ bool) int64 { return n + 1 })
}

// Reduce combines the values per key and window: the first value of a
// window is kept as it is, later ones are combined with the current result.
func (w TimeWindowedStream[K, V]) Reduce(fn func(acc, v V) V, m Materialized[K, V]) Table[Windowed[K], V] {
	if m.Values == nil {
		m.Values = w.g.s.values
	}
	return windowedAggregate(w, "KSTREAM-REDUCE", m, func(_ K, v V, acc V, found bool) V {
		if !found {
			return v
		}
		return fn(acc, v)
	})
}

// AggregateWindowed folds the values per key and window into an aggregate
// of type A, starting from init() in every window: Kafka Streams'
// TimeWindowedKStream.aggregate.
func AggregateWindowed[K, V, A any](w TimeWindowedStream[K, V], init func() A, fn func(k K, v V, agg A) A, m Materialized[K, A]) Table[Windowed[K], A] {
	return windowedAggregate(w, "KSTREAM-AGGREGATE", m, func(k K, v V, acc A, found bool) A {
		if !found {
			acc = init()
		}
		return fn(k, v, acc)
	})
}

// windowedAggregate adds the aggregation node and its window store. fn gets
// found=false for a window that does not exist yet.
func windowedAggregate[K, V, A any](w TimeWindowedStream[K, V], prefix string, m Materialized[K, A], fn func(K, V, A, bool) A) Table[Windowed[K], A] {
	s, b := w.g.s, w.g.s.b
	keys := serdeOverride(m.Keys, s.keys)
	values := serdeOr(m.Values)
	var size, grace, minRet time.Duration
	if w.sliding != nil {
		size, grace = w.sliding.TimeDifference, w.sliding.Grace
		// A record may need the windows up to two time differences before
		// it, and records are admitted up to a time difference plus the
		// grace period behind stream time.
		minRet = 3*size + grace + time.Millisecond
	} else {
		size, grace = w.windows.Size, w.windows.Grace
		minRet = size + grace
	}
	ret := m.Retention
	if ret == 0 {
		ret = minRet
	} else if ret < minRet {
		b.fail("the retention of window store %q (%v) is less than the window size plus the grace period (%v)", m.Name, ret, minRet)
	}
	name := b.newName(prefix)
	storeName := b.storeNameOr(m.Name, "KSTREAM-AGGREGATE-STATE-STORE")
	b.addStore(windowSpec(storeName, keys, state.Serde[ValueAndTimestamp[A]](vatSerde[A]{values}), size, ret))
	var n *node
	n = b.addNode(kindProcessor, name, []*node{s.n}, func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		store, err := windowStore[K, ValueAndTimestamp[A]](t, storeName)
		if err != nil {
			return err
		}
		out := newTableOut[Windowed[K], A](t, n)
		t.getters[n.id] = getter[Windowed[K], A](func(wk Windowed[K]) (A, bool, error) {
			v, found, err := store.Get(wk.Key, ms(wk.Start))
			return v.Value, found, err
		})
		p := &windowAggProc[K, V, A]{t: t, op: name, clock: t.clock(name), store: store, out: out, fn: fn,
			size: size.Milliseconds(), grace: grace.Milliseconds()}
		if w.sliding != nil {
			in.next = append(in.next, p.sliding)
		} else {
			p.advance = w.windows.Advance.Milliseconds()
			in.next = append(in.next, p.timeWindows)
		}
		return nil
	})
	n.stores = []string{storeName}
	n.window = &windowInfo{grace: grace.Milliseconds(), inclusiveEnd: w.sliding != nil}
	return Table[Windowed[K], A]{b: b, n: n, keys: TimeWindowedSerde(keys, size), values: values, store: storeName}
}

// windowAggProc aggregates one task's records into time or sliding windows.
type windowAggProc[K, V, A any] struct {
	t       *task
	op      string
	clock   *observedTime
	store   *state.WindowStore[K, ValueAndTimestamp[A]]
	out     *tableEmitter[Windowed[K], A]
	fn      func(K, V, A, bool) A
	size    int64 // ms; the time difference of sliding windows
	advance int64
	grace   int64
}

// timeWindows updates the windows of r, as Kafka Streams'
// KStreamWindowAggregate: a window takes the record unless the stream time
// the processor has observed has passed its end plus the grace period. The update carries the largest
// timestamp aggregated into the window.
func (p *windowAggProc[K, V, A]) timeWindows(r Record[K, V]) error {
	ts := ms(r.Timestamp)
	p.clock.observe(r.Timestamp)
	closeTime := ms(p.clock.t) - p.grace
	for _, start := range windowStarts(ts, p.size, p.advance) {
		end := start + p.size
		if end <= closeTime {
			p.t.lateRecord(p.op, r.Timestamp, "window_start", start, "window_end", end)
			continue
		}
		old, found, err := p.store.Get(r.Key, start)
		if err != nil {
			return err
		}
		if err := p.update(r, start, end, slot[A]{v: old.Value, ts: ms(old.Timestamp), ok: found}); err != nil {
			return err
		}
	}
	return nil
}

// slot is a window's aggregate; ok is false for a window not created yet
// (Kafka Streams' null aggregate).
type slot[A any] struct {
	v  A
	ts int64
	ok bool
}

// update folds r into the window [start, end] holding old, stores and
// emits the result.
func (p *windowAggProc[K, V, A]) update(r Record[K, V], start, end int64, old slot[A]) error {
	ts := ms(r.Timestamp)
	acc := p.fn(r.Key, r.Value, old.v, old.ok)
	if old.ok && old.ts > ts {
		ts = old.ts
	}
	when := time.UnixMilli(ts)
	if err := p.store.Put(r.Key, start, ValueAndTimestamp[A]{Value: acc, Timestamp: when}); err != nil {
		return err
	}
	return p.out.emit(windowed(r.Key, start, end), acc, false, when)
}

// sliding updates and creates the sliding windows of r with Kafka Streams'
// algorithm (KStreamSlidingWindowAggregate, forward iteration): every record
// has a left window [t-d, t] and, when a later record is within d of it, a
// right window [t+1, t+1+d]; the windows a record falls into are updated,
// and its own windows are created from the aggregates of their neighbours.
// Windows may start before the epoch (Kafka Streams folds those into
// [0, d]).
func (p *windowAggProc[K, V, A]) sliding(r Record[K, V]) error {
	ts, d := ms(r.Timestamp), p.size
	p.clock.observe(r.Timestamp)
	closeTime := ms(p.clock.t) - p.grace
	if ts+1+d <= closeTime {
		p.t.lateRecord(p.op, r.Timestamp, "window_start", ts-d, "window_end", ts)
		return nil
	}
	update := func(start int64, old slot[A]) error {
		end := start + d
		if end < closeTime {
			p.t.lateRecord(p.op, r.Timestamp, "window_start", start, "window_end", end)
			return nil
		}
		return p.update(r, start, end, old)
	}
	type win struct {
		start int64
		agg   slot[A]
	}
	// Read first, then write: the windows found are the ones updated.
	var wins []win
	it := p.store.Fetch(r.Key, ts-2*d, ts+1)
	for it.Next() {
		v := it.Value()
		wins = append(wins, win{it.Window().Start, slot[A]{v: v.Value, ts: ms(v.Timestamp), ok: true}})
	}
	if err := it.Close(); err != nil {
		return err
	}
	starts := make(map[int64]bool, len(wins))
	var leftAgg, rightAgg slot[A]
	leftCreated, rightCreated := false, false
	var prev int64 // the timestamp of the key's previous record, if hasPrev
	hasPrev := false
	for _, w := range wins {
		starts[w.start] = true
		end := w.start + d
		switch {
		case end < ts:
			leftAgg = w.agg
			prev, hasPrev = w.agg.ts, true
		case end == ts:
			leftCreated = true
			if w.agg.ts < ts {
				prev, hasPrev = w.agg.ts, true
			}
			if err := update(w.start, w.agg); err != nil {
				return err
			}
		case end > ts && w.start <= ts:
			rightAgg = w.agg
			if err := update(w.start, w.agg); err != nil {
				return err
			}
		case w.start == ts+1:
			rightCreated = true
		default:
			return fmt.Errorf("streams: sliding window aggregate: unexpected window [%d,%d] for a record at %d", w.start, end, ts)
		}
	}
	// The previous record's right window, if this record is in it.
	if hasPrev {
		if s := prev + 1; !starts[s] && s+d >= ts {
			if err := update(s, slot[A]{ts: ts}); err != nil {
				return err
			}
		}
	}
	// This record's left window.
	if !leftCreated {
		left := slot[A]{ts: ts}
		if hasPrev && ts-d <= prev {
			left = slot[A]{v: leftAgg.v, ts: ts, ok: leftAgg.ok}
		}
		if err := update(ts-d, left); err != nil {
			return err
		}
	}
	// This record's right window, if later records fall into it: it holds
	// what the window containing them held (this record is not in it).
	if !rightCreated && rightAgg.ok && rightAgg.ts > ts {
		when := time.UnixMilli(rightAgg.ts)
		if err := p.store.Put(r.Key, ts+1, ValueAndTimestamp[A]{Value: rightAgg.v, Timestamp: when}); err != nil {
			return err
		}
		return p.out.emit(windowed(r.Key, ts+1, ts+1+d), rightAgg.v, false, when)
	}
	return nil
}
