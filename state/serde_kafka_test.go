package state

import (
	"bytes"
	"math"
	"testing"
)

// Long and Double write what Kafka's LongSerializer and DoubleSerializer
// write, so other clients can read them.
func TestKafkaCompatibleSerdes(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{math.MinInt64, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
	} {
		b, _ := Long{}.Encode(c.v)
		if !bytes.Equal(b, c.want) {
			t.Errorf("Long(%d) = %x, want %x", c.v, b, c.want)
		}
		if v, err := (Long{}).Decode(b); err != nil || v != c.v {
			t.Errorf("Long round trip of %d: %d, %v", c.v, v, err)
		}
	}
	b, _ := Double{}.Encode(1.5)
	if want := []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}; !bytes.Equal(b, want) {
		t.Errorf("Double(1.5) = %x, want %x", b, want)
	}
	if _, err := (Long{}).Decode([]byte{1, 2}); err == nil {
		t.Error("Long decoded 2 bytes")
	}
}
