package state

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"time"
)

// Window is a time interval in milliseconds since the Unix epoch. For a
// window store it is [Start, End) with End = Start + the store's window size;
// for a session store both ends are inclusive timestamps of the session's
// first and last record.
type Window struct {
	Start, End int64
}

// WindowStoreOptions configures a WindowStore.
type WindowStoreOptions struct {
	// Size is the length of each window; it sets Window.End in results.
	Size time.Duration
	// Retention is how long windows are kept, measured back from the
	// largest window start the store has seen (its stream time). Zero keeps
	// windows forever.
	Retention time.Duration
}

// WindowStore keeps one value per (key, window start). Its backend key is
// the encoded key followed by the window start in 8 big-endian,
// order-preserving bytes, so the windows of one key are contiguous and in
// time order, and fetching one key's windows over a time range is a single
// range scan.
//
// Retention: the store tracks stream time, the largest window start put
// into it. A put of a window that starts more than Retention before stream
// time is dropped (and counted, see Dropped); such windows are hidden from
// fetches; and expired windows are deleted by PurgeExpired, which Put runs
// by itself each time stream time has moved by half the retention. A purge
// scans the whole store. Stream time starts over after a restart, so expired
// windows restored from a changelog stay until puts move stream time again.
type WindowStore[K, V any] struct {
	b      Backend
	keys   Serde[K]
	values Serde[V]
	size   int64
	ret    int64

	mu         sync.Mutex // guards the following
	streamTime int64
	lastPurge  int64
	dropped    int64
}

// NewWindowStore returns a window store over b.
func NewWindowStore[K, V any](b Backend, keys Serde[K], values Serde[V], opts WindowStoreOptions) *WindowStore[K, V] {
	return &WindowStore[K, V]{
		b: b, keys: keys, values: values,
		size: opts.Size.Milliseconds(), ret: opts.Retention.Milliseconds(),
		streamTime: math.MinInt64, lastPurge: math.MinInt64,
	}
}

// Backend is the byte-level store under s.
func (s *WindowStore[K, V]) Backend() Backend { return s.b }

func (s *WindowStore[K, V]) windowKey(k K, start int64) ([]byte, error) {
	kb, err := s.keys.Encode(k)
	if err != nil {
		return nil, fmt.Errorf("state: encode key: %w", err)
	}
	return appendInt64(kb[:len(kb):len(kb)], start), nil
}

// expiredBefore returns the window start before which windows are expired.
func (s *WindowStore[K, V]) expiredBefore() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiredBeforeLocked()
}

// REQUIRES: s.mu held.
func (s *WindowStore[K, V]) expiredBeforeLocked() int64 {
	if s.ret <= 0 || s.streamTime == math.MinInt64 {
		return math.MinInt64
	}
	return s.streamTime - s.ret
}

// Put stores v for key k in the window starting at start (ms).
func (s *WindowStore[K, V]) Put(k K, start int64, v V) error {
	s.mu.Lock()
	if start > s.streamTime {
		s.streamTime = start
	}
	if start < s.expiredBeforeLocked() {
		s.dropped++
		s.mu.Unlock()
		return nil
	}
	purge := s.ret > 0 && (s.lastPurge == math.MinInt64 || s.streamTime-s.lastPurge >= s.ret/2)
	if purge {
		s.lastPurge = s.streamTime
	}
	s.mu.Unlock()

	wk, err := s.windowKey(k, start)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(v)
	if err != nil {
		return fmt.Errorf("state: encode value: %w", err)
	}
	if err := s.b.Put(wk, vb); err != nil {
		return err
	}
	if purge {
		_, err = s.PurgeExpired()
	}
	return err
}

// Get returns the value of k in the window starting at start.
func (s *WindowStore[K, V]) Get(k K, start int64) (v V, found bool, err error) {
	if start < s.expiredBefore() {
		return v, false, nil
	}
	wk, err := s.windowKey(k, start)
	if err != nil {
		return v, false, err
	}
	vb, found, err := s.b.Get(wk)
	if err != nil || !found {
		return v, false, err
	}
	v, err = s.values.Decode(vb)
	return v, err == nil, err
}

// Delete removes the window of k starting at start.
func (s *WindowStore[K, V]) Delete(k K, start int64) error {
	wk, err := s.windowKey(k, start)
	if err != nil {
		return err
	}
	return s.b.Delete(wk)
}

// Fetch iterates over the windows of k whose start is in [from, to], in time
// order.
func (s *WindowStore[K, V]) Fetch(k K, from, to int64) *WindowIterator[K, V] {
	kb, err := s.keys.Encode(k)
	if err != nil {
		return &WindowIterator[K, V]{err: fmt.Errorf("state: encode key: %w", err)}
	}
	if eb := s.expiredBefore(); from < eb {
		from = eb
	}
	if to < from {
		return &WindowIterator[K, V]{}
	}
	lo := appendInt64(bytes.Clone(kb), from)
	var hi []byte
	if to < math.MaxInt64 {
		hi = appendInt64(bytes.Clone(kb), to+1)
	} else {
		hi = prefixEnd(kb)
	}
	return &WindowIterator[K, V]{
		it: s.b.Range(lo, hi), keys: s.keys, values: s.values, size: s.size,
		keyLen: len(kb), from: from, to: to,
	}
}

// FetchAll iterates over the windows of every key whose start is in
// [from, to], in the order of their backend keys: within a key in time
// order, and keys in encoded order except that a key which is a prefix of
// another (string "a" and "ab") may come after it. It scans the whole store.
func (s *WindowStore[K, V]) FetchAll(from, to int64) *WindowIterator[K, V] {
	if eb := s.expiredBefore(); from < eb {
		from = eb
	}
	return &WindowIterator[K, V]{
		it: s.b.Range(nil, nil), keys: s.keys, values: s.values, size: s.size,
		keyLen: -1, from: from, to: to,
	}
}

// PurgeExpired deletes every window that starts more than the retention
// before stream time, and returns how many it deleted.
func (s *WindowStore[K, V]) PurgeExpired() (int, error) {
	eb := s.expiredBefore()
	if eb == math.MinInt64 {
		return 0, nil
	}
	it := s.b.Range(nil, nil)
	batch := s.b.NewBatch()
	for it.Next() {
		k := it.Key()
		if len(k) >= 8 && getInt64(k[len(k)-8:]) < eb {
			batch.Delete(k)
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if batch.Len() == 0 {
		return 0, nil
	}
	return batch.Len(), s.b.Write(batch)
}

// StreamTime is the largest window start put so far, or math.MinInt64.
func (s *WindowStore[K, V]) StreamTime() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamTime
}

// Dropped counts puts ignored because their window had already expired.
func (s *WindowStore[K, V]) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// WindowIterator walks windowed entries of a WindowStore or SessionStore.
// It stops at the first entry that does not decode; Err says why.
type WindowIterator[K, V any] struct {
	it      Iterator
	keys    Serde[K]
	values  Serde[V]
	size    int64
	session bool  // keys end with end, start (session store)
	keyLen  int   // encoded key length to match, or -1 for any
	from    int64 // inclusive bounds on the start (window) or see match
	to      int64
	match   func(w Window) bool

	k   K
	w   Window
	v   V
	err error
}

func (i *WindowIterator[K, V]) Next() bool {
	if i.err != nil || i.it == nil {
		return false
	}
	suffix := 8
	if i.session {
		suffix = 16
	}
	for i.it.Next() {
		raw := i.it.Key()
		if len(raw) < suffix || (i.keyLen >= 0 && len(raw) != i.keyLen+suffix) {
			continue
		}
		kb := raw[:len(raw)-suffix]
		var w Window
		if i.session {
			w.End = getInt64(raw[len(raw)-16:])
			w.Start = getInt64(raw[len(raw)-8:])
		} else {
			w.Start = getInt64(raw[len(raw)-8:])
			w.End = w.Start + i.size
			if w.Start < i.from || w.Start > i.to {
				continue
			}
		}
		if i.match != nil && !i.match(w) {
			continue
		}
		var err error
		if i.k, err = i.keys.Decode(kb); err != nil {
			i.err = fmt.Errorf("state: decode key: %w", err)
			return false
		}
		if i.v, err = i.values.Decode(i.it.Value()); err != nil {
			i.err = fmt.Errorf("state: decode value: %w", err)
			return false
		}
		i.w = w
		return true
	}
	return false
}

func (i *WindowIterator[K, V]) Key() K         { return i.k }
func (i *WindowIterator[K, V]) Window() Window { return i.w }
func (i *WindowIterator[K, V]) Value() V       { return i.v }

func (i *WindowIterator[K, V]) Err() error {
	if i.err != nil {
		return i.err
	}
	if i.it != nil {
		return i.it.Err()
	}
	return nil
}

func (i *WindowIterator[K, V]) Close() error {
	if i.it != nil {
		i.it.Close()
	}
	return i.Err()
}
