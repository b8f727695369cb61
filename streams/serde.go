package streams

import (
	"time"

	"github.com/eddy-streams/eddy/internal/kafkahash"
	"github.com/eddy-streams/eddy/state"
)

// Record is one key-value pair flowing through a topology, with its event
// time and headers.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp time.Time
	Headers   []Header
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// KeyValue is one pair returned by FlatMap.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KV builds a KeyValue.
func KV[K, V any](k K, v V) KeyValue[K, V] { return KeyValue[K, V]{Key: k, Value: v} }

// DefaultSerde is the serde used where none is given: state.String for
// string, state.Bytes for []byte, state.Long for int64 and state.Double for
// float64 (the encodings of Kafka's own serdes, so Java and other clients
// read what a topology writes), and state.Msgpack[T] for everything else.
func DefaultSerde[T any]() state.Serde[T] {
	var zero T
	var s any
	switch any(zero).(type) {
	case string:
		s = state.String{}
	case []byte:
		s = state.Bytes{}
	case int64:
		s = state.Long{}
	case float64:
		s = state.Double{}
	default:
		return state.Msgpack[T]{}
	}
	return s.(state.Serde[T])
}

// serdeOverride is s, or def when s is nil (a Materialized's serdes
// override the ones upstream).
func serdeOverride[T any](s, def state.Serde[T]) state.Serde[T] {
	if s == nil {
		return def
	}
	return s
}

func serdeOr[T any](s state.Serde[T]) state.Serde[T] {
	if s == nil {
		return DefaultSerde[T]()
	}
	return s
}

// Partitioner picks the partition of an output record among n.
type Partitioner[K, V any] func(key K, value V, n int32) int32

// DefaultPartition is the partition Kafka's Java client (and so Kafka
// Streams) chooses for an encoded key among n: murmur2, made positive,
// modulo n. Repartition topics and To without a Partitioner use it.
func DefaultPartition(key []byte, n int32) int32 {
	return kafkahash.Partition(key, n)
}
