package streams

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streams/eddy/state"
)

// Suppressed configures Table.Suppress, as Kafka Streams' Suppressed. Use
// UntilWindowCloses or UntilTimeLimit to build one.
type Suppressed struct {
	// UntilWindowCloses holds back every update of a window and emits only
	// its final result, once stream time reaches the window's end plus its
	// grace period (for sliding and session windows, whose end is
	// inclusive, a millisecond later): exactly one result per window. The
	// table must be keyed by Windowed[K] and come from a windowed
	// aggregation (possibly through Filter or MapTableValues), whose grace
	// period it uses.
	UntilWindowCloses bool
	// TimeLimit, without UntilWindowCloses, holds back the updates of a key
	// until stream time is TimeLimit past the timestamp of the first of
	// them, then emits the latest: at most one update per key per TimeLimit
	// of stream time.
	TimeLimit time.Duration
	Buffer    BufferConfig
	// Name names the node; its buffer store is "<Name>-store" (empty:
	// generated names).
	Name string
}

// UntilWindowCloses is Kafka Streams' Suppressed.untilWindowCloses. The
// buffer must not emit early: an early result would not be final.
func UntilWindowCloses(buffer BufferConfig) Suppressed {
	return Suppressed{UntilWindowCloses: true, Buffer: buffer}
}

// UntilTimeLimit is Kafka Streams' Suppressed.untilTimeLimit.
func UntilTimeLimit(limit time.Duration, buffer BufferConfig) Suppressed {
	return Suppressed{TimeLimit: limit, Buffer: buffer}
}

// BufferConfig bounds a suppression buffer, as Kafka Streams' BufferConfig:
// at most MaxRecords keys and MaxBytes bytes (encoded keys and values plus
// 17 bytes each); zero means no bound. WhenFull says what happens when an
// update would exceed a bound.
type BufferConfig struct {
	MaxRecords int
	MaxBytes   int64
	WhenFull   BufferFullPolicy
}

// BufferFullPolicy is what a full suppression buffer does.
type BufferFullPolicy int

const (
	// ShutDownWhenFull fails the task (and the app, or the test driver's
	// Pipe) with ErrBufferFull. It is the default, and the only policy
	// UntilWindowCloses accepts.
	ShutDownWhenFull BufferFullPolicy = iota
	// EmitEarlyWhenFull emits the oldest buffered updates, before their
	// time, until the buffer fits its bounds again.
	EmitEarlyWhenFull
)

// ErrBufferFull is returned (wrapped) when a suppression buffer with
// ShutDownWhenFull exceeds its bounds.
var ErrBufferFull = errors.New("streams: suppression buffer is full")

// Suppress holds back the table's updates as s says, and passes on only
// some of them: Kafka Streams' KTable.suppress. The buffer is kept in a
// store with a changelog, so it survives a restart or a move of the task.
//
// Lookups in the suppressed table (a stream-table or table-table join with
// it) see the table's latest value, including updates the buffer still
// holds back. This differs from Kafka Streams, whose suppressed-table
// getter (KTableSuppressProcessorSupplier.view) answers a key that is in
// the buffer with the value before its buffered updates, i.e. the value
// last emitted downstream (for a window not yet closed: no value). Eddy's
// tables do not pass on old values with their updates (Kafka's Change), so
// the value before the first buffered update is not known here.
//
// Stream time, for Suppress, is the largest timestamp of the updates it
// has received (Kafka Streams' KTableSuppressProcessor observedStreamTime),
// committed with the input offsets and resumed after a restart; buffered
// updates come out when an update arrives that moves it past their time.
func (tb Table[K, V]) Suppress(s Suppressed) Table[K, V] {
	b := tb.b
	var win *windowInfo
	if s.UntilWindowCloses {
		var zero K
		if _, ok := any(zero).(hasWindowEnd); !ok {
			b.fail("Suppress until the window closes needs a table keyed by Windowed[K], not %T", zero)
		}
		if win = findWindow(tb.n); win == nil {
			b.fail("Suppress until the window closes needs a windowed aggregation upstream of %s", tb.n.name)
		}
		if s.Buffer.WhenFull == EmitEarlyWhenFull {
			b.fail("Suppress until the window closes cannot emit early when its buffer is full")
		}
	} else if s.TimeLimit < 0 {
		b.fail("Suppress: negative time limit %v", s.TimeLimit)
	}
	name := b.nameOr(s.Name, "KTABLE-SUPPRESS")
	storeName := s.Name + "-store"
	if s.Name == "" {
		storeName = b.newName("KTABLE-SUPPRESS-STATE-STORE")
	}
	b.addStore(kvSpec(storeName, state.Serde[[]byte](state.Bytes{}), state.Serde[[]byte](state.Bytes{})))
	keys, values := tb.keys, tb.values
	var n *node
	n = b.addNode(kindProcessor, name, []*node{tb.n}, func(t *task) error {
		in, err := tableInOf[K, V](t, tb.n)
		if err != nil {
			return err
		}
		if g, err := getterOf[K, V](t, tb.n); err == nil {
			t.getters[n.id] = g
		}
		store, err := kvStore[[]byte, []byte](t, storeName)
		if err != nil {
			return err
		}
		p := &suppressProc[K, V]{
			t: t, op: name, clock: t.clock(name), store: store, keys: keys, values: values, out: newTableOut[K, V](t, n),
			win: win, limit: s.TimeLimit.Milliseconds(), cfg: s.Buffer, entries: map[string]*bufEntry[K, V]{},
		}
		p.gRecords, p.gBytes = t.m.suppression(storeName)
		if err := p.load(); err != nil {
			return fmt.Errorf("load suppression buffer: %w", err)
		}
		in.next = append(in.next, p.process)
		return nil
	})
	n.stores = append([]string{storeName}, tableStores(tb)...)
	return Table[K, V]{b: b, n: n, keys: keys, values: values}
}

// findWindow finds the windowed aggregation a table comes from, through
// nodes with one parent.
func findWindow(n *node) *windowInfo {
	for n != nil {
		if n.window != nil {
			return n.window
		}
		if len(n.parents) != 1 {
			return nil
		}
		n = n.parents[0]
	}
	return nil
}

// bufEntry is a key's latest update in a suppression buffer.
type bufEntry[K, V any] struct {
	key     K
	kb      []byte
	due     int64 // the stream time (ms) at which it is emitted
	seq     uint64
	ts      time.Time
	value   V
	deleted bool
	size    int64
	gone    bool // emitted or dropped: skip it in the heap
}

type bufHeap[K, V any] []*bufEntry[K, V]

func (h bufHeap[K, V]) Len() int { return len(h) }
func (h bufHeap[K, V]) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h bufHeap[K, V]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *bufHeap[K, V]) Push(x any)   { *h = append(*h, x.(*bufEntry[K, V])) }
func (h *bufHeap[K, V]) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// suppressProc is one task's suppression buffer: the entries in memory,
// ordered by due time in a heap, and in a store (encoded key -> due, record
// timestamp, deletion flag and encoded value) from which they are loaded
// when the task opens.
type suppressProc[K, V any] struct {
	t      *task
	op     string
	clock  *observedTime
	store  *state.KeyValueStore[[]byte, []byte]
	keys   state.Serde[K]
	values state.Serde[V]
	out    *tableEmitter[K, V]
	win    *windowInfo // UntilWindowCloses
	limit  int64       // TimeLimit, ms
	cfg    BufferConfig

	entries map[string]*bufEntry[K, V]
	heap    bufHeap[K, V]
	bytes   int64
	seq     uint64

	// The buffer's size in the app's metrics (nil without metrics).
	gRecords, gBytes prometheus.Gauge
}

// sized reports the buffer's size to the metrics.
func (p *suppressProc[K, V]) sized() {
	if p.gRecords != nil {
		p.gRecords.Set(float64(len(p.entries)))
		p.gBytes.Set(float64(p.bytes))
	}
}

func encodeBufEntry(due, ts int64, deleted bool, vb []byte) []byte {
	out := make([]byte, 17, 17+len(vb))
	binary.BigEndian.PutUint64(out, uint64(due))
	binary.BigEndian.PutUint64(out[8:], uint64(ts))
	if deleted {
		out[16] = 1
	}
	return append(out, vb...)
}

func (p *suppressProc[K, V]) load() error {
	it := p.store.All()
	defer it.Close()
	for it.Next() {
		kb, eb := it.Key(), it.Value()
		if len(eb) < 17 {
			return fmt.Errorf("streams: %s: corrupt buffer entry", p.op)
		}
		k, err := p.keys.Decode(kb)
		if err != nil {
			return err
		}
		e := &bufEntry[K, V]{key: k, kb: kb, seq: p.seq,
			due:     int64(binary.BigEndian.Uint64(eb)),
			ts:      time.UnixMilli(int64(binary.BigEndian.Uint64(eb[8:]))),
			deleted: eb[16] == 1,
			size:    int64(len(kb) + len(eb)),
		}
		if !e.deleted {
			if e.value, err = p.values.Decode(eb[17:]); err != nil {
				return err
			}
		}
		p.seq++
		p.entries[string(kb)] = e
		heap.Push(&p.heap, e)
		p.bytes += e.size
	}
	p.sized()
	return it.Err()
}

// process buffers an update of the table.
func (p *suppressProc[K, V]) process(k K, v V, deleted bool, ts time.Time) error {
	p.clock.observe(ts)
	kb, err := p.keys.Encode(k)
	if err != nil {
		return err
	}
	e := p.entries[string(kb)]
	if p.win != nil && deleted {
		// A window deleted before it closed (a merged session) was never
		// emitted: there is nothing to retract.
		if e != nil {
			p.drop(e)
			return p.store.Delete(kb)
		}
		return nil
	}
	if e == nil {
		e = &bufEntry[K, V]{key: k, kb: kb, seq: p.seq}
		p.seq++
		if p.win != nil {
			e.due = p.win.closeTime(any(k).(hasWindowEnd).windowEnd())
		} else {
			// The first update's time: a key updated all the time is still
			// emitted every TimeLimit.
			e.due = ms(ts) + p.limit
		}
		p.entries[string(kb)] = e
		heap.Push(&p.heap, e)
	}
	var vb []byte
	if !deleted {
		if vb, err = p.values.Encode(v); err != nil {
			return err
		}
	}
	e.value, e.deleted, e.ts = v, deleted, ts
	eb := encodeBufEntry(e.due, ms(ts), deleted, vb)
	p.bytes += int64(len(kb)+len(eb)) - e.size
	e.size = int64(len(kb) + len(eb))
	p.sized()
	if err := p.store.Put(kb, eb); err != nil {
		return err
	}
	return p.evict()
}

// drop removes e from the buffer (not from the store).
func (p *suppressProc[K, V]) drop(e *bufEntry[K, V]) {
	e.gone = true
	delete(p.entries, string(e.kb))
	p.bytes -= e.size
	p.sized()
}

// evict emits the entries that are due at stream time, then, if the buffer
// is over its bounds, emits the oldest early or fails.
func (p *suppressProc[K, V]) evict() error {
	now := ms(p.clock.t)
	for {
		e := p.peek()
		if e == nil || e.due > now {
			break
		}
		if err := p.emitOldest(); err != nil {
			return err
		}
	}
	for p.full() {
		if p.cfg.WhenFull != EmitEarlyWhenFull {
			return fmt.Errorf("%w: %s holds %d records, %d bytes (max %d, %d)",
				ErrBufferFull, p.op, len(p.entries), p.bytes, p.cfg.MaxRecords, p.cfg.MaxBytes)
		}
		if err := p.emitOldest(); err != nil {
			return err
		}
	}
	return nil
}

func (p *suppressProc[K, V]) full() bool {
	return p.cfg.MaxRecords > 0 && len(p.entries) > p.cfg.MaxRecords ||
		p.cfg.MaxBytes > 0 && p.bytes > p.cfg.MaxBytes
}

// peek returns the entry due first, or nil.
func (p *suppressProc[K, V]) peek() *bufEntry[K, V] {
	for len(p.heap) > 0 && p.heap[0].gone {
		heap.Pop(&p.heap)
	}
	if len(p.heap) == 0 {
		return nil
	}
	return p.heap[0]
}

func (p *suppressProc[K, V]) emitOldest() error {
	e := p.peek()
	if e == nil {
		return nil
	}
	heap.Pop(&p.heap)
	p.drop(e)
	if err := p.store.Delete(e.kb); err != nil {
		return err
	}
	return p.out.emit(e.key, e.value, e.deleted, e.ts)
}
