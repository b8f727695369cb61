package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

const (
	logSuffix   = ".log"
	indexSuffix = ".index"
	// timeIndexSuffix names a segment's time index (see indexEntry).
	timeIndexSuffix = ".timeindex"
	// segmentNameDigits is the width of the zero-padded base offset in segment file names.
	segmentNameDigits = 20
)

func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%0*d%s", segmentNameDigits, base, suffix)
}

// parseSegmentName returns the base offset encoded in a file name such as
// 00000000000000000042.log, and false for any other name.
func parseSegmentName(name, suffix string) (int64, bool) {
	if len(name) != segmentNameDigits+len(suffix) || name[segmentNameDigits:] != suffix {
		return 0, false
	}
	for _, c := range name[:segmentNameDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(name[:segmentNameDigits], 10, 64)
	return base, err == nil
}

// A segment is one .log file and its offset index. Its file stays open while the log or any
// Slice references it (refs); the last release closes it, so a segment deleted from the log stays
// readable through Slices taken before.
type segment struct {
	base      int64
	logPath   string
	indexPath string
	f         *os.File
	refs      atomic.Int32
	deleted   atomic.Bool // files unlinked; the index must not be rewritten

	// Guarded by Log.mu; changed only by the goroutine holding Log.appendMu (or by Open).
	size  int64        // committed bytes: whole batches, all below Log.end
	end   int64        // offset after the last batch
	index []indexEntry // entries are never changed once appended, so a copied slice stays valid
	maxTs int64        // largest batch maxTimestamp in the segment; noTimestamp if none
	// firstTs is the first batch's maxTimestamp (noTimestamp when empty or unknown): the time
	// segment.ms counts from, as Kafka's rollingBasedTimestamp.
	firstTs int64
	created int64 // when the segment was created or, for one found at Open, opened (ms)

	// Owned by the goroutine holding Log.appendMu.
	indexer indexer

	// Owned by the sync leader (see Log.syncing): the .index file holds every entry and is fsynced.
	indexDone bool
}

func newSegment(dir string, base int64, f *os.File, interval int) *segment {
	s := &segment{
		base:      base,
		logPath:   filepath.Join(dir, segmentName(base, logSuffix)),
		indexPath: filepath.Join(dir, segmentName(base, indexSuffix)),
		f:         f,
		end:       base,
		maxTs:     noTimestamp,
		firstTs:   noTimestamp,
		indexer:   indexer{interval: interval},
	}
	s.refs.Store(1) // the log's own reference
	return s
}

// acquire takes a reference; the caller must already hold one or hold Log.mu while the segment
// is in Log.segments (whose reference keeps the count above zero).
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the file when it was the last.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.f.Close() // read-only by now; everything written was fsynced or is being discarded
	}
}

// batchHead is the part of a batch header Read needs.
type batchHead struct {
	base, last int64
	size       int64
	maxTs      int64
}

// headerReader reads batch headers from a segment file in chunks, so that a Read walking many
// small batches issues few preads. Positions must not decrease between calls.
type headerReader struct {
	f     *os.File
	limit int64 // committed size of the segment; nothing at or past it is read
	buf   []byte
	start int64 // file position of buf[0]
	n     int   // valid bytes in buf
}

var headerBufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func newHeaderReader(f *os.File, limit int64) *headerReader {
	return &headerReader{f: f, limit: limit, buf: *headerBufPool.Get().(*[]byte)}
}

func (r *headerReader) close() {
	b := r.buf
	r.buf = nil
	headerBufPool.Put(&b)
}

// at returns the header of the batch at pos, which must lie below the limit.
func (r *headerReader) at(pos int64) (batchHead, error) {
	const need = offMaxTimestamp + 8
	if pos < r.start || pos+need > r.start+int64(r.n) {
		if pos+need > r.limit {
			return batchHead{}, fmt.Errorf("%w: batch header at position %d runs past the segment's %d bytes", ErrCorruptBatch, pos, r.limit)
		}
		n := min(int64(len(r.buf)), r.limit-pos)
		m, err := r.f.ReadAt(r.buf[:n], pos)
		if int64(m) < n {
			return batchHead{}, fmt.Errorf("reading batch header at position %d: %w", pos, err)
		}
		r.start, r.n = pos, m
	}
	h := r.buf[pos-r.start:]
	batchLen := int64(int32(binary.BigEndian.Uint32(h[offBatchLength:])))
	size := lengthFieldEnd + batchLen
	if batchLen < minBatchLength || pos+size > r.limit {
		return batchHead{}, fmt.Errorf("%w: batch at position %d has length %d, segment has %d bytes", ErrCorruptBatch, pos, batchLen, r.limit)
	}
	base, last := batchOffsets(h)
	return batchHead{base: base, last: last, size: size, maxTs: int64(binary.BigEndian.Uint64(h[offMaxTimestamp:]))}, nil
}
