package streams

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// Stream time in offset commit metadata, in Kafka Streams'
// TopicPartitionMetadata layout.
func TestStreamTimeMetadata(t *testing.T) {
	at := time.UnixMilli(1_733_580_000_123)
	md := encodeStreamTime(at, nil)
	// base64 of the version byte 2 and 1733580000123 as 8 bytes,
	// big-endian.
	if md != "AgAAAZOha4t7" {
		t.Errorf("encoded %q", md)
	}
	if got, ok := decodeStreamTime(md); !ok || !got.stream.Equal(at) || got.procs != nil {
		t.Errorf("decoded %v %v", got, ok)
	}
	// Version 1, and version 2 followed by processor metadata, as Kafka
	// Streams may write them.
	for _, md := range []string{"AQAAAZOha4t7", "AgAAAZOha4t7AAAAAA=="} {
		if got, ok := decodeStreamTime(md); !ok || !got.stream.Equal(at) {
			t.Errorf("%q decoded %v %v", md, got, ok)
		}
	}
	if encodeStreamTime(time.Time{}, map[string]time.Time{"p": at}) != "" {
		t.Error("no stream time encodes as something")
	}
	for _, md := range []string{"", "not base64!", "AQID", "AwAAAZOha4t7", "Av//////////"} {
		if got, ok := decodeStreamTime(md); ok {
			t.Errorf("%q decoded as %v", md, got)
		}
	}
}

// The processors' observed stream times follow the partition time, and
// survive a round trip; an empty section is not a missing one; a section
// that does not parse is ignored (the task's time then stands for them).
func TestObservedStreamTimesMetadata(t *testing.T) {
	at := time.UnixMilli(1_733_580_000_123)
	procs := map[string]time.Time{"KSTREAM-AGGREGATE-0000000003": at.Add(-time.Hour), "j": at.Add(-time.Second)}
	got, ok := decodeStreamTime(encodeStreamTime(at, procs))
	if !ok || !got.stream.Equal(at) || len(got.procs) != 2 ||
		!got.procs["KSTREAM-AGGREGATE-0000000003"].Equal(at.Add(-time.Hour)) || !got.procs["j"].Equal(at.Add(-time.Second)) {
		t.Errorf("decoded %v %v", got, ok)
	}
	if got, ok := decodeStreamTime(encodeStreamTime(at, map[string]time.Time{})); !ok || got.procs == nil || len(got.procs) != 0 {
		t.Errorf("empty section decoded %v %v", got, ok)
	}
	// Too many (or too long) names for Kafka's default
	// offset.metadata.max.bytes: the processor times are left out.
	many := map[string]time.Time{}
	for i := range 200 {
		many[fmt.Sprintf("KSTREAM-AGGREGATE-%010d", i)] = at
	}
	if md := encodeStreamTime(at, many); len(md) > 4096 {
		t.Errorf("metadata of %d bytes", len(md))
	} else if got, ok := decodeStreamTime(md); !ok || !got.stream.Equal(at) || got.procs != nil {
		t.Errorf("oversized section decoded %v %v; want the stream time alone", got, ok)
	}
	md := encodeStreamTime(at, procs)
	b, _ := base64.StdEncoding.DecodeString(md)
	for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte{}, b...), 0), b[:11]} {
		got, ok := decodeStreamTime(base64.StdEncoding.EncodeToString(bad))
		if !ok || !got.stream.Equal(at) || got.procs != nil {
			t.Errorf("%x decoded %v %v; want the stream time without processor times", bad, got, ok)
		}
	}
}
