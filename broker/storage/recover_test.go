package storage

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fill appends n batches to l and returns copies of them as appended (offsets assigned).
func fill(t *testing.T, l *Log, n int, seed int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		b := makeBatch(1+(i+seed)%5, 30+(i*53+seed)%300, byte(i+seed))
		appendT(t, l, b)
		out = append(out, bytes.Clone(b))
	}
	return out
}

// checkPrefix asserts the log holds exactly want[:n] and returns n.
func checkPrefix(t *testing.T, l *Log, want [][]byte) int {
	t.Helper()
	got := readAll(t, l, l.StartOffset())
	if len(got) > len(want) {
		t.Fatalf("log has %d batches, more than the %d written", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs after recovery", i)
		}
	}
	var end int64
	if len(got) > 0 {
		_, last := batchOffsets(got[len(got)-1])
		end = last + 1
	}
	if l.EndOffset() != end || l.DurableOffset() > end {
		t.Fatalf("EndOffset %d DurableOffset %d, batches end at %d", l.EndOffset(), l.DurableOffset(), end)
	}
	return len(got)
}

func lastLog(t *testing.T, dir string) string {
	t.Helper()
	logs := segmentFiles(t, dir, logSuffix)
	return logs[len(logs)-1]
}

func TestRecoverTail(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, path string, lastBatch []byte)
		lost    int // batches lost at the tail
		warning string
	}{
		{"garbage appended", func(t *testing.T, path string, _ []byte) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("this is not a record batch at all, it is garbage......................"))
			f.Close()
		}, 0, "truncating log at bad batch"},
		{"zeros appended", func(t *testing.T, path string, _ []byte) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}, 0, "truncating log"},
		{"byte flipped in last batch", func(t *testing.T, path string, last []byte) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			pos := fileSize(t, path) - int64(len(last)) + 70
			var b [1]byte
			f.ReadAt(b[:], pos)
			b[0] ^= 0x40
			f.WriteAt(b[:], pos)
			f.Close()
		}, 1, "crc"},
		{"truncated mid-batch", func(t *testing.T, path string, last []byte) {
			os.Truncate(path, fileSize(t, path)-int64(len(last))/2)
		}, 1, "runs past"},
		{"truncated mid-header", func(t *testing.T, path string, last []byte) {
			os.Truncate(path, fileSize(t, path)-int64(len(last))+8)
		}, 1, "too short"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256})
			want := fill(t, l, 60, 0)
			l.crash()

			tc.damage(t, lastLog(t, dir), want[len(want)-1])
			var logs logCapture
			l = openT(t, dir, Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256, Logger: logs.logger()})
			defer l.Close()
			if n := checkPrefix(t, l, want); n != len(want)-tc.lost {
				t.Fatalf("recovered %d batches, want %d", n, len(want)-tc.lost)
			}
			if l.DurableOffset() != l.EndOffset() {
				t.Fatalf("after recovery DurableOffset %d, EndOffset %d", l.DurableOffset(), l.EndOffset())
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, tc.warning) ||
				!strings.Contains(out, "bytes_cut=") || !strings.Contains(out, "last_good_offset=") {
				t.Errorf("log output lacks the truncation warning %q:\n%s", tc.warning, out)
			}

			// The log keeps working.
			more := fill(t, l, 10, 99)
			want = append(want[:len(want)-tc.lost], more...)
			checkPrefix(t, l, want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256})
			checkPrefix(t, l, want)
		})
	}
}

// TestRecoverMiddleSegment damages an early segment when there is no recovery point: the log is
// cut there and every later segment is deleted, because the log must stay dense.
func TestRecoverMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2 << 10}
	l := openT(t, dir, opts)
	want := fill(t, l, 80, 3)
	l.crash()
	os.Remove(filepath.Join(dir, recoveryPointFile))
	logs := segmentFiles(t, dir, logSuffix)
	if len(logs) < 4 {
		t.Fatalf("only %d segments", len(logs))
	}
	f, _ := os.OpenFile(logs[1], os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad}, 100)
	f.Close()

	var out logCapture
	opts.Logger = out.logger()
	l = openT(t, dir, opts)
	defer l.Close()
	n := checkPrefix(t, l, want)
	if n == 0 || n >= len(want)/2 {
		t.Fatalf("recovered %d of %d batches", n, len(want))
	}
	if got := len(segmentFiles(t, dir, logSuffix)); got != 2 {
		t.Errorf("%d segments remain, want 2", got)
	}
	if got := len(segmentFiles(t, dir, indexSuffix)); got != 2 {
		t.Errorf("%d indexes remain, want 2", got)
	}
	if !strings.Contains(out.String(), "deleting segment") {
		t.Errorf("no deletion logged:\n%s", out.String())
	}
	fill(t, l, 5, 0)
}

// TestRecoveryPoint checks that an unclean open scans from the segment named by the recovery
// point: damage before it goes unseen (it was fsynced; only the tail can be torn).
func TestRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2 << 10}
	l := openT(t, dir, opts)
	want := fill(t, l, 80, 1)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	logs := segmentFiles(t, dir, logSuffix)
	want = append(want, fill(t, l, 30, 7)...)
	l.crash()
	var out logCapture
	opts.Logger = out.logger()
	l = openT(t, dir, opts)
	defer l.Close()
	checkPrefix(t, l, want)
	if !strings.Contains(out.String(), "scan_from_segment="+filepath.Base(logs[len(logs)-1])) {
		t.Errorf("recovery did not start at the last segment:\n%s", out.String())
	}
}

func TestCleanReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 300}
	l := openT(t, dir, opts)
	want := fill(t, l, 100, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
	var out logCapture
	opts.Logger = out.logger()
	l = openT(t, dir, opts)
	checkPrefix(t, l, want)
	if s := out.String(); s != "" {
		t.Errorf("clean reopen logged:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err == nil {
		t.Errorf("marker still present while open")
	}
	l.Close()
}

func TestIndexRebuilt(t *testing.T) {
	for _, clean := range []bool{true, false} {
		for _, damage := range []string{"deleted", "garbage", "odd size", "truncated", "wrong positions"} {
			t.Run(damage, func(t *testing.T) {
				dir := t.TempDir()
				opts := Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 200}
				l := openT(t, dir, opts)
				want := fill(t, l, 120, 2)
				indexes := map[string][]byte{} // what each .index file must hold
				l.mu.RLock()
				for _, s := range l.segments {
					indexes[s.indexPath] = encodeIndex(s.index)
				}
				l.mu.RUnlock()
				if clean {
					l.Close()
				} else {
					l.Sync()
					l.crash()
				}
				// Damage the index of the first (never rescanned after a clean close) and the last segment.
				idx := segmentFiles(t, dir, indexSuffix)
				for _, p := range []string{idx[0], idx[len(idx)-1]} {
					b, _ := os.ReadFile(p)
					switch damage {
					case "deleted":
						os.Remove(p)
					case "garbage":
						os.WriteFile(p, bytes.Repeat([]byte{0xff, 0x01}, 40), 0o644)
					case "odd size":
						os.WriteFile(p, append(b, 1), 0o644)
					case "truncated":
						os.WriteFile(p, b[:len(b)/2], 0o644)
					case "wrong positions":
						for i := 4; i < len(b); i += 8 {
							b[i+3] += 5
						}
						os.WriteFile(p, b, 0o644)
					}
				}
				var out logCapture
				opts.Logger = out.logger()
				l = openT(t, dir, opts)
				checkPrefix(t, l, want)
				if damage != "truncated" && !strings.Contains(out.String(), "rebuilt offset index") {
					t.Errorf("no rebuild logged:\n%s", out.String())
				}
				if strings.Contains(out.String(), "level=WARN") {
					t.Errorf("index damage caused a warning (data loss?):\n%s", out.String())
				}
				// Every offset is still found.
				for off := int64(0); off < l.EndOffset(); off += 3 {
					s, err := l.Read(off, 0)
					if err != nil {
						t.Fatalf("Read(%d): %v", off, err)
					}
					b, _ := s.Bytes()
					s.Release()
					if base, last := batchOffsets(b); off < base || off > last {
						t.Fatalf("Read(%d) returned [%d, %d]", off, base, last)
					}
				}
				l.Close()
				if damage != "truncated" {
					for _, p := range []string{idx[0], idx[len(idx)-1]} {
						if b, _ := os.ReadFile(p); !bytes.Equal(b, indexes[p]) {
							t.Errorf("%s not restored: %d bytes, want %d", p, len(b), len(indexes[p]))
						}
					}
				}
			})
		}
	}
}

// TestRecoverRandomDamage damages files at random and checks that Open never fails or panics.
// After an unclean stop without a recovery point every segment is scanned, so the log must then
// hold only batches that were written, at their offsets, densely. After a clean close unscanned
// segments are trusted, so damage inside them may only surface as read errors, never a panic.
func TestRecoverRandomDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 80 {
		dir := t.TempDir()
		opts := Options{SegmentBytes: 3 << 10, IndexIntervalBytes: 128 + iter, Logger: quietLogger()}
		l := openT(t, dir, opts)
		want := map[int64][]byte{}
		for _, b := range fill(t, l, 40, iter) {
			base, _ := batchOffsets(b)
			want[base] = b
		}
		strict := iter%3 != 0
		if strict {
			l.crash()
			os.Remove(filepath.Join(dir, recoveryPointFile))
		} else {
			l.Close()
		}
		files, _ := filepath.Glob(filepath.Join(dir, "0*"))
		for range 1 + rng.IntN(3) {
			p := files[rng.IntN(len(files))]
			b, _ := os.ReadFile(p)
			switch rng.IntN(4) {
			case 0:
				if len(b) > 0 {
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
			case 1:
				b = b[:rng.IntN(len(b)+1)]
			case 2:
				for range rng.IntN(200) {
					b = append(b, byte(rng.Uint32()))
				}
			case 3:
				os.Remove(p)
				continue
			}
			os.WriteFile(p, b, 0o644)
		}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("iteration %d: Open: %v", iter, err)
		}
		if strict {
			for _, b := range readAll(t, l, l.StartOffset()) {
				base, _ := batchOffsets(b)
				if !bytes.Equal(b, want[base]) {
					t.Fatalf("iteration %d: batch at offset %d was not written so", iter, base)
				}
			}
		} else {
			for off := l.StartOffset(); off < l.EndOffset(); off++ {
				if s, err := l.Read(off, 1000); err == nil {
					s.Bytes()
					s.Release()
				}
			}
		}
		if _, err := l.Append(makeBatch(2, 10, 1)); err != nil {
			t.Fatalf("iteration %d: Append after recovery: %v", iter, err)
		}
		l.Close()
	}
}

// TestCleanButDamagedSegment: after a clean close only the active segment is scanned, but the
// quick check of the others still notices a segment whose tail went missing.
func TestCleanButDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2 << 10, IndexIntervalBytes: 200}
	l := openT(t, dir, opts)
	want := fill(t, l, 60, 8)
	l.Close()
	logs := segmentFiles(t, dir, logSuffix)
	os.Truncate(logs[2], fileSize(t, logs[2])-10)
	var out logCapture
	opts.Logger = out.logger()
	l = openT(t, dir, opts)
	defer l.Close()
	n := checkPrefix(t, l, want)
	if n == 0 || len(segmentFiles(t, dir, logSuffix)) != 3 {
		t.Fatalf("recovered %d batches in %d segments", n, len(segmentFiles(t, dir, logSuffix)))
	}
	if !strings.Contains(out.String(), "quick check") || !strings.Contains(out.String(), "level=WARN") {
		t.Errorf("damage not reported:\n%s", out.String())
	}
}
