package streams

import (
	"math"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// SessionWindowedStream is a grouped stream cut into sessions, ready for
// aggregation: Kafka Streams' SessionWindowedKStream. Its aggregations
// return tables keyed by Windowed[K], kept in session stores.
type SessionWindowedStream[K, V any] struct {
	g       GroupedStream[K, V]
	windows SessionWindows
}

// WindowedBySession cuts a grouped stream into sessions:
// KGroupedStream.windowedBy(SessionWindows).
func WindowedBySession[K, V any](g GroupedStream[K, V], w SessionWindows) SessionWindowedStream[K, V] {
	if w.Gap < 0 || w.Grace < 0 {
		g.s.b.fail("SessionWindows.Gap and Grace must not be negative (got %v, %v)", w.Gap, w.Grace)
	}
	return SessionWindowedStream[K, V]{g: g, windows: w}
}

// Count counts the records per key and session.
func (s SessionWindowedStream[K, V]) Count(m Materialized[K, int64]) Table[Windowed[K], int64] {
	if m.Values == nil {
		m.Values = state.Long{} // Kafka's LongSerde, as Kafka Streams counts
	}
	return sessionAggregate(s, "KSTREAM-AGGREGATE", m,
		func() (int64, bool) { return 0, true },
		func(_ K, _ V, n int64, _ bool) int64 { return n + 1 },
		func(_ K, a int64, _ bool, b int64) int64 { return a + b })
}

// Reduce combines the values per key and session: the first value is kept
// as it is, later ones are combined with the current result, and the
// results of merged sessions are combined with fn too.
func (s SessionWindowedStream[K, V]) Reduce(fn func(acc, v V) V, m Materialized[K, V]) Table[Windowed[K], V] {
	if m.Values == nil {
		m.Values = s.g.s.values
	}
	return sessionAggregate(s, "KSTREAM-REDUCE", m,
		func() (V, bool) { var zero V; return zero, false },
		func(_ K, v V, acc V, found bool) V {
			if !found {
				return v
			}
			return fn(acc, v)
		},
		func(_ K, a V, found bool, b V) V {
			if !found {
				return b
			}
			return fn(a, b)
		})
}

// AggregateSessions folds the values per key and session into an aggregate
// of type A, starting from init() in every new session; when a record
// bridges sessions, merge combines their aggregates. It is Kafka Streams'
// SessionWindowedKStream.aggregate.
func AggregateSessions[K, V, A any](s SessionWindowedStream[K, V], init func() A, fn func(k K, v V, agg A) A, merge func(k K, a, b A) A, m Materialized[K, A]) Table[Windowed[K], A] {
	return sessionAggregate(s, "KSTREAM-AGGREGATE", m,
		func() (A, bool) { return init(), true },
		func(k K, v V, acc A, _ bool) A { return fn(k, v, acc) },
		func(k K, a A, _ bool, b A) A { return merge(k, a, b) })
}

func sessionAggregate[K, V, A any](s SessionWindowedStream[K, V], prefix string, m Materialized[K, A],
	init func() (A, bool), fn func(K, V, A, bool) A, merge func(K, A, bool, A) A) Table[Windowed[K], A] {
	st, b := s.g.s, s.g.s.b
	keys := serdeOverride(m.Keys, st.keys)
	values := serdeOr(m.Values)
	gap, grace := s.windows.Gap.Milliseconds(), s.windows.Grace.Milliseconds()
	ret := m.Retention
	if minRet := s.windows.Gap + s.windows.Grace; ret == 0 {
		ret = minRet
	} else if ret < minRet {
		b.fail("the retention of session store %q (%v) is less than the gap plus the grace period (%v)", m.Name, ret, minRet)
	}
	name := b.newName(prefix)
	storeName := b.storeNameOr(m.Name, "KSTREAM-AGGREGATE-STATE-STORE")
	b.addStore(sessionSpec(storeName, keys, values))
	var n *node
	n = b.addNode(kindProcessor, name, []*node{st.n}, func(t *task) error {
		in, err := inOf[K, V](t, st.n)
		if err != nil {
			return err
		}
		store, err := sessionStore[K, A](t, storeName)
		if err != nil {
			return err
		}
		out := newTableOut[Windowed[K], A](t, n)
		t.getters[n.id] = getter[Windowed[K], A](func(wk Windowed[K]) (A, bool, error) {
			return store.Get(wk.Key, state.Window{Start: ms(wk.Start), End: ms(wk.End)})
		})
		p := &sessionProc[K, V, A]{t: t, op: name, clock: t.clock(name), store: store, out: out, init: init, fn: fn, merge: merge,
			gap: gap, grace: grace, ret: ret.Milliseconds(), lastPurge: math.MinInt64}
		in.next = append(in.next, p.process)
		return nil
	})
	n.stores = []string{storeName}
	n.window = &windowInfo{grace: grace, inclusiveEnd: true}
	return Table[Windowed[K], A]{b: b, n: n, keys: SessionWindowedSerde(keys), values: values, store: storeName}
}

type sessionProc[K, V, A any] struct {
	t     *task
	op    string
	clock *observedTime
	store *state.SessionStore[K, A]
	out   *tableEmitter[Windowed[K], A]
	init  func() (A, bool)
	fn    func(K, V, A, bool) A
	merge func(K, A, bool, A) A

	gap, grace, ret int64
	lastPurge       int64
}

// process merges r into the sessions of its key, as Kafka Streams'
// KStreamSessionWindowAggregate: the sessions within the gap of r are
// merged with it into one; unless that session ended more than the grace
// period before the stream time the processor has observed (r is late), the merged sessions are removed
// (a deletion of each is emitted) and the new one is stored and emitted.
// Updates carry the session's end as their timestamp.
func (p *sessionProc[K, V, A]) process(r Record[K, V]) error {
	ts := ms(r.Timestamp)
	p.clock.observe(r.Timestamp)
	now := ms(p.clock.t)
	closeTime := now - p.grace
	type session struct {
		w state.Window
		v A
	}
	var merged []session
	win := state.Window{Start: ts, End: ts}
	acc, ok := p.init()
	it := p.store.FindSessions(r.Key, ts-p.gap, ts+p.gap)
	for it.Next() {
		w := it.Window()
		merged = append(merged, session{w, it.Value()})
		acc, ok = p.merge(r.Key, acc, ok, it.Value()), true
		win.Start, win.End = min(win.Start, w.Start), max(win.End, w.End)
	}
	if err := it.Close(); err != nil {
		return err
	}
	if win.End < closeTime {
		p.t.lateRecord(p.op, r.Timestamp, "session_start", win.Start, "session_end", win.End)
		return nil
	}
	if win != (state.Window{Start: ts, End: ts}) {
		for _, s := range merged {
			if err := p.store.Remove(r.Key, s.w); err != nil {
				return err
			}
			var zero A
			if err := p.out.emit(windowed(r.Key, s.w.Start, s.w.End), zero, true, time.UnixMilli(s.w.End)); err != nil {
				return err
			}
		}
	}
	acc = p.fn(r.Key, r.Value, acc, ok)
	if err := p.store.Put(r.Key, win, acc); err != nil {
		return err
	}
	if err := p.out.emit(windowed(r.Key, win.Start, win.End), acc, false, time.UnixMilli(win.End)); err != nil {
		return err
	}
	return p.purge(now)
}

// purge removes the sessions that ended more than the retention before
// stream time, each time stream time has moved by half the retention. It
// scans the whole store.
func (p *sessionProc[K, V, A]) purge(now int64) error {
	if p.lastPurge != math.MinInt64 && now-p.lastPurge < max(p.ret/2, 1) {
		return nil
	}
	p.lastPurge = now
	cutoff := now - p.ret
	type expired struct {
		k K
		w state.Window
	}
	var gone []expired
	it := p.store.FindAll(math.MinInt64, cutoff)
	for it.Next() {
		if w := it.Window(); w.End < cutoff {
			gone = append(gone, expired{it.Key(), w})
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, e := range gone {
		if err := p.store.Remove(e.k, e.w); err != nil {
			return err
		}
	}
	return nil
}
