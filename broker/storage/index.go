package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
)

// indexEntrySize is the size of one offset-index entry on disk: the offset relative to the
// segment's base (uint32) and the byte position of a batch in the .log file (uint32).
const indexEntrySize = 8

// An indexEntry maps the base offset of a batch (relative to the segment's base offset) to the
// position where that batch starts. Unlike Kafka, which indexes the last offset of a batch,
// Eddy indexes the first: the entry found by floor(offset) is then a batch that starts at or
// before the wanted offset, and Read scans forward from it.
//
// ts carries the segment's time index: the largest batch maxTimestamp of every batch before the
// entry's batch (math.MinInt64 for none). Every record before the entry has a timestamp at most
// ts, so a search for the first record at or after a time T may start at the last entry whose
// ts is below T. On disk the time index is a .timeindex file of 12-byte entries (ts as int64,
// rel as uint32), one per offset-index entry.
type indexEntry struct {
	rel uint32
	pos uint32
	ts  int64
}

// indexer decides where sparse index entries go: one for the first batch that starts after
// at least intervalBytes of log were written since the previous entry (Kafka's
// index.interval.bytes). The first batch of a segment gets no entry; lookups that find no entry
// start at position 0. Append and recovery use the same rule, so a rebuilt index equals the one
// written while appending.
type indexer struct {
	interval int
	since    int // bytes appended since the last entry
}

func (x *indexer) observe(rel uint32, pos int64, size int64, maxTsBefore int64, entries []indexEntry) []indexEntry {
	if x.since > 0 && x.since >= x.interval {
		entries = append(entries, indexEntry{rel: rel, pos: uint32(pos), ts: maxTsBefore})
		x.since = 0
	}
	x.since += int(size)
	return entries
}

// lookup returns the last entry whose offset is at most rel, or the zero entry (the segment's
// first batch at position 0) if there is none.
func lookup(entries []indexEntry, rel uint32) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].rel > rel })
	if i == 0 {
		return indexEntry{}
	}
	return entries[i-1]
}

// lookupPos returns the largest indexed batch position in (after, limit], or after if none.
func lookupPos(entries []indexEntry, after, limit int64) int64 {
	i := sort.Search(len(entries), func(i int) bool { return int64(entries[i].pos) > limit })
	if i == 0 || int64(entries[i-1].pos) <= after {
		return after
	}
	return int64(entries[i-1].pos)
}

func encodeIndex(entries []indexEntry) []byte {
	b := make([]byte, 0, len(entries)*indexEntrySize)
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	return b
}

// timeEntrySize is the size of one time-index entry on disk: a timestamp (int64) and the
// offset relative to the segment's base (uint32), Kafka's .timeindex layout.
const timeEntrySize = 12

func encodeTimeIndex(entries []indexEntry) []byte {
	b := make([]byte, 0, len(entries)*timeEntrySize)
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	return b
}

// timeIndexPath is the .timeindex file beside the offset index at indexPath.
func timeIndexPath(indexPath string) string {
	return strings.TrimSuffix(indexPath, indexSuffix) + timeIndexSuffix
}

// readIndexFile loads an offset index file and its time index. A missing file returns an error
// wrapping fs.ErrNotExist; a time index that does not match the offset index entry for entry is
// an error, so that recovery rebuilds both.
func readIndexFile(path string) ([]indexEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("index size %d is not a multiple of %d", len(b), indexEntrySize)
	}
	entries := make([]indexEntry, len(b)/indexEntrySize)
	for i := range entries {
		entries[i] = indexEntry{
			rel: binary.BigEndian.Uint32(b[i*indexEntrySize:]),
			pos: binary.BigEndian.Uint32(b[i*indexEntrySize+4:]),
		}
	}
	tb, err := os.ReadFile(timeIndexPath(path))
	if err != nil {
		return nil, fmt.Errorf("time index: %w", err)
	}
	if len(tb) != len(entries)*timeEntrySize {
		return nil, fmt.Errorf("time index has %d bytes for %d offset-index entries", len(tb), len(entries))
	}
	for i := range entries {
		entries[i].ts = int64(binary.BigEndian.Uint64(tb[i*timeEntrySize:]))
		if rel := binary.BigEndian.Uint32(tb[i*timeEntrySize+8:]); rel != entries[i].rel {
			return nil, fmt.Errorf("time index entry %d names offset %d, offset index %d", i, rel, entries[i].rel)
		}
	}
	return entries, nil
}

// writeIndexFile replaces the contents of the offset index file at path, and of its time index,
// with entries and fsyncs both. With create false it does not create a missing offset index (the
// segment may have been deleted meanwhile) and reports fs.ErrNotExist.
func writeIndexFile(path string, entries []indexEntry, create bool) error {
	if err := writeFileData(path, encodeIndex(entries), create); err != nil {
		return err
	}
	return writeFileData(timeIndexPath(path), encodeTimeIndex(entries), true)
}

func writeFileData(path string, data []byte, create bool) error {
	flag := os.O_WRONLY | os.O_TRUNC
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o644)
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
	return err
}

func equalIndex(a, b []indexEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkIndex cheaply verifies a segment that recovery does not scan, and the index entries
// loaded for it: offsets, positions and timestamps increase and stay inside the segment, and the
// batches from the last entry on carry the expected offsets (with lax, increasing ones: a
// compacted segment) and end exactly at the end of the file and of the segment's offsets. It
// reports why the segment needs a scan, or "", and the segment's largest batch timestamp.
func checkIndex(entries []indexEntry, seg *segment, fileSize, nextBase int64, lax bool) (string, int64) {
	for i, e := range entries {
		if i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos || e.ts < entries[i-1].ts) {
			return fmt.Sprintf("entry %d does not increase", i), 0
		}
		if int64(e.pos)+batchHeaderSize > fileSize || seg.base+int64(e.rel) >= nextBase {
			return fmt.Sprintf("entry %d (offset %d, position %d) lies outside the segment", i, seg.base+int64(e.rel), e.pos), 0
		}
	}
	// Walk the batch headers from the last entry to the end of the file: the entry must name the
	// batch it points at, the batches must end exactly at the end of the file, and the last one
	// just before the next segment's base offset. This costs about IndexIntervalBytes of reads.
	last := lookup(entries, math.MaxUint32)
	maxTs := int64(noTimestamp)
	if len(entries) > 0 {
		maxTs = last.ts
	}
	r := newHeaderReader(seg.f, fileSize)
	defer r.close()
	next := seg.base + int64(last.rel)
	for pos := int64(last.pos); pos < fileSize; {
		h, err := r.at(pos)
		if err != nil {
			return fmt.Sprintf("walking the segment tail: %v", err), 0
		}
		if h.base != next && !(lax && h.base > next && pos != int64(last.pos)) && !(lax && len(entries) == 0 && h.base > next) {
			return fmt.Sprintf("batch at position %d has offset %d, expected %d", pos, h.base, next), 0
		}
		next = h.last + 1
		maxTs = max(maxTs, h.maxTs)
		pos += h.size
	}
	if next != nextBase && !(lax && next < nextBase) {
		return fmt.Sprintf("segment ends at offset %d but the next segment starts at %d", next, nextBase), 0
	}
	return "", maxTs
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
