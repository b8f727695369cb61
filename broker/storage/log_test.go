package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// sameBatch reports whether got is want apart from the baseOffset field Append rewrites.
func sameBatch(got, want []byte) bool {
	return len(got) == len(want) && bytes.Equal(got[lengthFieldEnd-4:], want[lengthFieldEnd-4:])
}

// TestAppendReadRoundTrip appends batches of varied sizes over several rolled segments and reads
// every offset back.
func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 512})
	defer l.Close()

	var want [][]byte
	var next int64
	for i := range 300 {
		b := makeBatch(1+i%7, (i*37)%400, byte(i))
		orig := bytes.Clone(b)
		res := appendT(t, l, b)
		if res.BaseOffset != next || res.LastOffset != next+int64(1+i%7)-1 || res.Batches != 1 || res.Records != 1+i%7 || res.Bytes != len(b) {
			t.Fatalf("append %d: %+v, want base %d", i, res, next)
		}
		if base, _ := batchOffsets(b); base != next {
			t.Fatalf("append did not rewrite baseOffset in place: %d, want %d", base, next)
		}
		next = res.LastOffset + 1
		want = append(want, orig)
	}
	if l.EndOffset() != next || l.StartOffset() != 0 {
		t.Fatalf("offsets [%d, %d), want [0, %d)", l.StartOffset(), l.EndOffset(), next)
	}
	if n := len(segmentFiles(t, dir, logSuffix)); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	var total int64
	for _, f := range segmentFiles(t, dir, logSuffix) {
		sz := fileSize(t, f)
		total += sz
		if sz > 8<<10 {
			t.Errorf("%s has %d bytes, above SegmentBytes", f, sz)
		}
	}
	if total != l.Size() {
		t.Errorf("Size %d, files hold %d", l.Size(), total)
	}

	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameBatch(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}

	// Every offset: the first batch returned contains it.
	for off := int64(0); off < next; off++ {
		s, err := l.Read(off, 1)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b, err := s.Bytes()
		s.Release()
		if err != nil {
			t.Fatal(err)
		}
		batches := splitBatches(t, b)
		if len(batches) != 1 {
			t.Fatalf("Read(%d, 1) returned %d batches, want exactly the first (KIP-74)", off, len(batches))
		}
		if base, last := batchOffsets(batches[0]); off < base || off > last {
			t.Fatalf("Read(%d) returned batch [%d, %d]", off, base, last)
		}
	}
}

func TestReadMaxBytes(t *testing.T) {
	l := openT(t, t.TempDir(), Options{IndexIntervalBytes: 100})
	defer l.Close()
	var sizes []int
	for i := range 50 {
		b := makeBatch(2, 50+i*10, 1)
		sizes = append(sizes, len(b))
		appendT(t, l, b)
	}
	for _, maxBytes := range []int{-1, 0, 1, 100, 500, 1000, 5000, 1 << 20, math.MaxInt} {
		for first := range 50 {
			s, err := l.Read(int64(first*2+1), maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			// Expected: the first batch, then as many whole ones as fit.
			want := sizes[first]
			for j := first + 1; j < len(sizes) && want+sizes[j] <= maxBytes; j++ {
				want += sizes[j]
			}
			if s.Size != int64(want) {
				t.Fatalf("Read(%d, %d) size %d, want %d", first*2+1, maxBytes, s.Size, want)
			}
			b, err := s.Bytes()
			s.Release()
			if err != nil {
				t.Fatal(err)
			}
			if base, _ := batchOffsets(b); base != int64(first*2) {
				t.Fatalf("Read(%d) starts at offset %d", first*2+1, base)
			}
			splitBatches(t, b)
		}
	}
}

func TestReadOutOfRange(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	s, err := l.Read(0, 100)
	if err != nil || s.Size != 0 {
		t.Fatalf("Read(0) on empty log: %+v, %v", s, err)
	}
	s.Release()
	if _, err := l.Read(1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(1) on empty log: %v", err)
	}
	appendT(t, l, makeBatch(3, 10, 0))
	if _, err := l.Read(-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(-1): %v", err)
	}
	if _, err := l.Read(4, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(4): %v", err)
	}
	s, err = l.Read(3, 100)
	if err != nil || s.Size != 0 {
		t.Fatalf("Read(end): %+v, %v", s, err)
	}
	Slice{}.Release()
}

func TestAppendInvalid(t *testing.T) {
	good := makeBatch(3, 20, 7)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrInvalidBatch},
		{"short", good[:30], ErrCorruptBatch},
		{"tiny", good[:5], ErrCorruptBatch},
		{"truncated", good[:len(good)-1], ErrCorruptBatch},
		{"length too small", mutate(func(b []byte) []byte { b[offBatchLength+3] = 10; b[offBatchLength+2] = 0; return b }), ErrCorruptBatch},
		{"length too large", mutate(func(b []byte) []byte { b[offBatchLength+3]++; return b }), ErrCorruptBatch},
		{"trailing garbage", append(bytes.Clone(good), 1, 2, 3), ErrCorruptBatch},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorruptBatch},
		{"magic 0", mutate(func(b []byte) []byte { b[offMagic] = 0; return b }), ErrUnsupportedMagic},
		{"magic 1", mutate(func(b []byte) []byte { b[offMagic] = 1; return b }), ErrUnsupportedMagic},
		{"zero records", mutate(func(b []byte) []byte {
			copy(b[offRecordsCount:], []byte{0, 0, 0, 0})
			copy(b[offLastOffsetDelta:], []byte{0xff, 0xff, 0xff, 0xff})
			fixCRC(b)
			return b
		}), ErrInvalidBatch},
		{"negative records", mutate(func(b []byte) []byte { copy(b[offRecordsCount:], []byte{0xff, 0xff, 0xff, 0xfe}); fixCRC(b); return b }), ErrInvalidBatch},
		{"delta mismatch", mutate(func(b []byte) []byte { b[offLastOffsetDelta+3] = 5; fixCRC(b); return b }), ErrInvalidBatch},
		{"huge count", mutate(func(b []byte) []byte {
			copy(b[offRecordsCount:], []byte{0x7f, 0xff, 0xff, 0xff})
			copy(b[offLastOffsetDelta:], []byte{0x7f, 0xff, 0xff, 0xfe})
			fixCRC(b)
			return b
		}), ErrInvalidBatch},
		{"bad codec", mutate(func(b []byte) []byte { b[offAttributes+1] |= 7; fixCRC(b); return b }), ErrInvalidBatch},
		{"second batch bad", append(bytes.Clone(good), mutate(func(b []byte) []byte { b[offMagic] = 1; return b })...), ErrUnsupportedMagic},
	}
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	appendT(t, l, bytes.Clone(good))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := bytes.Clone(tc.b)
			if _, _, err := ValidateBatches(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("ValidateBatches: %v, want %v", err, tc.want)
			}
			_, err := l.Append(tc.b)
			if !errors.Is(err, tc.want) {
				t.Errorf("Append: %v, want %v", err, tc.want)
			}
			if !bytes.Equal(before, tc.b) {
				t.Errorf("rejected input was modified")
			}
			if l.EndOffset() != 3 || l.Size() != int64(len(good)) {
				t.Errorf("log changed: end %d size %d", l.EndOffset(), l.Size())
			}
		})
	}
}

func TestClosedLog(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	appendT(t, l, makeBatch(1, 1, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Append(makeBatch(1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Errorf("Sync after Close with nothing to sync: %v", err)
	}
}

// TestOversizedAppend: an append larger than SegmentBytes goes whole into an empty segment.
func TestOversizedAppend(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 1000})
	defer l.Close()
	small := makeBatch(1, 10, 1)
	appendT(t, l, small)
	two := append(makeBatch(3, 1000, 2), makeBatch(2, 10, 3)...)
	res := appendT(t, l, bytes.Clone(two))
	if res.BaseOffset != 1 || res.LastOffset != 5 || res.Batches != 2 || res.Records != 5 {
		t.Fatalf("%+v", res)
	}
	appendT(t, l, makeBatch(1, 10, 4))
	if n := len(segmentFiles(t, dir, logSuffix)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	s, err := l.Read(2, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if s.Size != int64(len(two)-len(makeBatch(2, 10, 3))) {
		t.Fatalf("Read(2, 10) returned %d bytes, want the whole first batch", s.Size)
	}
	got := readAll(t, l, 0)
	if len(got) != 4 || !sameBatch(got[1], two[:s.Size]) {
		t.Fatalf("read back %d batches", len(got))
	}
}

func TestOpenOptions(t *testing.T) {
	for _, o := range []Options{{SegmentBytes: -1}, {SegmentBytes: 1 << 32}, {IndexIntervalBytes: -5}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
	if _, err := Open("/proc/nonexistent/x", Options{Logger: quietLogger()}); err == nil {
		t.Error("Open in an impossible directory succeeded")
	}
}
