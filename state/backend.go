package state

import (
	"errors"
)

// Errors returned by stores. Their text names the package so that a wrapped
// error still says where it came from.
var (
	// ErrClosed is returned by every method of a store after Close.
	ErrClosed = errors.New("state: store closed")
	// ErrLocked is returned when a store directory is already open by
	// another owner, in this process or another one.
	ErrLocked = errors.New("state: store directory locked by another owner")
)

// Backend is a byte-level, ordered key-value store. Keys compare
// bytewise (bytes.Compare); every scan returns keys in that order.
//
// A Backend is safe for concurrent use by one writer and any number of
// readers. Slices passed to a Backend may be reused by the caller as soon as
// the call returns; slices it returns (Get, iterators) belong to the caller,
// except where Iterator says otherwise.
type Backend interface {
	// Get returns the value stored under key; found is false when there is
	// none. A stored empty value is returned as a non-nil empty slice.
	Get(key []byte) (value []byte, found bool, err error)
	// Put stores value under key, replacing any previous value. A nil value
	// is stored as an empty value; use Delete to remove a key.
	Put(key, value []byte) error
	// PutIfAbsent stores value under key only when the key has no value.
	// It returns the value already there and found=true when it did not
	// write.
	PutIfAbsent(key, value []byte) (existing []byte, found bool, err error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
	// Range iterates over keys in [from, to) in key order. A nil from starts
	// at the first key, a nil to runs to the last.
	Range(from, to []byte) Iterator
	// Prefix iterates over the keys that start with prefix, in key order.
	Prefix(prefix []byte) Iterator
	// ApproximateCount estimates the number of keys. Backends say how
	// approximate it is.
	ApproximateCount() (int64, error)
	// NewBatch returns an empty batch for Write.
	NewBatch() Batch
	// Write applies every operation of b, in order, atomically where the
	// backend can (LevelDB can; the memory backend holds its lock for the
	// whole batch, which has the same effect for readers).
	Write(b Batch) error
	// Close releases the backend and its directory lock. Close is
	// idempotent; other methods return ErrClosed after it.
	Close() error
}

// Iterator walks a range of keys in order. Call Next before the first Key.
// The slices returned by Key and Value are valid only until the next call to
// Next or Close; copy them to keep them. An Iterator is not safe for
// concurrent use. Close must be called; it returns the first error the
// iteration met, as Err does.
type Iterator interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close() error
}

// Batch collects writes for Backend.Write. It copies the slices it is
// given. A Batch is not safe for concurrent use and belongs to the backend
// that made it.
type Batch interface {
	Put(key, value []byte)
	Delete(key []byte)
	// Len is the number of operations in the batch.
	Len() int
	// Size is the number of key and value bytes in the batch.
	Size() int
	Reset()
	// Replay calls r for each operation, in the order they were added.
	Replay(r BatchReplay) error
}

// BatchReplay receives the operations of a Batch, see Batch.Replay. The
// slices are valid only during the call.
type BatchReplay interface {
	Put(key, value []byte)
	Delete(key []byte)
}

// errIterator is an Iterator that yields nothing but an error.
type errIterator struct{ err error }

func (it errIterator) Next() bool    { return false }
func (it errIterator) Key() []byte   { return nil }
func (it errIterator) Value() []byte { return nil }
func (it errIterator) Err() error    { return it.err }
func (it errIterator) Close() error  { return it.err }

// prefixEnd returns the smallest key greater than every key that starts with
// prefix, or nil if there is none (prefix is empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// opBatch is a backend-neutral Batch: the operations in order, their bytes in
// one buffer.
type opBatch struct {
	buf  []byte
	ops  []batchOp
	size int
}

type batchOp struct {
	del                    bool
	kOff, kLen, vOff, vLen int
}

func (b *opBatch) Put(key, value []byte) {
	op := batchOp{kOff: len(b.buf), kLen: len(key)}
	b.buf = append(b.buf, key...)
	op.vOff, op.vLen = len(b.buf), len(value)
	b.buf = append(b.buf, value...)
	b.ops = append(b.ops, op)
	b.size += len(key) + len(value)
}

func (b *opBatch) Delete(key []byte) {
	op := batchOp{del: true, kOff: len(b.buf), kLen: len(key)}
	b.buf = append(b.buf, key...)
	b.ops = append(b.ops, op)
	b.size += len(key)
}

func (b *opBatch) Len() int  { return len(b.ops) }
func (b *opBatch) Size() int { return b.size }

func (b *opBatch) Reset() {
	b.buf, b.ops, b.size = b.buf[:0], b.ops[:0], 0
}

func (b *opBatch) Replay(r BatchReplay) error {
	for _, op := range b.ops {
		k := b.buf[op.kOff : op.kOff+op.kLen : op.kOff+op.kLen]
		if op.del {
			r.Delete(k)
			continue
		}
		r.Put(k, b.buf[op.vOff:op.vOff+op.vLen:op.vOff+op.vLen])
	}
	return nil
}
