package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// makeBatch builds a v2 record batch with n uncompressed records, each with a value of
// valueSize bytes (filled with seed), the way a producer would send it: baseOffset 0.
func makeBatch(n, valueSize int, seed byte) []byte {
	var recs []byte
	val := bytes.Repeat([]byte{seed}, valueSize)
	for i := range n {
		var r []byte
		r = append(r, 0)                                // attributes
		r = binary.AppendVarint(r, int64(i))            // timestampDelta
		r = binary.AppendVarint(r, int64(i))            // offsetDelta
		r = binary.AppendVarint(r, -1)                  // key length: null
		r = binary.AppendVarint(r, int64(len(val)))     // value length
		r = append(r, val...)                           // value
		r = binary.AppendVarint(r, 0)                   // headers count
		recs = binary.AppendVarint(recs, int64(len(r))) // record length
		recs = append(recs, r...)
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(batchHeaderSize-lengthFieldEnd+len(recs)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partitionLeaderEpoch -1
	b[offMagic] = magicV2
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
	binary.BigEndian.PutUint64(b[27:], 1700000000000)      // baseTimestamp
	binary.BigEndian.PutUint64(b[35:], 1700000000000)      // maxTimestamp
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff) // producerId -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)             // producerEpoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)         // baseSequence -1
	binary.BigEndian.PutUint32(b[offRecordsCount:], uint32(n))
	b = append(b, recs...)
	fixCRC(b)
	return b
}

// fixCRC recomputes the CRC of the single batch b.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// quietLogger discards log output; logCapture records it.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openT(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func appendT(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readAll reads the whole log from offset from through repeated Reads and returns the batches.
func readAll(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < l.EndOffset(); {
		s, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b, err := s.Bytes()
		s.Release()
		if err != nil {
			t.Fatalf("Bytes: %v", err)
		}
		for _, batch := range splitBatches(t, b) {
			_, last := batchOffsets(batch)
			out = append(out, batch)
			off = last + 1
		}
	}
	return out
}

func splitBatches(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		size, kind, detail := checkHeader(b, int64(len(b)))
		if kind != nil {
			t.Fatalf("bad batch in read data: %v: %s", kind, detail)
		}
		out = append(out, b[:size])
		b = b[size:]
	}
	return out
}

// crash abandons l as a killed process would: no sync, no index flush, no marker. Files are
// closed only so that the test does not leak descriptors.
func (l *Log) crash() {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.becomeLeader()
	l.mu.Lock()
	l.closed = true
	segs := l.segments
	l.segments = nil
	l.mu.Unlock()
	l.finishSync(nil)
	for _, s := range segs {
		s.release()
	}
}

func segmentFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

var _ = context.Background
