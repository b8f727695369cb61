package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// Serde turns values of type T into bytes and back. Key serdes decide the
// order of range scans: a store orders keys by their encoded bytes, so the
// number serdes here use big-endian, order-preserving encodings.
//
// A Serde must be safe for concurrent use. Decode must not keep the slice it
// is given: stores reuse it.
type Serde[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// SerdeFuncs makes a Serde from two functions, for users' own encodings.
type SerdeFuncs[T any] struct {
	EncodeFunc func(T) ([]byte, error)
	DecodeFunc func([]byte) (T, error)
}

func (s SerdeFuncs[T]) Encode(v T) ([]byte, error) { return s.EncodeFunc(v) }
func (s SerdeFuncs[T]) Decode(b []byte) (T, error) { return s.DecodeFunc(b) }

// Msgpack encodes values with github.com/vmihailenco/msgpack/v5. It is the
// default for structs. Its encoding does not preserve order, so it suits
// values and keys that are only looked up, not ranged over.
type Msgpack[T any] struct{}

func (Msgpack[T]) Encode(v T) ([]byte, error) { return msgpack.Marshal(v) }
func (Msgpack[T]) Decode(b []byte) (T, error) {
	var v T
	err := msgpack.Unmarshal(b, &v)
	return v, err
}

// JSON encodes values with encoding/json.
type JSON[T any] struct{}

func (JSON[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// String stores a string as its bytes; keys order bytewise.
type String struct{}

func (String) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (String) Decode(b []byte) (string, error) { return string(b), nil }

// Bytes stores bytes as they are. Decode copies.
type Bytes struct{}

func (Bytes) Encode(v []byte) ([]byte, error) { return v, nil }
func (Bytes) Decode(b []byte) ([]byte, error) { return append([]byte{}, b...), nil }

// Int64 encodes an int64 in 8 big-endian bytes with the sign bit flipped,
// so that encoded keys sort in numeric order (negative numbers first).
type Int64 struct{}

func (Int64) Encode(v int64) ([]byte, error) { return appendInt64(nil, v), nil }
func (Int64) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: int64 needs 8 bytes, got %d", len(b))
	}
	return getInt64(b), nil
}

// Long encodes an int64 as Kafka's LongSerializer does: 8 big-endian bytes,
// two's complement. Use it for records other Kafka clients read; Int64
// flips the sign bit so that keys sort in numeric order, which Long's
// bytes do not for negative numbers.
type Long struct{}

func (Long) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}
func (Long) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: long needs 8 bytes, got %d", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Double encodes a float64 as Kafka's DoubleSerializer does: the IEEE 754
// bits, big-endian. Float64 is its order-preserving counterpart.
type Double struct{}

func (Double) Encode(v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v)), nil
}
func (Double) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: double needs 8 bytes, got %d", len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// Uint64 encodes a uint64 in 8 big-endian bytes.
type Uint64 struct{}

func (Uint64) Encode(v uint64) ([]byte, error) { return binary.BigEndian.AppendUint64(nil, v), nil }
func (Uint64) Decode(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: uint64 needs 8 bytes, got %d", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Float64 encodes a float64 in 8 big-endian bytes that sort in numeric
// order: positive numbers get the sign bit set, negative ones have every
// bit flipped. -0 sorts just before +0; NaNs sort at the ends.
type Float64 struct{}

func (Float64) Encode(v float64) ([]byte, error) {
	u := math.Float64bits(v)
	if u&(1<<63) != 0 {
		u = ^u
	} else {
		u |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(nil, u), nil
}

func (Float64) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: float64 needs 8 bytes, got %d", len(b))
	}
	u := binary.BigEndian.Uint64(b)
	if u&(1<<63) != 0 {
		u &^= 1 << 63
	} else {
		u = ^u
	}
	return math.Float64frombits(u), nil
}

// appendInt64 appends v in the order-preserving encoding of Int64.
func appendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// getInt64 reads the first 8 bytes of b as written by appendInt64.
func getInt64(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}
