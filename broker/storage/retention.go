package storage

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// startOffsetFile holds the log start offset (decimal text) when DeleteRecords moved it past the
// first segment's base offset (Kafka's log-start-offset-checkpoint, per partition).
const startOffsetFile = "log-start-offset"

// SetStartOffset moves the log start offset forward to offset (DeleteRecords): offsets below it
// can no longer be read, and segments wholly below it are deleted by the next ApplyRetention.
// It returns the log start offset afterwards, which is the old one when offset is not above it.
// The new start offset is fsynced before it is published. An offset above EndOffset returns
// ErrOffsetOutOfRange.
func (l *Log) SetStartOffset(offset int64) (int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if end := l.end.Load(); offset > end || offset < 0 {
		return 0, fmt.Errorf("%w: start offset %d, log ends at %d", ErrOffsetOutOfRange, offset, end)
	}
	cur := l.start.Load()
	if offset <= cur {
		return cur, nil
	}
	if err := writeFileSync(filepath.Join(l.dir, startOffsetFile), fmt.Appendf(nil, "%d\n", offset)); err != nil {
		return cur, fmt.Errorf("storage: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		return cur, fmt.Errorf("storage: %w", err)
	}
	l.mu.Lock()
	l.start.Store(offset)
	l.mu.Unlock()
	return offset, nil
}

// readStartOffset returns the recorded log start offset, or -1.
func (l *Log) readStartOffset() int64 {
	b, err := os.ReadFile(filepath.Join(l.dir, startOffsetFile))
	if err != nil {
		if !isNotExist(err) {
			l.logger.Warn("storage: reading log start offset failed", "err", err)
		}
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		l.logger.Warn("storage: log start offset unreadable", "content", string(b))
		return -1
	}
	return n
}

// Retention is a log's deletion policy (Kafka's retention.ms and retention.bytes); a negative
// value means no limit.
type Retention struct {
	Ms    int64
	Bytes int64
}

// RetentionResult says what ApplyRetention deleted.
type RetentionResult struct {
	Segments int
	Bytes    int64
}

// ApplyRetention deletes whole segments from the start of the log, as Kafka's retention does,
// and advances the log start offset to the base of the first remaining segment:
//
//   - by time: while now - (the segment's largest batch timestamp) > r.Ms;
//   - by size: while the log without the segment is still at least r.Bytes;
//   - and always every segment wholly below the log start offset (DeleteRecords).
//
// Each rule stops at the first segment it keeps. The active segment is deleted too when it is
// not empty and the rule takes it (the log then rolls to a new, empty segment first), so a topic
// that receives nothing empties completely. Slices over deleted segments stay readable until
// released. It waits for a running compaction pass.
func (l *Log) ApplyRetention(r Retention) (RetentionResult, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	var res RetentionResult
	now := l.opts.Now().UnixMilli()
	add := func(n int, b int64, err error) error {
		res.Segments += n
		res.Bytes += b
		return err
	}
	if r.Ms >= 0 {
		err := add(l.deleteSegmentsWhile(true, func(s *segment, _ int64) bool {
			return now-s.maxTs > r.Ms
		}, fmt.Sprintf("retention.ms %d", r.Ms)))
		if err != nil {
			return res, err
		}
	}
	if r.Bytes >= 0 {
		diff := l.Size() - r.Bytes
		err := add(l.deleteSegmentsWhile(true, func(s *segment, _ int64) bool {
			if diff-s.size >= 0 {
				diff -= s.size
				return true
			}
			return false
		}, fmt.Sprintf("retention.bytes %d", r.Bytes)))
		if err != nil {
			return res, err
		}
	}
	start := l.StartOffset()
	err := add(l.deleteSegmentsWhile(true, func(s *segment, end int64) bool {
		return end <= start
	}, fmt.Sprintf("below the log start offset %d", start)))
	return res, err
}

// DeleteSegmentsBefore deletes the segments all of whose offsets lie below offset, never the
// active segment, and returns how many it deleted. StartOffset moves to the base of the first
// remaining segment if that is further. Slices over deleted segments stay readable until released.
func (l *Log) DeleteSegmentsBefore(offset int64) (int, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	n, _, err := l.deleteSegmentsWhile(false, func(s *segment, end int64) bool { return end <= offset },
		fmt.Sprintf("all offsets below %d", offset))
	return n, err
}

// deleteSegmentsWhile deletes segments from the front of the log while keep returns true for
// them (given the segment and the offset where it ends); with active set the active segment may
// go too, if it is not empty. REQUIRES: maintMu.
func (l *Log) deleteSegmentsWhile(active bool, del func(s *segment, end int64) bool, reason string) (int, int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, 0, ErrClosed
	}
	n := 0
	for n < len(l.segments) {
		s := l.segments[n]
		last := n == len(l.segments)-1
		end := s.end
		if last {
			end = l.end.Load()
			if !active || s.size == 0 {
				break
			}
		}
		if !del(s, end) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, 0, nil
	}
	if n == len(l.segments) {
		// Kafka rolls rather than leave a log without segments.
		if _, err := l.roll(l.end.Load()); err != nil {
			return 0, 0, err
		}
	}
	l.mu.Lock()
	victims := slices.Clone(l.segments[:n])
	l.segments = slices.Delete(l.segments, 0, n)
	var bytes int64
	for _, s := range victims {
		bytes += s.size
	}
	l.size.Add(-bytes)
	l.start.Store(max(l.start.Load(), l.segments[0].base))
	l.mu.Unlock()

	var err error
	for _, s := range victims {
		if rerr := l.removeSegmentFilesLevel(s, reason, slog.LevelInfo); rerr != nil && err == nil {
			err = fmt.Errorf("storage: delete segment: %w", rerr)
		}
		s.release()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	return n, bytes, err
}

// MaxTimestamp answers ListOffsets with timestamp -3 (KIP-734): the largest timestamp in the log
// and the offset of the first record carrying it, found as Kafka does (the earliest segment with
// the largest timestamp, its first batch reaching it, that batch's first record with it). It
// does not look at the log start offset, like Kafka. An empty log returns (-1, -1).
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) {
	segs, _, err := l.snapshotSegments()
	if err != nil {
		return -1, -1, err
	}
	defer releaseAll(segs)
	var best *segSnap
	for i := range segs {
		if s := &segs[i]; s.maxTs != noTimestamp && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		return -1, -1, nil
	}
	r := newHeaderReader(best.seg.f, best.size)
	defer r.close()
	for pos := int64(0); pos < best.size; {
		h, err := r.at(pos)
		if err != nil {
			return -1, -1, fmt.Errorf("storage: max timestamp in %s: %w", best.seg.logPath, err)
		}
		if h.maxTs == best.maxTs {
			batch, err := readBatch(best.seg.f, pos, h.size)
			if err != nil {
				return -1, -1, err
			}
			offset = h.base
			if recs, err := batchRecordsSection(batch); err == nil {
				_ = forEachRecord(batch, recs, func(rec record) bool {
					if rec.timestamp == h.maxTs {
						offset = rec.offset
						return false
					}
					return true
				})
			}
			return h.maxTs, offset, nil
		}
		pos += h.size
	}
	return -1, -1, nil
}

// OffsetForTimestamp answers ListOffsets by timestamp: the offset and timestamp of the first
// record at or after the log start offset whose timestamp is at least ts, found through the time
// index. ok is false when there is none (Kafka then answers offset -1).
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	segs, start, err := l.snapshotSegments()
	if err != nil {
		return -1, -1, false, err
	}
	defer releaseAll(segs)
	for _, s := range segs {
		if s.maxTs == noTimestamp || s.maxTs < ts || s.end <= start {
			continue
		}
		// Every record before the last entry whose ts lies below the target is below it too.
		i := sort.Search(len(s.index), func(i int) bool { return s.index[i].ts >= ts })
		var pos int64
		if i > 0 {
			pos = int64(s.index[i-1].pos)
		}
		r := newHeaderReader(s.seg.f, s.size)
		for pos < s.size {
			h, herr := r.at(pos)
			if herr != nil {
				r.close()
				return -1, -1, false, fmt.Errorf("storage: time lookup in %s: %w", s.seg.logPath, herr)
			}
			if h.maxTs >= ts && h.last >= start {
				batch, rerr := readBatch(s.seg.f, pos, h.size)
				if rerr != nil {
					r.close()
					return -1, -1, false, rerr
				}
				recs, rerr := batchRecordsSection(batch)
				if rerr != nil {
					r.close()
					return -1, -1, false, fmt.Errorf("storage: time lookup in %s: %w", s.seg.logPath, rerr)
				}
				found := false
				_ = forEachRecord(batch, recs, func(rec record) bool {
					if rec.timestamp >= ts && rec.offset >= start {
						offset, timestamp, found = rec.offset, rec.timestamp, true
						return false
					}
					return true
				})
				if found {
					r.close()
					return offset, timestamp, true, nil
				}
			}
			pos += h.size
		}
		r.close()
	}
	return -1, -1, false, nil
}

// segSnap is a segment and its committed state as seen under Log.mu.
type segSnap struct {
	seg   *segment
	size  int64
	end   int64
	maxTs int64
	index []indexEntry
}

// snapshotSegments takes a reference on every segment and returns their state and the log start
// offset. The caller must releaseAll.
func (l *Log) snapshotSegments() ([]segSnap, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, ErrClosed
	}
	out := make([]segSnap, len(l.segments))
	for i, s := range l.segments {
		s.acquire()
		end := s.end
		if i == len(l.segments)-1 {
			end = l.end.Load()
		}
		out[i] = segSnap{seg: s, size: s.size, end: end, maxTs: s.maxTs, index: s.index}
	}
	return out, l.start.Load(), nil
}

func releaseAll(segs []segSnap) {
	for _, s := range segs {
		s.seg.release()
	}
}

func readBatch(f *os.File, pos, size int64) ([]byte, error) {
	if size > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrCorruptBatch, size)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, pos); int64(n) < size {
		return nil, fmt.Errorf("storage: read batch at %d of %s: %w", pos, f.Name(), err)
	}
	return b, nil
}
