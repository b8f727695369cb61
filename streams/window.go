package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// TimeWindows are windows of a fixed Size aligned to the Unix epoch, as
// Kafka Streams' TimeWindows.ofSizeAndGrace(Size, Grace).advanceBy(Advance):
// tumbling when Advance is zero or Size (each record is in one window),
// hopping when Advance is smaller (each record is in Size/Advance windows).
// A window [start, start+Size) takes records until stream time (the
// aggregation's own, see WindowedBy) reaches its end plus Grace; later records for it are dropped as late. Zero Grace
// admits no out-of-order record after a window's end.
type TimeWindows struct {
	Size    time.Duration
	Advance time.Duration
	Grace   time.Duration
}

// SlidingWindows are Kafka Streams' SlidingWindows.ofTimeDifferenceAndGrace:
// windows [start, start+TimeDifference], both ends inclusive, one for every
// distinct set of records of a key that lie within TimeDifference of each
// other. Each record creates at most two windows: the one ending at it and
// the one starting just after it.
type SlidingWindows struct {
	TimeDifference time.Duration
	Grace          time.Duration
}

// SessionWindows group the records of a key into sessions separated by more
// than Gap of inactivity, as Kafka Streams' SessionWindows
// .ofInactivityGapAndGrace. A session [first, last] (inclusive) takes
// records until stream time (the aggregation's own, see WindowedBy) passes
// its end plus Grace; a record that bridges two sessions merges them.
type SessionWindows struct {
	Gap   time.Duration
	Grace time.Duration
}

// JoinWindows bound a stream-stream join, as Kafka Streams' JoinWindows: a
// record of the left stream at time t joins the right stream's records of
// the same key whose timestamps are in [t-Before, t+After] (and so a right
// record at t joins left records in [t-After, t+Before]). JoinWindows
// {Before: d, After: d} is ofTimeDifferenceAndGrace(d, Grace). Grace is how
// long after its window's end a record may still arrive.
type JoinWindows struct {
	Before time.Duration
	After  time.Duration
	Grace  time.Duration
}

// Windowed is a key of a windowed aggregation: the grouping key and its
// window. Start and End are milliseconds-precise; End is exclusive for time
// windows and inclusive (the last record's time) for sliding and session
// windows, as in Kafka Streams. Windows decoded from topics and stores are
// in the local time zone (time.UnixMilli), so == compares them reliably with
// other times made by time.Unix, time.UnixMilli or Add.
type Windowed[K any] struct {
	Key   K
	Start time.Time
	End   time.Time
}

func (w Windowed[K]) String() string {
	return fmt.Sprintf("%v@[%d,%d]", w.Key, w.Start.UnixMilli(), w.End.UnixMilli())
}

// windowEnd lets Suppress read the window of a key of any type.
func (w Windowed[K]) windowEnd() int64 { return w.End.UnixMilli() }

type hasWindowEnd interface{ windowEnd() int64 }

func windowed[K any](k K, start, end int64) Windowed[K] {
	return Windowed[K]{Key: k, Start: time.UnixMilli(start), End: time.UnixMilli(end)}
}

// windowInfo describes the windows of a windowed aggregation node, for
// Suppress.
type windowInfo struct {
	grace int64 // ms
	// inclusiveEnd: the window still takes records at its end (sliding and
	// session windows), so it closes a millisecond later.
	inclusiveEnd bool
}

// closeTime is the stream time at which the window ending at end closes.
func (w *windowInfo) closeTime(end int64) int64 {
	if w.inclusiveEnd {
		return end + w.grace + 1
	}
	return end + w.grace
}

// TimeWindowedSerde encodes a time-windowed key as Kafka Streams'
// TimeWindowedSerializer does: the encoded key followed by the window start
// in milliseconds, 8 bytes big-endian. Decoding sets End to Start+size.
func TimeWindowedSerde[K any](keys state.Serde[K], size time.Duration) state.Serde[Windowed[K]] {
	return timeWindowedSerde[K]{keys: serdeOr(keys), size: size.Milliseconds()}
}

type timeWindowedSerde[K any] struct {
	keys state.Serde[K]
	size int64
}

func (s timeWindowedSerde[K]) Encode(w Windowed[K]) ([]byte, error) {
	kb, err := s.keys.Encode(w.Key)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(kb[:len(kb):len(kb)], uint64(w.Start.UnixMilli())), nil
}

func (s timeWindowedSerde[K]) Decode(b []byte) (Windowed[K], error) {
	if len(b) < 8 {
		return Windowed[K]{}, errors.New("streams: time-windowed key shorter than 8 bytes")
	}
	k, err := s.keys.Decode(b[:len(b)-8])
	if err != nil {
		return Windowed[K]{}, err
	}
	start := int64(binary.BigEndian.Uint64(b[len(b)-8:]))
	return windowed(k, start, start+s.size), nil
}

// SessionWindowedSerde encodes a session-windowed key as Kafka Streams'
// SessionWindowedSerializer does: the encoded key, then the session end and
// start in milliseconds, 8 bytes big-endian each.
func SessionWindowedSerde[K any](keys state.Serde[K]) state.Serde[Windowed[K]] {
	return sessionWindowedSerde[K]{keys: serdeOr(keys)}
}

type sessionWindowedSerde[K any] struct{ keys state.Serde[K] }

func (s sessionWindowedSerde[K]) Encode(w Windowed[K]) ([]byte, error) {
	kb, err := s.keys.Encode(w.Key)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(kb[:len(kb):len(kb)], uint64(w.End.UnixMilli()))
	return binary.BigEndian.AppendUint64(out, uint64(w.Start.UnixMilli())), nil
}

func (s sessionWindowedSerde[K]) Decode(b []byte) (Windowed[K], error) {
	if len(b) < 16 {
		return Windowed[K]{}, errors.New("streams: session-windowed key shorter than 16 bytes")
	}
	k, err := s.keys.Decode(b[:len(b)-16])
	if err != nil {
		return Windowed[K]{}, err
	}
	end := int64(binary.BigEndian.Uint64(b[len(b)-16:]))
	start := int64(binary.BigEndian.Uint64(b[len(b)-8:]))
	return windowed(k, start, end), nil
}

// ValueAndTimestamp is a value of a time or sliding window store with the
// largest timestamp of the records aggregated into it (Kafka Streams'
// TimestampedWindowStore); updates of the window carry that timestamp.
type ValueAndTimestamp[V any] struct {
	Value     V
	Timestamp time.Time
}

// vatSerde encodes a ValueAndTimestamp as Kafka Streams does: the
// timestamp in 8 big-endian bytes, then the value.
type vatSerde[V any] struct{ values state.Serde[V] }

func (s vatSerde[V]) Encode(v ValueAndTimestamp[V]) ([]byte, error) {
	vb, err := s.values.Encode(v.Value)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+len(vb))
	binary.BigEndian.PutUint64(out, uint64(v.Timestamp.UnixMilli()))
	return append(out, vb...), nil
}

func (s vatSerde[V]) Decode(b []byte) (ValueAndTimestamp[V], error) {
	if len(b) < 8 {
		return ValueAndTimestamp[V]{}, errors.New("streams: timestamped value shorter than 8 bytes")
	}
	v, err := s.values.Decode(b[8:])
	if err != nil {
		return ValueAndTimestamp[V]{}, err
	}
	return ValueAndTimestamp[V]{Value: v, Timestamp: time.UnixMilli(int64(binary.BigEndian.Uint64(b)))}, nil
}

func windowSpec[K, V any](name string, keys state.Serde[K], values state.Serde[V], size, retention time.Duration) *storeSpec {
	return &storeSpec{name: name, open: func(b state.Backend) any {
		return state.NewWindowStore(b, keys, values, state.WindowStoreOptions{Size: size, Retention: retention})
	}}
}

func sessionSpec[K, V any](name string, keys state.Serde[K], values state.Serde[V]) *storeSpec {
	return &storeSpec{name: name, open: func(b state.Backend) any {
		return state.NewSessionStore(b, keys, values)
	}}
}

func windowStore[K, V any](t *task, name string) (*state.WindowStore[K, V], error) {
	s := t.stores[name]
	if s == nil {
		return nil, fmt.Errorf("streams: store %q is not in task %s", name, t.id)
	}
	ws, ok := s.typed.(*state.WindowStore[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: store %q is a %T, not a window store of these types", name, s.typed)
	}
	return ws, nil
}

func sessionStore[K, V any](t *task, name string) (*state.SessionStore[K, V], error) {
	s := t.stores[name]
	if s == nil {
		return nil, fmt.Errorf("streams: store %q is not in task %s", name, t.id)
	}
	ss, ok := s.typed.(*state.SessionStore[K, V])
	if !ok {
		return nil, fmt.Errorf("streams: store %q is a %T, not a session store of these types", name, s.typed)
	}
	return ss, nil
}

// windowStarts returns the starts of the time windows that contain ts (ms),
// in increasing order. Like Kafka Streams, windows of non-negative
// timestamps never start before the epoch.
func windowStarts(ts, size, advance int64) []int64 {
	first := floorDiv(ts-size+advance, advance) * advance
	if ts >= 0 && first < 0 {
		first = 0
	}
	var out []int64
	for s := first; s <= ts; s += advance {
		out = append(out, s)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ms is t in milliseconds since the epoch.
func ms(t time.Time) int64 { return t.UnixMilli() }

// logLateRecord logs a record dropped by a windowed operation at debug
// level, like Kafka Streams' "Skipping record for expired window".
func logLateRecord(log *slog.Logger, t *task, op string, ts time.Time, attrs []any) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	now := t.streamTime
	if c := t.clocks[op]; c != nil {
		now = c.t // the stream time the operator observed
	}
	args := []any{"task", t.id.String(), "op", op, "timestamp", ts.UnixMilli(), "stream_time", now.UnixMilli()}
	if t.cur != nil {
		args = append(args, "topic", t.cur.topic, "partition", t.cur.partition, "offset", t.cur.offset)
	}
	log.Debug("streams: skipping a record for an expired window", append(args, attrs...)...)
}
