package streams

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// StreamJoined names a stream-stream join and gives the serdes its stores
// use (nil: the streams'). With a Name the join's stores are
// "<Name>-this-join-store", "<Name>-other-join-store" and, for left and
// outer joins, "<Name>-outer-shared-join-store", each with its changelog.
type StreamJoined[K, V1, V2 any] struct {
	Name        string
	Keys        state.Serde[K]
	Values      state.Serde[V1]
	OtherValues state.Serde[V2]
}

// JoinStreams joins two co-partitioned streams: every pair of records with
// equal keys whose timestamps are within w gives fn(left, right), with the
// later of the two timestamps. Streams whose keys may have changed are
// repartitioned first. It is Kafka Streams' KStream.join(KStream).
//
// Each side's records are kept in a window store for as long as they may
// still join (Before + After + Grace behind stream time); a record older
// than that when it arrives is late: dropped, counted and logged. Stream
// time, for a join, is the largest timestamp of the records of either side
// it has seen (Kafka Streams' shared time tracker of the join), committed
// with the input offsets and resumed after a restart.
func JoinStreams[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], fn func(v1 V1, v2 V2) VR, w JoinWindows, j StreamJoined[K, V1, V2]) Stream[K, VR] {
	return streamJoin(left, right, "KSTREAM-JOIN", false, false, w, j,
		func(v1 V1, _ bool, v2 V2, _ bool) VR { return fn(v1, v2) })
}

// LeftJoinStreams is JoinStreams that also emits the left records that
// join nothing: fn gets found=false and the zero V2 for them, once their
// window has closed (stream time past their timestamp plus After plus
// Grace), so that a left record that finds a partner late in its window
// gives only the joined result (Kafka Streams 3.1 and later).
func LeftJoinStreams[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], fn func(v1 V1, v2 V2, found bool) VR, w JoinWindows, j StreamJoined[K, V1, V2]) Stream[K, VR] {
	return streamJoin(left, right, "KSTREAM-LEFTJOIN", true, false, w, j,
		func(v1 V1, _ bool, v2 V2, ok2 bool) VR { return fn(v1, v2, ok2) })
}

// OuterJoinStreams is LeftJoinStreams for both sides: a right record that
// joins nothing gives fn with found1=false and the zero V1 once its window
// (its timestamp plus Before plus Grace) has closed.
func OuterJoinStreams[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], fn func(v1 V1, found1 bool, v2 V2, found2 bool) VR, w JoinWindows, j StreamJoined[K, V1, V2]) Stream[K, VR] {
	return streamJoin(left, right, "KSTREAM-OUTERJOIN", true, true, w, j, fn)
}

const (
	leftSide  byte = 0
	rightSide byte = 1
)

func streamJoin[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], prefix string, leftOuter, rightOuter bool,
	w JoinWindows, j StreamJoined[K, V1, V2], fn func(V1, bool, V2, bool) VR) Stream[K, VR] {
	b := left.b
	if right.b != b {
		b.fail("%s: the streams come from different builders", prefix)
	}
	if w.Before < 0 || w.After < 0 || w.Grace < 0 || w.Before+w.After <= 0 {
		b.fail("JoinWindows: Before, After and Grace must not be negative and Before+After must be positive (got %v, %v, %v)", w.Before, w.After, w.Grace)
	}
	if j.Keys != nil {
		left.keys = j.Keys
		right.keys = j.Keys
	}
	if j.Values != nil {
		left.values = j.Values
	}
	if j.OtherValues != nil {
		right.values = j.OtherValues
	}
	if left.keyChanged {
		left = repartition(left, Repartitioned[K, V1]{Name: nameIf(j.Name, "-left")}, prefix)
	}
	if right.keyChanged {
		right = repartition(right, Repartitioned[K, V2]{Name: nameIf(j.Name, "-right")}, prefix)
	}
	name := b.newName(prefix)
	thisStore, otherStore, outerStore := j.Name+"-this-join-store", j.Name+"-other-join-store", j.Name+"-outer-shared-join-store"
	if j.Name == "" {
		thisStore = b.newName("KSTREAM-JOINTHIS") + "-store"
		otherStore = b.newName("KSTREAM-JOINOTHER") + "-store"
		outerStore = b.newName("KSTREAM-OUTERSHARED") + "-store"
	}
	ret := w.Before + w.After + w.Grace
	list := state.Msgpack[[][]byte]{}
	b.addStore(windowSpec(thisStore, left.keys, state.Serde[[][]byte](list), 0, ret))
	b.addStore(windowSpec(otherStore, left.keys, state.Serde[[][]byte](list), 0, ret))
	stores := []string{thisStore, otherStore}
	outer := leftOuter || rightOuter
	if outer {
		b.addStore(kvSpec(outerStore, state.Serde[[]byte](state.Bytes{}), state.Serde[[][]byte](list)))
		stores = append(stores, outerStore)
	}
	keys, lvals, rvals := left.keys, left.values, right.values
	var n *node
	n = b.addNode(kindProcessor, name, []*node{left.n, right.n}, func(t *task) error {
		inL, err := inOf[K, V1](t, left.n)
		if err != nil {
			return err
		}
		inR, err := inOf[K, V2](t, right.n)
		if err != nil {
			return err
		}
		ls, err := windowStore[K, [][]byte](t, thisStore)
		if err != nil {
			return err
		}
		rs, err := windowStore[K, [][]byte](t, otherStore)
		if err != nil {
			return err
		}
		p := &streamJoinProc[K, V1, V2, VR]{
			t: t, op: name, clock: t.clock(name), keys: keys, lvals: lvals, rvals: rvals, fn: fn,
			ls: ls, rs: rs, out: newOut[K, VR](t, n),
			before: w.Before.Milliseconds(), after: w.After.Milliseconds(), grace: w.Grace.Milliseconds(),
			leftOuter: leftOuter, rightOuter: rightOuter, minPending: math.MinInt64,
		}
		if outer {
			if p.pending, err = kvStore[[]byte, [][]byte](t, outerStore); err != nil {
				return err
			}
		}
		inL.next = append(inL.next, func(r Record[K, V1]) error {
			vb, err := lvals.Encode(r.Value)
			if err != nil {
				return err
			}
			return p.process(leftSide, r.Key, r.Timestamp, vb, r.Headers)
		})
		inR.next = append(inR.next, func(r Record[K, V2]) error {
			vb, err := rvals.Encode(r.Value)
			if err != nil {
				return err
			}
			return p.process(rightSide, r.Key, r.Timestamp, vb, r.Headers)
		})
		return nil
	})
	n.stores = stores
	return Stream[K, VR]{b: b, n: n, keys: keys, values: DefaultSerde[VR]()}
}

func nameIf(name, suffix string) string {
	if name == "" {
		return ""
	}
	return name + suffix
}

// streamJoinProc joins the records of both sides of one task. Records are
// kept encoded: a window store per side maps (key, timestamp) to the list
// of values with that key and timestamp; the pending store of outer joins
// maps timestamp+side+key to the values that have not joined yet, in time
// order.
type streamJoinProc[K, V1, V2, VR any] struct {
	t     *task
	op    string
	clock *observedTime // shared by both sides, as Kafka's sharedTimeTracker
	keys  state.Serde[K]
	lvals state.Serde[V1]
	rvals state.Serde[V2]
	fn    func(V1, bool, V2, bool) VR
	ls    *state.WindowStore[K, [][]byte]
	rs    *state.WindowStore[K, [][]byte]
	out   *emitter[K, VR]

	before, after, grace  int64
	leftOuter, rightOuter bool
	pending               *state.KeyValueStore[[]byte, [][]byte]
	// minPending is no later than the oldest pending timestamp
	// (math.MinInt64: unknown, as after a restart).
	minPending int64
}

// window returns how far before and after its own timestamp a record of
// side looks for partners.
func (p *streamJoinProc[K, V1, V2, VR]) window(side byte) (before, after int64) {
	if side == leftSide {
		return p.before, p.after
	}
	return p.after, p.before
}

func (p *streamJoinProc[K, V1, V2, VR]) process(side byte, k K, when time.Time, vb []byte, headers []Header) error {
	p.clock.observe(when)
	ts, now := ms(when), ms(p.clock.t)
	if ts < now-(p.before+p.after+p.grace) {
		p.t.lateRecord(p.op, when)
		return nil
	}
	if p.pending != nil {
		if err := p.emitClosed(); err != nil {
			return err
		}
	}
	this, other := p.ls, p.rs
	if side == rightSide {
		this, other = p.rs, p.ls
	}
	vals, _, err := this.Get(k, ts)
	if err != nil {
		return err
	}
	if err := this.Put(k, ts, append(vals, vb)); err != nil {
		return err
	}
	before, after := p.window(side)
	joined := false
	it := other.Fetch(k, ts-before, ts+after)
	type match struct {
		ts   int64
		vals [][]byte
	}
	var matches []match
	for it.Next() {
		matches = append(matches, match{it.Window().Start, it.Value()})
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, m := range matches {
		joined = true
		if p.pending != nil {
			if err := p.unpend(1-side, k, m.ts); err != nil {
				return err
			}
		}
		for _, ob := range m.vals {
			lb, rb := vb, ob
			if side == rightSide {
				lb, rb = ob, vb
			}
			if err := p.emit(k, lb, true, rb, true, max(ts, m.ts), headers); err != nil {
				return err
			}
		}
	}
	if joined || !(side == leftSide && p.leftOuter || side == rightSide && p.rightOuter) {
		return nil
	}
	if ts+after+p.grace < now {
		// Its window has closed already.
		return p.emitUnjoined(side, k, vb, ts)
	}
	pk, err := p.pendingKey(ts, side, k)
	if err != nil {
		return err
	}
	pv, _, err := p.pending.Get(pk)
	if err != nil {
		return err
	}
	p.minPending = min(p.minPending, ts)
	return p.pending.Put(pk, append(pv, vb))
}

func (p *streamJoinProc[K, V1, V2, VR]) emit(k K, lb []byte, lok bool, rb []byte, rok bool, ts int64, headers []Header) error {
	var v1 V1
	var v2 V2
	var err error
	if lok {
		if v1, err = p.lvals.Decode(lb); err != nil {
			return fmt.Errorf("streams: %s: decode left value: %w", p.op, err)
		}
	}
	if rok {
		if v2, err = p.rvals.Decode(rb); err != nil {
			return fmt.Errorf("streams: %s: decode right value: %w", p.op, err)
		}
	}
	return p.out.emit(Record[K, VR]{Key: k, Value: p.fn(v1, lok, v2, rok), Timestamp: time.UnixMilli(ts), Headers: headers})
}

func (p *streamJoinProc[K, V1, V2, VR]) emitUnjoined(side byte, k K, vb []byte, ts int64) error {
	if side == leftSide {
		return p.emit(k, vb, true, nil, false, ts, nil)
	}
	return p.emit(k, nil, false, vb, true, ts, nil)
}

// pendingKey is the timestamp (order-preserving), the side and the key.
func (p *streamJoinProc[K, V1, V2, VR]) pendingKey(ts int64, side byte, k K) ([]byte, error) {
	kb, err := p.keys.Encode(k)
	if err != nil {
		return nil, err
	}
	tb, _ := state.Int64{}.Encode(ts)
	return append(append(tb, side), kb...), nil
}

// unpend forgets the pending values of side for k at ts: they have joined.
func (p *streamJoinProc[K, V1, V2, VR]) unpend(side byte, k K, ts int64) error {
	if side == leftSide && !p.leftOuter || side == rightSide && !p.rightOuter {
		return nil
	}
	pk, err := p.pendingKey(ts, side, k)
	if err != nil {
		return err
	}
	_, found, err := p.pending.Get(pk)
	if err != nil || !found {
		return err
	}
	return p.pending.Delete(pk)
}

// emitClosed emits, in time order, the pending records whose window has
// closed, and forgets them.
func (p *streamJoinProc[K, V1, V2, VR]) emitClosed() error {
	now := ms(p.clock.t)
	shortest := min(p.before, p.after) + p.grace
	if p.minPending == math.MaxInt64 || p.minPending != math.MinInt64 && p.minPending+shortest >= now {
		return nil
	}
	var done [][]byte
	next := int64(math.MaxInt64)
	it := p.pending.All()
	for it.Next() {
		pk := it.Key()
		ts, _ := state.Int64{}.Decode(pk[:8])
		if ts+shortest >= now {
			next = min(next, ts)
			break
		}
		side := pk[8]
		_, after := p.window(side)
		if ts+after+p.grace >= now {
			next = min(next, ts)
			continue
		}
		k, err := p.keys.Decode(pk[9:])
		if err != nil {
			it.Close()
			return err
		}
		for _, vb := range it.Value() {
			if err := p.emitUnjoined(side, k, vb, ts); err != nil {
				it.Close()
				return err
			}
		}
		done = append(done, bytes.Clone(pk))
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, pk := range done {
		if err := p.pending.Delete(pk); err != nil {
			return err
		}
	}
	p.minPending = next
	return nil
}
