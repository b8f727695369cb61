package streams

import (
	"time"

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
	if n <= 1 {
		return 0
	}
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's org.apache.kafka.common.utils.Utils.murmur2.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	n := length / 4
	for i := 0; i < n; i++ {
		j := i * 4
		k := uint32(data[j]) | uint32(data[j+1])<<8 | uint32(data[j+2])<<16 | uint32(data[j+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n*4:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
