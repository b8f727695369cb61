package state

import (
	"bytes"
	"fmt"
	"math"
)

// SessionStore keeps one value per (key, session). Its backend key is the
// encoded key, then the session end and the session start, each in 8
// big-endian order-preserving bytes: one key's sessions are contiguous and
// ordered by end, so finding the sessions that end at or after a time is one
// range scan.
type SessionStore[K, V any] struct {
	b      Backend
	keys   Serde[K]
	values Serde[V]
}

// NewSessionStore returns a session store over b.
func NewSessionStore[K, V any](b Backend, keys Serde[K], values Serde[V]) *SessionStore[K, V] {
	return &SessionStore[K, V]{b: b, keys: keys, values: values}
}

// Backend is the byte-level store under s.
func (s *SessionStore[K, V]) Backend() Backend { return s.b }

func (s *SessionStore[K, V]) sessionKey(k K, w Window) ([]byte, error) {
	kb, err := s.keys.Encode(k)
	if err != nil {
		return nil, fmt.Errorf("state: encode key: %w", err)
	}
	return appendInt64(appendInt64(kb[:len(kb):len(kb)], w.End), w.Start), nil
}

// Put stores v for the session w of k.
func (s *SessionStore[K, V]) Put(k K, w Window, v V) error {
	sk, err := s.sessionKey(k, w)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(v)
	if err != nil {
		return fmt.Errorf("state: encode value: %w", err)
	}
	return s.b.Put(sk, vb)
}

// Get returns the value of the session w of k.
func (s *SessionStore[K, V]) Get(k K, w Window) (v V, found bool, err error) {
	sk, err := s.sessionKey(k, w)
	if err != nil {
		return v, false, err
	}
	vb, found, err := s.b.Get(sk)
	if err != nil || !found {
		return v, false, err
	}
	v, err = s.values.Decode(vb)
	return v, err == nil, err
}

// Remove deletes the session w of k.
func (s *SessionStore[K, V]) Remove(k K, w Window) error {
	sk, err := s.sessionKey(k, w)
	if err != nil {
		return err
	}
	return s.b.Delete(sk)
}

// FindSessions iterates over the sessions of k that overlap [from, to]:
// those ending at or after from and starting at or before to, ordered by
// end.
func (s *SessionStore[K, V]) FindSessions(k K, from, to int64) *WindowIterator[K, V] {
	kb, err := s.keys.Encode(k)
	if err != nil {
		return &WindowIterator[K, V]{err: fmt.Errorf("state: encode key: %w", err)}
	}
	lo := appendInt64(bytes.Clone(kb), from)
	return &WindowIterator[K, V]{
		it: s.b.Range(lo, prefixEnd(kb)), keys: s.keys, values: s.values,
		session: true, keyLen: len(kb),
		match: func(w Window) bool { return w.Start <= to },
	}
}

// Fetch iterates over every session of k, ordered by end.
func (s *SessionStore[K, V]) Fetch(k K) *WindowIterator[K, V] {
	return s.FindSessions(k, math.MinInt64, math.MaxInt64)
}

// FindAll iterates over the sessions of every key that overlap
// [from, to], in key order. It scans the whole store.
func (s *SessionStore[K, V]) FindAll(from, to int64) *WindowIterator[K, V] {
	return &WindowIterator[K, V]{
		it: s.b.Range(nil, nil), keys: s.keys, values: s.values,
		session: true, keyLen: -1,
		match: func(w Window) bool { return w.End >= from && w.Start <= to },
	}
}
