package storage

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// cleanShutdownFile exists while the log is closed cleanly: Close writes it last, Open
	// removes it first.
	cleanShutdownFile = ".eddy_clean_shutdown"
	// recoveryPointFile holds an offset (decimal text) below which everything was fsynced.
	recoveryPointFile = "recovery-point"
	tmpSuffix         = ".tmp"
)

// writeFileSync atomically replaces path with data: it writes a temporary file, fsyncs it and
// renames it over path. The directory is not fsynced; callers that need the name durable do it.
func writeFileSync(path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeRecoveryPoint records that everything below end is fsynced; recovery then scans from the
// segment containing end. A failure costs only a longer scan after a crash, so it is logged, not
// returned. REQUIRES: sync leader.
func (l *Log) writeRecoveryPoint(end, activeBase int64) {
	if err := writeFileSync(filepath.Join(l.dir, recoveryPointFile), fmt.Appendf(nil, "%d\n", end)); err != nil {
		l.logger.Warn("storage: writing recovery point failed", "err", err)
		return
	}
	l.rpBase = activeBase
}

// readRecoveryPoint returns the recorded recovery point, or -1 when there is none or it is
// unreadable (recovery then scans every segment).
func (l *Log) readRecoveryPoint() int64 {
	b, err := os.ReadFile(filepath.Join(l.dir, recoveryPointFile))
	if err != nil {
		if !isNotExist(err) {
			l.logger.Warn("storage: reading recovery point failed; scanning all segments", "err", err)
		}
		return -1
	}
	rp, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || rp < 0 {
		l.logger.Warn("storage: recovery point unreadable; scanning all segments", "content", string(b))
		return -1
	}
	return rp
}

// scanResult is what a batch-by-batch scan of a segment file found.
type scanResult struct {
	size    int64 // bytes of whole, valid batches from the start of the file
	end     int64 // offset after the last valid batch
	index   []indexEntry
	indexer indexer
	maxTs   int64  // largest batch maxTimestamp
	firstTs int64  // first batch's maxTimestamp
	bad     string // why the scan stopped before the end of the file; "" if it did not
}

// scanSegment reads a segment's file from the start and checks every batch: framing, magic,
// header fields, CRC-32C, and that offsets continue densely from the segment's base offset.
// With lax set (a compacted segment) offsets need only increase, and a batch may hold fewer
// records than its offset range. It stops at the first bad or torn batch. Only I/O errors are
// returned as errors.
func scanSegment(seg *segment, fileSize int64, interval int, lax bool) (scanResult, error) {
	res := scanResult{end: seg.base, indexer: indexer{interval: interval}, maxTs: noTimestamp, firstTs: noTimestamp}
	br := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, fileSize), 1<<20)
	var h [batchHeaderSize]byte
	var chunk [32 << 10]byte
	for res.size < fileSize {
		pos := res.size
		avail := fileSize - pos
		n, err := io.ReadFull(br, h[:min(avail, batchHeaderSize)])
		if err != nil {
			return res, fmt.Errorf("read %s at %d: %w", seg.logPath, pos+int64(n), err)
		}
		size, kind, detail := checkHeaderLax(h[:n], avail, lax)
		if kind != nil {
			res.bad = detail
			return res, nil
		}
		base, last := batchOffsets(h[:])
		if base != res.end && !(lax && base > res.end) {
			res.bad = fmt.Sprintf("batch has offset %d, expected %d", base, res.end)
			return res, nil
		}
		if pos > math.MaxUint32 {
			res.bad = fmt.Sprintf("batch at position %d, beyond what the index can address", pos)
			return res, nil
		}
		if last-seg.base > math.MaxUint32 {
			res.bad = fmt.Sprintf("batch last offset %d too far from segment base %d", last, seg.base)
			return res, nil
		}
		crc := crc32.Update(0, castagnoli, h[offAttributes:])
		for left := size - batchHeaderSize; left > 0; {
			k := min(left, int64(len(chunk)))
			if _, err := io.ReadFull(br, chunk[:k]); err != nil {
				return res, fmt.Errorf("read %s at %d: %w", seg.logPath, fileSize-avail+size-left, err)
			}
			crc = crc32.Update(crc, castagnoli, chunk[:k])
			left -= k
		}
		if stored := uint32(h[offCRC])<<24 | uint32(h[offCRC+1])<<16 | uint32(h[offCRC+2])<<8 | uint32(h[offCRC+3]); stored != crc {
			res.bad = fmt.Sprintf("crc %#08x, computed %#08x", stored, crc)
			return res, nil
		}
		res.index = res.indexer.observe(uint32(base-seg.base), pos, size, res.maxTs, res.index)
		ts := int64(binary.BigEndian.Uint64(h[offMaxTimestamp:]))
		res.maxTs = max(res.maxTs, ts)
		if res.firstTs == noTimestamp {
			res.firstTs = ts
		}
		res.size += size
		res.end = last + 1
	}
	return res, nil
}

// recover loads the segments in l.dir and repairs them; see the package documentation.
func (l *Log) recover() error {
	if err := l.recoverSwap(); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	indexes := map[int64]bool{}
	for _, e := range entries {
		name := e.Name()
		if base, ok := parseSegmentName(name, logSuffix); ok && e.Type().IsRegular() {
			bases = append(bases, base)
		} else if base, ok := parseSegmentName(name, indexSuffix); ok {
			indexes[base] = true
		} else if base, ok := parseSegmentName(name, timeIndexSuffix); ok {
			if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == segmentName(base, logSuffix) }) {
				_ = os.Remove(filepath.Join(l.dir, name))
			}
		} else if strings.HasSuffix(name, tmpSuffix) {
			_ = os.Remove(filepath.Join(l.dir, name)) // an interrupted writeFileSync
		}
	}
	slices.Sort(bases)
	for base := range indexes {
		if _, found := slices.BinarySearch(bases, base); !found {
			l.logger.Info("storage: removing offset index without segment", "file", segmentName(base, indexSuffix))
			_ = os.Remove(filepath.Join(l.dir, segmentName(base, indexSuffix)))
			_ = os.Remove(filepath.Join(l.dir, segmentName(base, timeIndexSuffix)))
		}
	}

	markerPath := filepath.Join(l.dir, cleanShutdownFile)
	_, err = os.Stat(markerPath)
	clean := err == nil
	if clean {
		if err := os.Remove(markerPath); err != nil {
			return err
		}
		if err := syncDir(l.dir); err != nil { // the marker must not come back after a crash
			return err
		}
	}
	rp := l.readRecoveryPoint()

	if len(bases) == 0 {
		seg, err := l.createSegment(0)
		if err != nil {
			return err
		}
		l.segments = []*segment{seg}
		l.rpBase = -1
		l.writeRecoveryPoint(0, 0)
		l.cleaner = cleanerState{}
		return nil
	}

	for _, base := range bases {
		seg := newSegment(l.dir, base, nil, l.opts.IndexIntervalBytes)
		seg.created = l.opts.Now().UnixMilli()
		if seg.f, err = os.OpenFile(seg.logPath, os.O_RDWR, 0); err != nil {
			return err
		}
		l.segments = append(l.segments, seg)
	}

	// Which segments to scan: after a clean shutdown only the active one; otherwise from the
	// segment containing the recovery point, or all of them without one.
	scanFrom := len(l.segments) - 1
	if !clean {
		scanFrom = 0
		if rp >= 0 {
			for i, s := range l.segments {
				if s.base <= rp {
					scanFrom = i
				}
			}
		}
		l.logger.Info("storage: recovering log after unclean shutdown",
			"recovery_point", rp, "segments", len(l.segments), "scan_from_segment", segmentName(l.segments[scanFrom].base, logSuffix))
	}

	var changed bool // files truncated or deleted: fsync the directory
	for i := 0; i < len(l.segments); i++ {
		seg := l.segments[i]
		fi, err := seg.f.Stat()
		if err != nil {
			return err
		}
		fileSize := fi.Size()
		last := i == len(l.segments)-1
		var nextBase int64 = math.MaxInt64
		if !last {
			nextBase = l.segments[i+1].base
		}

		// Segments below the cleaner checkpoint were compacted: their offsets may have gaps.
		lax := seg.base < l.cleaner.firstDirty
		onDisk, ierr := readIndexFile(seg.indexPath)
		if i < scanFrom {
			// Trusted: everything in it was fsynced. Check its index cheaply.
			why := ""
			var maxTs int64
			if ierr != nil {
				why = ierr.Error()
			} else {
				why, maxTs = checkIndex(onDisk, seg, fileSize, nextBase, lax)
			}
			if why == "" {
				seg.size, seg.end, seg.index, seg.indexDone, seg.maxTs = fileSize, nextBase, onDisk, true, maxTs
				continue
			}
			l.logger.Info("storage: segment or its offset index failed the quick check; scanning it",
				"file", filepath.Base(seg.logPath), "reason", why)
		}

		res, err := scanSegment(seg, fileSize, l.opts.IndexIntervalBytes, lax)
		if err != nil {
			return err
		}
		seg.size, seg.end, seg.index, seg.indexer = res.size, res.end, res.index, res.indexer
		seg.maxTs, seg.firstTs = res.maxTs, res.firstTs
		if res.bad == "" && lax && !last && res.end <= nextBase {
			seg.end = nextBase // the gap a compaction left at the end of the segment
		}
		if res.bad == "" && !last && seg.end != nextBase {
			res.bad = fmt.Sprintf("segment ends at offset %d but the next segment starts at %d", res.end, nextBase)
		}
		if res.bad != "" {
			l.logger.Warn("storage: truncating log at bad batch",
				"file", filepath.Base(seg.logPath), "position", res.size, "bytes_cut", fileSize-res.size,
				"reason", res.bad, "last_good_offset", res.end-1)
			if res.size < fileSize {
				if err := seg.f.Truncate(res.size); err != nil {
					return err
				}
			}
			for _, later := range l.segments[i+1:] {
				if err := l.removeSegmentFiles(later, "follows the truncation point"); err != nil {
					return err
				}
				later.release()
			}
			l.segments = l.segments[:i+1]
			changed = true
			last = true
		}
		if ierr != nil || !equalIndex(onDisk, res.index) {
			why := "disagrees with the log"
			if isNotExist(ierr) {
				why = "missing"
			} else if ierr != nil {
				why = ierr.Error()
			}
			l.logger.Info("storage: rebuilt offset index", "file", filepath.Base(seg.indexPath),
				"reason", why, "entries_on_disk", len(onDisk), "entries", len(res.index))
			if err := writeIndexFile(seg.indexPath, res.index, true); err != nil {
				return err
			}
		}
		// What was scanned may still sit in the page cache only (a process crash); make it
		// durable before calling it so.
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", seg.logPath, err)
		}
		seg.indexDone = !last
	}
	if changed {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}

	var size int64
	for _, s := range l.segments {
		size += s.size
	}
	active := l.segments[len(l.segments)-1]
	l.start.Store(min(max(l.readStartOffset(), l.segments[0].base), active.end))
	l.cleaner.firstDirty = min(l.cleaner.firstDirty, active.end)
	l.end.Store(active.end)
	l.size.Store(size)
	l.durable.Store(active.end)
	l.rpBase = -1
	l.writeRecoveryPoint(active.end, active.base)
	return nil
}

// removeSegmentFiles unlinks a segment's files (the open file stays readable) and logs it at
// WARN: recovery deletes segments only when it throws data away.
func (l *Log) removeSegmentFiles(seg *segment, reason string) error {
	return l.removeSegmentFilesLevel(seg, reason, slog.LevelWarn)
}

func (l *Log) removeSegmentFilesLevel(seg *segment, reason string, level slog.Level) error {
	seg.deleted.Store(true)
	var size int64
	if fi, err := seg.f.Stat(); err == nil {
		size = fi.Size()
	}
	l.logger.Log(context.Background(), level, "storage: deleting segment", "file", filepath.Base(seg.logPath), "reason", reason, "bytes", size)
	if err := os.Remove(seg.logPath); err != nil && !isNotExist(err) {
		return err
	}
	if err := os.Remove(seg.indexPath); err != nil && !isNotExist(err) {
		return err
	}
	if err := os.Remove(timeIndexPath(seg.indexPath)); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}
