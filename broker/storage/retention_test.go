package storage

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// tsBatch is a one-record batch with timestamp ts.
func tsBatch(t testing.TB, ts int64) []byte {
	return makeKeyed(t, 0, ts, kv{key: []byte("k"), value: make([]byte, 100)})
}

func TestRetentionByTime(t *testing.T) {
	clock := &fakeClock{}
	clock.ms.Store(1_000_000)
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 1 << 10, Now: clock.now})
	defer l.Close()
	// Segments of ~5 batches; timestamps one second apart.
	for i := range 40 {
		appendT(t, l, tsBatch(t, 1_000_000+int64(i)*1000))
	}
	clock.ms.Store(1_000_000 + 40_000)
	segs := len(segmentFiles(t, dir, logSuffix))
	// retention.ms 20s: segments whose newest timestamp is more than 20s old go.
	res, err := l.ApplyRetention(Retention{Ms: 20_000, Bytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments == 0 || res.Segments >= segs {
		t.Fatalf("deleted %d of %d segments", res.Segments, segs)
	}
	start := l.StartOffset()
	// The first remaining segment holds a batch newer than now-20s; everything before is gone.
	if start > 20 || start < 10 {
		t.Fatalf("start offset %d", start)
	}
	if _, err := l.Read(start-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if len(segmentFiles(t, dir, logSuffix)) != segs-res.Segments || len(segmentFiles(t, dir, timeIndexSuffix)) != segs-res.Segments {
		t.Fatal("files not removed")
	}
	// Much later, everything goes, the active segment too, and the log rolls to an empty one.
	clock.advance(time.Hour)
	if _, err := l.ApplyRetention(Retention{Ms: 20_000, Bytes: -1}); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 40 || l.EndOffset() != 40 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.StartOffset(), l.EndOffset(), l.Size())
	}
	appendT(t, l, tsBatch(t, clock.ms.Load()))
	if l.EndOffset() != 41 {
		t.Fatal("append after emptying")
	}
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 1 << 10})
	defer l.Close()
	for range 50 {
		appendT(t, l, tsBatch(t, time.Now().UnixMilli()))
	}
	total := l.Size()
	res, err := l.ApplyRetention(Retention{Ms: -1, Bytes: 3 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() < 3<<10 || l.Size() > 3<<10+1<<10 || total-res.Bytes != l.Size() {
		t.Fatalf("size %d after retention.bytes 3072 (was %d, deleted %d)", l.Size(), total, res.Bytes)
	}
	// Unlimited retention deletes nothing.
	if res, _ := l.ApplyRetention(Retention{Ms: -1, Bytes: -1}); res.Segments != 0 {
		t.Fatal("deleted with no limits")
	}
}

func TestSetStartOffset(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 10}
	l := openT(t, dir, opts)
	for range 30 {
		appendT(t, l, tsBatch(t, 1))
	}
	if got, err := l.SetStartOffset(17); err != nil || got != 17 {
		t.Fatalf("SetStartOffset: %d %v", got, err)
	}
	if got, _ := l.SetStartOffset(5); got != 17 {
		t.Fatalf("start moved back to %d", got)
	}
	if _, err := l.SetStartOffset(31); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond the end: %v", err)
	}
	if _, err := l.Read(16, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	s, err := l.Read(17, 100)
	if err != nil || s.Size == 0 {
		t.Fatal(err)
	}
	s.Release()
	res, err := l.ApplyRetention(Retention{Ms: -1, Bytes: -1})
	if err != nil || res.Segments == 0 {
		t.Fatalf("segments below the start offset not deleted: %+v %v", res, err)
	}
	if l.StartOffset() != 17 {
		t.Fatalf("start %d", l.StartOffset())
	}
	// It survives a crash and a clean restart.
	l.crash()
	l = openT(t, dir, opts)
	if l.StartOffset() != 17 {
		t.Fatalf("start after crash %d", l.StartOffset())
	}
	l.Close()
	l = openT(t, dir, opts)
	defer l.Close()
	if l.StartOffset() != 17 {
		t.Fatalf("start after reopen %d", l.StartOffset())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	for _, codec := range []uint16{0, 1, 2, 3, 4} {
		dir := t.TempDir()
		opts := Options{SegmentBytes: 2 << 10, IndexIntervalBytes: 200}
		l := openT(t, dir, opts)
		// Batches of 3 records with timestamps 1000*i + {0, 10, 20}; timestamps rise.
		for i := range 60 {
			base := int64(1000 * (i + 1))
			appendT(t, l, makeKeyed(t, codec, base,
				kv{key: []byte("a"), value: []byte("1"), ts: base},
				kv{key: []byte("b"), value: []byte("2"), ts: base + 10},
				kv{key: []byte("c"), value: []byte("3"), ts: base + 20}))
		}
		check := func(l *Log) {
			for _, c := range []struct{ ts, off, gotTs int64 }{
				{0, 0, 1000}, {1000, 0, 1000}, {1001, 1, 1010}, {1015, 2, 1020}, {1021, 3, 2000},
				{30010, 88, 30010}, {60020, 179, 60020},
			} {
				off, ts, ok, err := l.OffsetForTimestamp(c.ts)
				if err != nil || !ok || off != c.off || ts != c.gotTs {
					t.Fatalf("codec %d: OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d", codec, c.ts, off, ts, ok, err, c.off, c.gotTs)
				}
			}
			if _, _, ok, _ := l.OffsetForTimestamp(60021); ok {
				t.Fatal("found a record after the last timestamp")
			}
			ts, off, err := l.MaxTimestamp()
			if err != nil || ts != 60020 || off != 179 {
				t.Fatalf("MaxTimestamp = %d, %d, %v", ts, off, err)
			}
		}
		check(l)
		l.Close()
		l = openT(t, dir, opts) // time index loaded from disk
		check(l)
		l.crash()
		l = openT(t, dir, opts) // and rebuilt
		check(l)
		// Below the log start offset nothing is returned.
		l.SetStartOffset(100)
		if off, _, ok, _ := l.OffsetForTimestamp(0); !ok || off != 100 {
			t.Fatalf("after start offset 100: %d", off)
		}
		l.Close()
	}
}

func TestMaxTimestampEmpty(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	if ts, off, err := l.MaxTimestamp(); ts != -1 || off != -1 || err != nil {
		t.Fatalf("%d %d %v", ts, off, err)
	}
}

func TestLogAppendTime(t *testing.T) {
	clock := &fakeClock{}
	clock.ms.Store(5_000_000)
	l := openT(t, t.TempDir(), Options{Now: clock.now})
	defer l.Close()
	b := makeKeyed(t, 2, 1000, kv{key: []byte("a"), value: []byte("1")}, kv{key: []byte("b"), value: []byte("2")})
	res, err := l.AppendLogTime(b)
	if err != nil || res.LogAppendTime != 5_000_000 {
		t.Fatalf("%+v %v", res, err)
	}
	s, _ := l.Read(0, 1<<20)
	got, _ := s.Bytes()
	s.Release()
	if _, _, err := ValidateBatches(got); err != nil {
		t.Fatalf("stored batch invalid: %v", err)
	}
	if binary.BigEndian.Uint16(got[offAttributes:])&timestampTypeBit == 0 || int64(binary.BigEndian.Uint64(got[offMaxTimestamp:])) != 5_000_000 {
		t.Fatal("not marked as log-append time")
	}
	if off, ts, ok, _ := l.OffsetForTimestamp(4_000_000); !ok || off != 0 || ts != 5_000_000 {
		t.Fatalf("lookup: %d %d", off, ts)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	clock := &fakeClock{}
	clock.ms.Store(1_000_000)
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentMs: 10_000, Now: clock.now})
	defer l.Close()
	appendT(t, l, tsBatch(t, 1_000_000))
	appendT(t, l, tsBatch(t, 1_010_000)) // exactly segment.ms later: same segment
	if n := len(segmentFiles(t, dir, logSuffix)); n != 1 {
		t.Fatalf("%d segments", n)
	}
	appendT(t, l, tsBatch(t, 1_010_001)) // more than segment.ms after the first batch
	if n := len(segmentFiles(t, dir, logSuffix)); n != 2 {
		t.Fatalf("%d segments after segment.ms", n)
	}
	l.SetSegmentMs(0) // live change: never roll by time
	appendT(t, l, tsBatch(t, 9_000_000))
	if n := len(segmentFiles(t, dir, logSuffix)); n != 2 {
		t.Fatalf("%d segments with segment.ms off", n)
	}
}
