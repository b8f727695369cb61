package kafkahash

import (
	"testing"

	"github.com/IBM/sarama"
)

// Known answers from Kafka's Java client (Utils.murmur2 and
// toPositive(murmur2(key)) % numPartitions).
func TestMatchesKafka(t *testing.T) {
	for _, c := range []struct {
		key  string
		hash int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(Murmur2([]byte(c.key))); got != c.hash {
			t.Errorf("murmur2(%q) = %d, want %d", c.key, got, c.hash)
		}
		want := (c.hash & 0x7fffffff) % 7
		if p := Partition([]byte(c.key), 7); p != want {
			t.Errorf("Partition(%q, 7) = %d, want %d", c.key, p, want)
		}
	}
	p := NewPartitioner("t")
	got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("foobar")}, 7)
	if err != nil || got != Partition([]byte("foobar"), 7) {
		t.Errorf("sarama partitioner put foobar on %d (%v)", got, err)
	}
	if !p.RequiresConsistency() {
		t.Error("keyed placement must be consistent")
	}
}
