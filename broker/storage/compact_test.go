package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// kv is one record for makeKeyed: a nil value is a tombstone, a nil key a keyless record.
type kv struct {
	key, value []byte
	ts         int64 // absolute timestamp; 0 means the batch's base timestamp
}

// makeKeyed builds a v2 batch of keyed records with the given codec (0 none .. 4 zstd) and base
// timestamp.
func makeKeyed(t testing.TB, codec uint16, baseTs int64, recs ...kv) []byte {
	t.Helper()
	var raw []byte
	maxTs := baseTs
	for i, r := range recs {
		ts := r.ts
		if ts == 0 {
			ts = baseTs
		}
		maxTs = max(maxTs, ts)
		var b []byte
		b = append(b, 0)
		b = binary.AppendVarint(b, ts-baseTs)
		b = binary.AppendVarint(b, int64(i))
		if r.key == nil {
			b = binary.AppendVarint(b, -1)
		} else {
			b = binary.AppendVarint(b, int64(len(r.key)))
			b = append(b, r.key...)
		}
		if r.value == nil {
			b = binary.AppendVarint(b, -1)
		} else {
			b = binary.AppendVarint(b, int64(len(r.value)))
			b = append(b, r.value...)
		}
		b = binary.AppendVarint(b, 0)
		raw = binary.AppendVarint(raw, int64(len(b)))
		raw = append(raw, b...)
	}
	if codec != 0 {
		var err error
		if raw, err = compress(codec, raw); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(raw))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(batchHeaderSize-lengthFieldEnd+len(raw)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[offMagic] = magicV2
	binary.BigEndian.PutUint16(b[offAttributes:], codec)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(baseTs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[offProducerID:], 0xffffffffffffffff)
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[offRecordsCount:], uint32(len(recs)))
	b = append(b, raw...)
	fixCRC(b)
	return b
}

// readRecords reads every record from offset 0 (or the start) to the end: offset -> record.
func readRecords(t testing.TB, l *Log) []record {
	t.Helper()
	var out []record
	for off := l.StartOffset(); off < l.EndOffset(); {
		s, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if s.Size == 0 {
			s.Release()
			break
		}
		b, err := s.Bytes()
		s.Release()
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = validateStored(b)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		for _, batch := range splitStored(b) {
			recs, err := batchRecordsSection(batch)
			if err != nil {
				t.Fatal(err)
			}
			if err := forEachRecord(batch, recs, func(r record) bool {
				r.key = append([]byte(nil), r.key...)
				r.raw = nil
				out = append(out, r)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			_, last := batchOffsets(batch)
			off = last + 1
		}
	}
	return out
}

// validateStored checks CRCs and framing of stored batches (compacted ones allowed).
func validateStored(b []byte) (int, int, error) {
	n := 0
	for pos := 0; pos < len(b); {
		size, kind, detail := checkHeaderLax(b[pos:], int64(len(b)-pos), true)
		if kind != nil {
			return n, 0, fmt.Errorf("%w: %s", kind, detail)
		}
		if st, c := batchCRC(b[pos : pos+int(size)]); st != c {
			return n, 0, fmt.Errorf("crc mismatch at %d", pos)
		}
		pos += int(size)
		n++
	}
	return n, 0, nil
}

func splitStored(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		size := lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
		out = append(out, b[:size])
		b = b[size:]
	}
	return out
}

type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// fillKeyed appends n updates over nkeys keys (every 7th a tombstone) in batches of 10 and
// returns the expected newest value per key (nil: deleted).
func fillKeyed(t testing.TB, l *Log, n, nkeys int, seed uint64, codecs bool) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	want := map[string][]byte{}
	for i := 0; i < n; i += 10 {
		var recs []kv
		for j := i; j < min(i+10, n); j++ {
			k := fmt.Sprintf("key-%d", rng.IntN(nkeys))
			var v []byte
			if j%7 != 3 {
				v = fmt.Appendf(nil, "value-%d-%s", j, strings.Repeat("x", rng.IntN(40)))
			}
			want[k] = v
			recs = append(recs, kv{key: []byte(k), value: v})
		}
		codec := uint16(0)
		if codecs {
			codec = uint16(i/10) % 5
		}
		appendT(t, l, makeKeyed(t, codec, 1700000000000+int64(i), recs...))
	}
	return want
}

// checkCompacted reads the log and checks that, per key, the last record carries the wanted
// value and, when exact, that it is the only record (plus tombstones when allowed).
func checkCompacted(t testing.TB, l *Log, want map[string][]byte, exact, tombstonesGone bool) {
	t.Helper()
	got := map[string][]byte{}
	seen := map[string]int{} // records per key: below the cleaned point, and any record after it
	last := int64(-1)
	cleanUpTo := l.cleaner.firstDirty
	for _, r := range readRecords(t, l) {
		if r.offset <= last {
			t.Fatalf("offsets do not increase: %d after %d", r.offset, last)
		}
		last = r.offset
		k := string(r.key)
		if r.offset < cleanUpTo {
			seen[k]++
		} else if seen[k] > 0 {
			seen[k] = 1 << 20 // a cleaned record that a later one supersedes: fine only if in the dirty part
		}
		if r.valueNull {
			got[k] = nil
			if tombstonesGone {
				t.Errorf("tombstone for %s at %d not removed", k, r.offset)
			}
		} else {
			got[k] = []byte("v") // presence
		}
	}
	for k, v := range want {
		if v == nil {
			if g, ok := got[k]; ok && g != nil {
				t.Errorf("key %s: deleted but has a value", k)
			}
			continue
		}
		if got[k] == nil {
			t.Errorf("key %s: value lost", k)
		}
		if exact && seen[k] > 1 && seen[k] != 1<<20 {
			t.Errorf("key %s: %d records after compaction", k, seen[k])
		}
	}
}

func TestCompactKeepsNewestPerKey(t *testing.T) {
	for _, codecs := range []bool{false, true} {
		t.Run(fmt.Sprintf("codecs=%v", codecs), func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{}
			clock.ms.Store(1700000100000)
			opts := Options{SegmentBytes: 16 << 10, IndexIntervalBytes: 512, Now: clock.now}
			l := openT(t, dir, opts)
			n := 20000
			if codecs {
				n = 5000 // compressing in the test is slow under -race
			}
			want := fillKeyed(t, l, n, 500, 1, codecs)
			// Roll so that everything is cleanable.
			l.SetSegmentMs(1)
			clock.advance(time.Second)
			appendT(t, l, makeKeyed(t, 0, clock.ms.Load(), kv{key: []byte("roll"), value: []byte("x")}))
			want["roll"] = []byte("x")
			end := l.EndOffset()
			sizeBefore := l.Size()

			cfg := CompactConfig{DeleteRetentionMs: 60_000, MinCleanableRatio: 0.5}
			res, err := l.Compact(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Cleaned || res.BytesWritten >= res.BytesRead {
				t.Fatalf("compaction did nothing useful: %+v", res)
			}
			if l.EndOffset() != end || l.Size() >= sizeBefore {
				t.Fatalf("end %d (want %d), size %d (before %d)", l.EndOffset(), end, l.Size(), sizeBefore)
			}
			checkCompacted(t, l, want, true, false)

			// A second pass right away: nothing dirty.
			if res, err := l.Compact(cfg); err != nil || res.Cleaned {
				t.Fatalf("second pass: %+v %v", res, err)
			}
			// Tombstones go once delete.retention.ms has passed since their first pass, at the next
			// pass (which needs something dirty).
			clock.advance(2 * time.Minute)
			appendT(t, l, makeKeyed(t, 0, clock.ms.Load(), kv{key: []byte("roll2"), value: []byte("y")}))
			clock.advance(time.Second)
			appendT(t, l, makeKeyed(t, 0, clock.ms.Load(), kv{key: []byte("roll3"), value: []byte("z")}))
			want["roll2"], want["roll3"] = []byte("y"), []byte("z")
			if _, err := l.Compact(CompactConfig{DeleteRetentionMs: 60_000}); err != nil {
				t.Fatal(err)
			}
			checkCompacted(t, l, want, true, true)

			// Reopen, cleanly and after a crash: gaps are accepted, nothing is cut.
			l.Close()
			var out logCapture
			opts.Logger = out.logger()
			l = openT(t, dir, opts)
			checkCompacted(t, l, want, true, true)
			l.crash()
			l = openT(t, dir, opts)
			defer l.Close()
			checkCompacted(t, l, want, true, true)
			if strings.Contains(out.String(), "level=WARN") {
				t.Fatalf("reopen cut data:\n%s", out.String())
			}
			// Every offset is readable, landing on the next retained batch.
			for off := int64(0); off < l.EndOffset(); off += 97 {
				s, err := l.Read(off, 100)
				if err != nil {
					t.Fatalf("read %d: %v", off, err)
				}
				b, _ := s.Bytes()
				s.Release()
				if len(b) == 0 {
					t.Fatalf("read %d: empty", off)
				}
				if _, last := batchOffsets(b); last < off {
					t.Fatalf("read %d returned a batch ending at %d", off, last)
				}
			}
		})
	}
}

func TestCompactKeepsValues(t *testing.T) {
	// The newest value per key, byte for byte, and control batches untouched.
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 1 << 10})
	defer l.Close()
	want := map[string]string{}
	for i := range 300 {
		k := fmt.Sprintf("k%d", i%20)
		v := fmt.Sprintf("v%d", i)
		want[k] = v
		appendT(t, l, makeKeyed(t, uint16(i%5), 1700000000000, kv{key: []byte(k), value: []byte(v)}))
		if i == 100 {
			ctl := makeKeyed(t, 0, 1700000000000, kv{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}})
			binary.BigEndian.PutUint16(ctl[offAttributes:], controlBit|transactionalBit)
			fixCRC(ctl)
			appendT(t, l, ctl)
		}
	}
	appendT(t, l, makeKeyed(t, 0, 1700000000000, kv{key: []byte("x"), value: []byte("x")}))
	if _, err := l.Compact(CompactConfig{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	controls := 0
	for off := l.StartOffset(); off < l.EndOffset(); {
		s, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.Bytes()
		s.Release()
		for _, batch := range splitStored(b) {
			if isControl(batch) {
				controls++
			} else {
				recs, _ := batchRecordsSection(batch)
				forEachRecord(batch, recs, func(r record) bool {
					// value: after the key's varint; re-decode from raw
					got[string(r.key)] = recordValue(t, r.raw)
					return true
				})
			}
			_, last := batchOffsets(batch)
			off = last + 1
		}
	}
	delete(got, "x")
	if controls != 1 {
		t.Errorf("%d control batches after compaction, want 1", controls)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %s: got %q, want %q", k, got[k], v)
		}
	}
}

func recordValue(t testing.TB, raw []byte) string {
	_, n := binary.Varint(raw)
	b := raw[n+1:]
	for range 2 { // timestampDelta, offsetDelta
		_, n = binary.Varint(b)
		b = b[n:]
	}
	kl, n := binary.Varint(b)
	b = b[n+int(max(kl, 0)):]
	vl, n := binary.Varint(b)
	if vl < 0 {
		return "<nil>"
	}
	return string(b[n : n+int(vl)])
}

// TestCompactSwapFaults stops a pass at every step of the swap, as a crash would, and checks
// that reopening yields either the old or the new segments, never lost data.
func TestCompactSwapFaults(t *testing.T) {
	steps := []string{"cleaned-written", "committed", "renamed", "old-removed"}
	for _, step := range steps {
		for _, crash := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/crash=%v", step, crash), func(t *testing.T) {
				dir := t.TempDir()
				var armed atomic.Bool
				opts := Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256, CleanerHook: func(s string) error {
					if s == step && armed.Load() {
						return errors.New("injected fault at " + s)
					}
					return nil
				}}
				l := openT(t, dir, opts)
				want := fillKeyed(t, l, 2000, 100, 7, step == "renamed")
				appendT(t, l, makeKeyed(t, 0, 1700000000000, kv{key: []byte("tail"), value: []byte("t")}))
				want["tail"] = []byte("t")
				armed.Store(true)
				_, err := l.Compact(CompactConfig{DeleteRetentionMs: 1 << 40})
				if err == nil || !strings.Contains(err.Error(), "injected") {
					t.Fatalf("Compact: %v", err)
				}
				// The live log still serves everything.
				checkCompacted(t, l, want, false, false)
				armed.Store(false)
				if crash {
					l.crash()
				} else {
					l.Close()
				}
				l = openT(t, dir, opts)
				defer l.Close()
				checkCompacted(t, l, want, step != "cleaned-written", false)
				for _, name := range []string{swapManifestFile} {
					if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
						t.Errorf("%s left behind", name)
					}
				}
				if m, _ := filepath.Glob(filepath.Join(dir, "*"+cleanedSuffix)); len(m) > 0 {
					t.Errorf("cleaned files left behind: %v", m)
				}
				// And a new pass works.
				if _, err := l.Compact(CompactConfig{DeleteRetentionMs: 1 << 40}); err != nil {
					t.Fatal(err)
				}
				checkCompacted(t, l, want, true, false)
			})
		}
	}
}

// TestCompactConcurrent appends, reads and holds slices while passes run.
func TestCompactConcurrent(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256})
	defer l.Close()
	var mu sync.Mutex
	want := map[string][]byte{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // producer
		defer wg.Done()
		for i := 0; i < 3000; i++ {
			k := fmt.Sprintf("k%d", i%100)
			v := fmt.Appendf(nil, "v%d", i)
			mu.Lock()
			want[k] = v
			mu.Unlock()
			if _, err := l.Append(makeKeyed(t, uint16(i%3), 1700000000000, kv{key: []byte(k), value: v})); err != nil {
				t.Error(err)
				return
			}
		}
		close(stop)
	}()
	go func() { // reader holding slices across passes
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := l.Read(l.StartOffset(), 1<<20)
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
			if _, err := s.Bytes(); err != nil {
				t.Error(err)
			}
			s.Release()
		}
	}()
	for {
		if _, err := l.Compact(CompactConfig{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-stop:
			wg.Wait()
			appendT(t, l, makeKeyed(t, 0, 1700000000000, kv{key: []byte("z"), value: []byte("z")}))
			want["z"] = []byte("z")
			l.Compact(CompactConfig{})
			checkCompacted(t, l, want, true, false)
			return
		default:
		}
	}
}

func TestCompactMinLagAndRatio(t *testing.T) {
	clock := &fakeClock{}
	clock.ms.Store(1700000100000)
	l := openT(t, t.TempDir(), Options{SegmentBytes: 2 << 10, Now: clock.now})
	defer l.Close()
	fillKeyed(t, l, 1000, 10, 3, false) // timestamps 1700000000000..+1000
	// Lag: nothing older than 1 hour.
	if res, err := l.Compact(CompactConfig{MinCompactionLagMs: 3600_000}); err != nil || res.Cleaned {
		t.Fatalf("cleaned within min.compaction.lag.ms: %+v %v", res, err)
	}
	// Ratio above what is dirty.
	if res, err := l.Compact(CompactConfig{MinCleanableRatio: 1.1}); err != nil || res.Cleaned {
		t.Fatalf("cleaned below the ratio: %+v %v", res, err)
	}
	if res, err := l.Compact(CompactConfig{MinCleanableRatio: 0.5}); err != nil || !res.Cleaned || res.DirtyRatio != 1 {
		t.Fatalf("not cleaned: %+v %v", res, err)
	}
}

func TestCompactMapFull(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 2 << 10, CleanerMaxKeys: 10})
	defer l.Close()
	want := fillKeyed(t, l, 2000, 300, 5, false)
	appendT(t, l, makeKeyed(t, 0, 1700000000000, kv{key: []byte("t"), value: []byte("t")}))
	want["t"] = []byte("t")
	for i := 0; ; i++ {
		res, err := l.Compact(CompactConfig{DeleteRetentionMs: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Cleaned {
			break
		}
		if i > 1000 {
			t.Fatal("passes never end")
		}
	}
	checkCompacted(t, l, want, true, false)
}
