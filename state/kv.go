package state

import "fmt"

// KeyValueStore is a typed key-value store over a Backend. Keys are encoded
// with the key serde and ordered by their encoded bytes, so Range follows
// the key serde's order (numeric for Int64, Uint64 and Float64, bytewise for
// String and Bytes; msgpack and JSON keys have no useful order).
//
// Like its Backend, a KeyValueStore is safe for one writer and many readers.
type KeyValueStore[K, V any] struct {
	b      Backend
	keys   Serde[K]
	values Serde[V]
}

// NewKeyValueStore returns a typed view of b.
func NewKeyValueStore[K, V any](b Backend, keys Serde[K], values Serde[V]) *KeyValueStore[K, V] {
	return &KeyValueStore[K, V]{b: b, keys: keys, values: values}
}

// Backend is the byte-level store under s.
func (s *KeyValueStore[K, V]) Backend() Backend { return s.b }

func (s *KeyValueStore[K, V]) encodeKey(k K) ([]byte, error) {
	kb, err := s.keys.Encode(k)
	if err != nil {
		return nil, fmt.Errorf("state: encode key: %w", err)
	}
	return kb, nil
}

// Get returns the value under k; found is false when there is none.
func (s *KeyValueStore[K, V]) Get(k K) (v V, found bool, err error) {
	kb, err := s.encodeKey(k)
	if err != nil {
		return v, false, err
	}
	vb, found, err := s.b.Get(kb)
	if err != nil || !found {
		return v, false, err
	}
	v, err = s.values.Decode(vb)
	if err != nil {
		return v, false, fmt.Errorf("state: decode value: %w", err)
	}
	return v, true, nil
}

// Put stores v under k.
func (s *KeyValueStore[K, V]) Put(k K, v V) error {
	kb, err := s.encodeKey(k)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(v)
	if err != nil {
		return fmt.Errorf("state: encode value: %w", err)
	}
	return s.b.Put(kb, vb)
}

// PutIfAbsent stores v under k unless k has a value; then it returns that
// value and found=true, and writes nothing.
func (s *KeyValueStore[K, V]) PutIfAbsent(k K, v V) (existing V, found bool, err error) {
	kb, err := s.encodeKey(k)
	if err != nil {
		return existing, false, err
	}
	vb, err := s.values.Encode(v)
	if err != nil {
		return existing, false, fmt.Errorf("state: encode value: %w", err)
	}
	old, found, err := s.b.PutIfAbsent(kb, vb)
	if err != nil || !found {
		return existing, false, err
	}
	existing, err = s.values.Decode(old)
	return existing, true, err
}

// Delete removes k.
func (s *KeyValueStore[K, V]) Delete(k K) error {
	kb, err := s.encodeKey(k)
	if err != nil {
		return err
	}
	return s.b.Delete(kb)
}

// Range iterates over keys in [from, to) in encoded-key order.
func (s *KeyValueStore[K, V]) Range(from, to K) *KVIterator[K, V] {
	fb, err := s.encodeKey(from)
	if err != nil {
		return &KVIterator[K, V]{err: err}
	}
	tb, err := s.encodeKey(to)
	if err != nil {
		return &KVIterator[K, V]{err: err}
	}
	return s.iter(s.b.Range(fb, tb))
}

// All iterates over every key in encoded-key order.
func (s *KeyValueStore[K, V]) All() *KVIterator[K, V] {
	return s.iter(s.b.Range(nil, nil))
}

// Prefix iterates over the keys whose encoding starts with the encoding of
// prefix. It is meant for serdes whose encoding of a prefix is a prefix of
// the encoding (String, Bytes).
func (s *KeyValueStore[K, V]) Prefix(prefix K) *KVIterator[K, V] {
	pb, err := s.encodeKey(prefix)
	if err != nil {
		return &KVIterator[K, V]{err: err}
	}
	return s.iter(s.b.Prefix(pb))
}

// ApproximateCount estimates the number of keys, see Backend.
func (s *KeyValueStore[K, V]) ApproximateCount() (int64, error) {
	return s.b.ApproximateCount()
}

func (s *KeyValueStore[K, V]) iter(it Iterator) *KVIterator[K, V] {
	return &KVIterator[K, V]{it: it, keys: s.keys, values: s.values}
}

// KVIterator walks typed entries; see Iterator. It stops at the first entry
// that does not decode, and Err then says why.
type KVIterator[K, V any] struct {
	it     Iterator
	keys   Serde[K]
	values Serde[V]
	k      K
	v      V
	err    error
}

// Next decodes the next entry.
func (i *KVIterator[K, V]) Next() bool {
	if i.err != nil || i.it == nil || !i.it.Next() {
		return false
	}
	var err error
	if i.k, err = i.keys.Decode(i.it.Key()); err != nil {
		i.err = fmt.Errorf("state: decode key: %w", err)
		return false
	}
	if i.v, err = i.values.Decode(i.it.Value()); err != nil {
		i.err = fmt.Errorf("state: decode value: %w", err)
		return false
	}
	return true
}

func (i *KVIterator[K, V]) Key() K   { return i.k }
func (i *KVIterator[K, V]) Value() V { return i.v }

// Err returns the first error met.
func (i *KVIterator[K, V]) Err() error {
	if i.err != nil {
		return i.err
	}
	if i.it != nil {
		return i.it.Err()
	}
	return nil
}

// Close releases the iterator and returns Err.
func (i *KVIterator[K, V]) Close() error {
	if i.it != nil {
		i.it.Close()
	}
	return i.Err()
}
