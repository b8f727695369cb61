package streams

import (
	"testing"
	"time"
)

// Stream time in offset commit metadata, in Kafka Streams'
// TopicPartitionMetadata layout.
func TestStreamTimeMetadata(t *testing.T) {
	at := time.UnixMilli(1_733_580_000_123)
	md := encodeStreamTime(at)
	// base64 of the version byte 2 and 1733580000123 as 8 bytes,
	// big-endian.
	if md != "AgAAAZOha4t7" {
		t.Errorf("encoded %q", md)
	}
	if got, ok := decodeStreamTime(md); !ok || !got.Equal(at) {
		t.Errorf("decoded %v %v", got, ok)
	}
	// Version 1, and version 2 followed by processor metadata, as Kafka
	// Streams may write them.
	for _, md := range []string{"AQAAAZOha4t7", "AgAAAZOha4t7AAAAAA=="} {
		if got, ok := decodeStreamTime(md); !ok || !got.Equal(at) {
			t.Errorf("%q decoded %v %v", md, got, ok)
		}
	}
	if encodeStreamTime(time.Time{}) != "" {
		t.Error("no stream time encodes as something")
	}
	for _, md := range []string{"", "not base64!", "AQID", "AwAAAZOha4t7", "Av//////////"} {
		if got, ok := decodeStreamTime(md); ok {
			t.Errorf("%q decoded as %v", md, got)
		}
	}
}
