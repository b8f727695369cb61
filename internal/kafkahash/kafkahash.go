// Package kafkahash places keyed records on partitions the way Kafka's
// Java client does (murmur2 of the key bytes), so that Eddy's streams and
// connectors agree with each other and with any Kafka producer about where
// a key lives — which co-partitioned joins depend on.
package kafkahash

import (
	"math/rand/v2"

	"github.com/IBM/sarama"
)

// Partition is the partition Kafka's default partitioner chooses for key
// among n: murmur2, made positive, modulo n.
func Partition(key []byte, n int32) int32 {
	if n <= 1 {
		return 0
	}
	return int32(Murmur2(key)&0x7fffffff) % n
}

// Murmur2 is Kafka's org.apache.kafka.common.utils.Utils.murmur2.
func Murmur2(data []byte) uint32 {
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

// NewPartitioner is a sarama.PartitionerConstructor that places keyed
// messages with Partition and spreads messages without a key at random.
func NewPartitioner(topic string) sarama.Partitioner { return partitioner{} }

type partitioner struct{}

func (partitioner) Partition(msg *sarama.ProducerMessage, n int32) (int32, error) {
	if msg.Key == nil {
		return rand.Int32N(max(n, 1)), nil
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return -1, err
	}
	return Partition(key, n), nil
}

// RequiresConsistency tells sarama a key must always go to the same
// partition (it then waits for a partition to be available rather than
// choosing another).
func (partitioner) RequiresConsistency() bool { return true }
