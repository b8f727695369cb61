package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Log. Zero values mean the defaults.
type Options struct {
	// SegmentBytes rolls the active segment when an append would make it larger (Kafka's
	// segment.bytes). An append larger than SegmentBytes still goes whole into an empty segment.
	// Default 1 GiB; at most math.MaxInt32, because index positions are 32-bit.
	SegmentBytes int64
	// IndexIntervalBytes is how many bytes of log lie between sparse offset-index entries
	// (Kafka's index.interval.bytes). Default 4096.
	IndexIntervalBytes int
	// SegmentMs rolls the active segment when its first batch's maxTimestamp is more than
	// SegmentMs before the time of an append (Kafka's segment.ms). Default 7 days.
	SegmentMs int64
	// Logger receives recovery reports; default slog.Default(). Records carry the attribute dir.
	Logger *slog.Logger
	// Now is the clock for segment.ms, log-append time, retention and the cleaner; default
	// time.Now. Tests inject one to make time-based behaviour deterministic.
	Now func() time.Time
	// CleanerMaxKeys bounds the cleaner's key map (Kafka's log.cleaner.dedupe.buffer.size, in
	// keys): a pass cleans up to the segment where the map fills. Default 4 Mi keys.
	CleanerMaxKeys int
	// CleanerHook, for fault-injection tests, is called at each step of a compaction swap
	// ("cleaned-written", "committed", "renamed" per segment, "old-removed"); an error it returns
	// aborts the pass there, as a crash would.
	CleanerHook func(step string) error
}

const (
	DefaultSegmentBytes       = 1 << 30
	DefaultIndexIntervalBytes = 4096
	DefaultSegmentMs          = 7 * 24 * 60 * 60 * 1000
	DefaultCleanerMaxKeys     = 4 << 20
)

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.SegmentBytes < 0 || o.SegmentBytes > math.MaxInt32:
		return o, fmt.Errorf("storage: SegmentBytes %d out of range [1, %d]", o.SegmentBytes, math.MaxInt32)
	case o.SegmentBytes == 0:
		o.SegmentBytes = DefaultSegmentBytes
	}
	switch {
	case o.IndexIntervalBytes < 0:
		return o, fmt.Errorf("storage: IndexIntervalBytes %d is negative", o.IndexIntervalBytes)
	case o.IndexIntervalBytes == 0:
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.SegmentMs < 0 {
		return o, fmt.Errorf("storage: SegmentMs %d is negative", o.SegmentMs)
	} else if o.SegmentMs == 0 {
		o.SegmentMs = DefaultSegmentMs
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CleanerMaxKeys <= 0 {
		o.CleanerMaxKeys = DefaultCleanerMaxKeys
	}
	return o, nil
}

// A Log is one partition's log: a directory of segments. See the package documentation for the
// file layout, recovery and the concurrency contract.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger

	// segmentBytes and segmentMs are the live values of Options.SegmentBytes and SegmentMs
	// (SetSegmentBytes, SetSegmentMs).
	segmentBytes atomic.Int64
	segmentMs    atomic.Int64
	// logAppendTime makes every Append behave as AppendLogTime (SetLogAppendTime).
	logAppendTime atomic.Bool

	// maintMu serializes the maintenance that removes or replaces segments: retention
	// (DeleteSegmentsBefore, ApplyRetention) and compaction. A compaction pass holds it while it
	// reads and rewrites segments, so retention waits for it; appends and reads do not. Lock
	// order: maintMu, then appendMu.
	maintMu sync.Mutex
	// cleaner is the compaction state (cleaner checkpoint), guarded by maintMu.
	cleaner cleanerState

	// appendMu serializes everything that changes the log: Append (with rolling),
	// DeleteSegmentsBefore, the compaction swap, Close and Delete. It is held across file writes.
	// Lock order: appendMu, then syncMu, then mu.
	appendMu sync.Mutex
	// writeErr, guarded by appendMu, is set when a failed write could not be undone; every later
	// Append returns it.
	writeErr error

	// mu guards the following. It is held for memory updates and lookups only, never across I/O,
	// so readers never wait behind a disk. A writer holds appendMu and mu; readers hold mu.RLock
	// while they pick a segment and take a reference to it.
	mu sync.RWMutex
	// segments and closed change only with both appendMu and mu held, so a goroutine holding
	// appendMu may read them without mu.
	segments []*segment // ascending base offsets; the last one is the active segment
	closed   bool
	// start, end and size change only under mu (so a reader holding mu sees them agree with the
	// segments) and are atomics so that the accessors need no lock.
	start atomic.Int64 // log start offset: at least the base offset of the first segment (DeleteRecords moves it)
	end   atomic.Int64 // next offset to assign; every batch below it is whole on disk
	size  atomic.Int64 // committed bytes over all segments

	// syncMu guards the following: the group-commit leader election. Exactly one goroutine at a
	// time, the leader, has set syncing; it alone fsyncs, writes index and recovery-point files,
	// and advances durable. syncDone is closed when that leader finishes.
	syncMu   sync.Mutex
	syncing  bool
	syncDone chan struct{}
	syncErr  error // sticky: after a failed fsync nothing is known durable any more

	durable atomic.Int64 // end offset known fsynced; written only by the leader
	rpBase  int64        // owned by the leader: segment named by the recovery-point file
	syncs   atomic.Int64 // completed sync rounds (tests)
}

// Open opens the partition log in dir, creating the directory and a first segment if needed,
// and recovers it if it was not closed cleanly (see the package documentation).
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger.With("dir", dir)}
	l.segmentBytes.Store(opts.SegmentBytes)
	l.segmentMs.Store(opts.SegmentMs)
	if err := l.recover(); err != nil {
		for _, s := range l.segments {
			s.release()
		}
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	return l, nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset returns the log start offset: the first offset that may be read. It is the base
// offset of the first segment unless DeleteRecords (SetStartOffset) moved it further.
func (l *Log) StartOffset() int64 { return l.start.Load() }

// EndOffset returns the next offset to assign (the high watermark on a single node). Every
// offset below it can be read.
func (l *Log) EndOffset() int64 { return l.end.Load() }

// DurableOffset returns the end offset known to be fsynced.
func (l *Log) DurableOffset() int64 { return l.durable.Load() }

// Size returns the bytes of record batches on disk across all segments.
func (l *Log) Size() int64 { return l.size.Load() }

// AppendResult describes what Append wrote.
type AppendResult struct {
	BaseOffset int64 // offset assigned to the first record
	LastOffset int64 // offset of the last record
	Batches    int
	Records    int // sum of records counts
	Bytes      int
	// LogAppendTime is the time AppendLogTime stamped on the batches, or -1.
	LogAppendTime int64
}

// SetSegmentBytes changes the size at which the active segment rolls (segment.bytes), from the
// next append on. Values outside [1, math.MaxInt32] are clamped.
func (l *Log) SetSegmentBytes(n int64) { l.segmentBytes.Store(min(max(n, 1), math.MaxInt32)) }

// SetSegmentMs changes the age at which the active segment rolls (segment.ms), from the next
// append on. Zero or less means never.
func (l *Log) SetSegmentMs(ms int64) { l.segmentMs.Store(ms) }

// maxAppendBytes bounds one Append so that batch positions fit the 32-bit index.
const maxAppendBytes = math.MaxInt32

// Append validates batches, one or more concatenated v2 record batches, assigns them
// consecutive offsets starting at EndOffset by rewriting each batch's baseOffset field in b
// (the caller's buffer is modified; the CRC does not cover that field), and writes b to the
// active segment as it is. It rolls to a new segment first if b would make the active one exceed
// SegmentBytes. It does not fsync; use SyncTo. All or nothing: an invalid batch anywhere in b
// fails the whole call before anything is written.
func (l *Log) Append(batches []byte) (AppendResult, error) {
	return l.append(batches, l.logAppendTime.Load())
}

// SetLogAppendTime makes Append stamp batches with the log-append time, as AppendLogTime does
// (message.timestamp.type=LogAppendTime), or stop doing so.
func (l *Log) SetLogAppendTime(on bool) { l.logAppendTime.Store(on) }

// AppendLogTime is Append for a topic with message.timestamp.type=LogAppendTime: after
// validation it marks every batch's timestamp type as log-append time, sets its maxTimestamp to
// the log's clock (milliseconds) and recomputes its CRC, as Kafka does.
func (l *Log) AppendLogTime(batches []byte) (AppendResult, error) { return l.append(batches, true) }

func (l *Log) append(batches []byte, logAppendTime bool) (AppendResult, error) {
	nb, nr, err := ValidateBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	if len(batches) > maxAppendBytes {
		return AppendResult{}, fmt.Errorf("%w: append of %d bytes exceeds %d", ErrInvalidBatch, len(batches), maxAppendBytes)
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed { // written under appendMu too
		return AppendResult{}, ErrClosed
	}
	if l.writeErr != nil {
		return AppendResult{}, l.writeErr
	}

	appendTime := int64(-1)
	now := l.opts.Now().UnixMilli()
	if logAppendTime {
		appendTime = now
		for pos := 0; pos < len(batches); {
			b := batches[pos:]
			size := lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
			attrs := binary.BigEndian.Uint16(b[offAttributes:])
			binary.BigEndian.PutUint16(b[offAttributes:], attrs|timestampTypeBit)
			binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(appendTime))
			binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:size], castagnoli))
			pos += size
		}
	}

	// Offsets: the log is dense, each batch starts where the previous one ended.
	first := l.end.Load()
	next := first
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(next))
		_, last := batchOffsets(b)
		next = last + 1
		pos += lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	}
	if next-first > math.MaxUint32 {
		return AppendResult{}, fmt.Errorf("%w: append spans %d offsets, more than a segment can index", ErrInvalidBatch, next-first)
	}

	seg := l.segments[len(l.segments)-1]
	if seg.size > 0 && (seg.size+int64(len(batches)) > l.segmentBytes.Load() || next-1-seg.base > math.MaxUint32 ||
		l.rollByTime(seg, batches, now)) {
		if seg, err = l.roll(first); err != nil {
			return AppendResult{}, err
		}
	}

	// Index entries for the new batches, computed before the write, published after it.
	var entries []indexEntry
	x := seg.indexer
	maxTs, firstTs := seg.maxTs, seg.firstTs
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		base, _ := batchOffsets(b)
		size := int64(lengthFieldEnd) + int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
		entries = x.observe(uint32(base-seg.base), seg.size+int64(pos), size, maxTs, entries)
		ts := int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
		maxTs = max(maxTs, ts)
		if firstTs == noTimestamp {
			firstTs = ts
		}
		pos += int(size)
	}

	if _, err := seg.f.WriteAt(batches, seg.size); err != nil {
		err = fmt.Errorf("storage: append to %s at position %d: %w", seg.logPath, seg.size, err)
		// Undo a partial write so the file ends at the committed size again.
		if terr := seg.f.Truncate(seg.size); terr != nil {
			l.writeErr = fmt.Errorf("%w (and truncating back failed: %v; log is read-only)", err, terr)
		}
		return AppendResult{}, err
	}
	seg.indexer = x

	l.mu.Lock()
	seg.size += int64(len(batches))
	seg.end = next
	seg.index = append(seg.index, entries...)
	seg.maxTs, seg.firstTs = maxTs, firstTs
	l.size.Add(int64(len(batches)))
	l.end.Store(next)
	l.mu.Unlock()

	return AppendResult{BaseOffset: first, LastOffset: next - 1, Batches: nb, Records: nr, Bytes: len(batches), LogAppendTime: appendTime}, nil
}

// rollByTime reports whether segment.ms says the active segment seg must roll before batches
// are appended: as in Kafka, when the largest timestamp of the new batches is more than
// segment.ms after the segment's first batch's timestamp, or, for a segment without timestamps,
// when it was created more than segment.ms ago.
func (l *Log) rollByTime(seg *segment, batches []byte, now int64) bool {
	segMs := l.segmentMs.Load()
	if segMs <= 0 {
		return false
	}
	if seg.firstTs < 0 {
		return now-seg.created > segMs
	}
	incoming := int64(noTimestamp)
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		incoming = max(incoming, int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])))
		pos += lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	}
	return incoming-seg.firstTs > segMs
}

// roll creates a new active segment with base offset base. REQUIRES: appendMu.
func (l *Log) roll(base int64) (*segment, error) {
	seg, err := l.createSegment(base)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segments = append(l.segments, seg)
	l.mu.Unlock()
	return seg, nil
}

// createSegment creates the empty .log and .index files of a new segment and fsyncs the
// directory so that the new names survive a crash.
func (l *Log) createSegment(base int64) (*segment, error) {
	seg := newSegment(l.dir, base, nil, l.opts.IndexIntervalBytes)
	seg.created = l.opts.Now().UnixMilli()
	f, err := os.OpenFile(seg.logPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: create segment: %w", err)
	}
	seg.f = f
	err = writeIndexFile(seg.indexPath, nil, true)
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		// Leave nothing behind, or the next roll to this base offset would fail forever.
		f.Close()
		os.Remove(seg.logPath)
		os.Remove(seg.indexPath)
		return nil, fmt.Errorf("storage: create segment %s: %w", seg.logPath, err)
	}
	return seg, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// A Slice is the byte range [Pos, Pos+Size) of a segment file, holding whole record batches.
// Send it with a positional read or sendfile using Pos (the file's seek offset is shared and
// meaningless), or use Bytes. The segment file stays open, even if the segment is deleted, until
// Release. The zero Slice is empty.
type Slice struct {
	File *os.File
	Pos  int64
	Size int64
	// Next is the offset after the slice's last batch: where the next read
	// continues. Next minus the fetch offset counts the offsets a fetch
	// delivers, which are its records but for offsets compaction removed and
	// transaction markers.
	Next int64

	ref *sliceRef
}

type sliceRef struct {
	seg      *segment
	released atomic.Bool
}

// Bytes reads the slice into memory.
func (s Slice) Bytes() ([]byte, error) {
	if s.Size == 0 {
		return nil, nil
	}
	b := make([]byte, s.Size)
	if n, err := s.File.ReadAt(b, s.Pos); n < len(b) {
		return nil, fmt.Errorf("storage: read %d bytes at %d of %s: %w", s.Size, s.Pos, s.File.Name(), err)
	}
	return b, nil
}

// Release tells the log the caller is done with the slice's file. It is safe to call on the
// zero Slice and more than once (on copies too); the File must not be used afterwards.
func (s Slice) Release() {
	if s.ref != nil && s.ref.released.CompareAndSwap(false, true) {
		s.ref.seg.release()
	}
}

// Read returns whole batches starting with the one that contains offset: a range of one segment
// file at most maxBytes long, except that the first batch is returned whole however large it is
// (KIP-74), so a consumer always makes progress. The range stops at the end of its segment (the
// caller reads again from the next offset) and never covers bytes at or above the end offset as
// of the call. offset == EndOffset returns an empty Slice; offsets outside
// [StartOffset, EndOffset] return ErrOffsetOutOfRange. The caller must Release the Slice.
func (l *Log) Read(offset int64, maxBytes int) (Slice, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Slice{}, ErrClosed
	}
	start, end := l.start.Load(), l.end.Load()
	if offset < start || offset > end {
		l.mu.RUnlock()
		return Slice{}, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, start, end)
	}
	if offset == end {
		l.mu.RUnlock()
		return Slice{}, nil
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	for {
		seg := l.segments[i]
		limit, segEnd := seg.size, seg.end
		index := seg.index
		lastSeg := i == len(l.segments)-1
		seg.acquire()
		l.mu.RUnlock()

		pos, next, err := l.readRange(seg, index, limit, segEnd, offset, maxBytes)
		if err == errPastSegment && !lastSeg {
			// A compacted segment ends before the next one begins, and offset lies in the gap:
			// the answer is the next segment's first batch. Find that segment again, as the
			// cleaner may have replaced the list meanwhile.
			seg.release()
			l.mu.RLock()
			if l.closed {
				l.mu.RUnlock()
				return Slice{}, ErrClosed
			}
			base := seg.base
			i = sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > base })
			if i == len(l.segments) {
				l.mu.RUnlock()
				return Slice{}, nil
			}
			continue
		}
		if err == errPastSegment {
			err = fmt.Errorf("%w: offset %d not found in %s", ErrCorruptBatch, offset, seg.logPath)
		}
		if err != nil {
			seg.release()
			return Slice{}, err
		}
		return Slice{File: seg.f, Pos: pos[0], Size: pos[1] - pos[0], Next: next, ref: &sliceRef{seg: seg}}, nil
	}
}

// errPastSegment tells Read that every batch of a segment lies below the wanted offset.
var errPastSegment = errors.New("storage: offset past the segment's last batch")

// readRange finds [from, to) in seg for Read, and the offset after its last batch. limit and
// segEnd are the committed size and end offset seen under mu.
func (l *Log) readRange(seg *segment, index []indexEntry, limit, segEnd, offset int64, maxBytes int) ([2]int64, int64, error) {
	r := newHeaderReader(seg.f, limit)
	defer r.close()

	// The batch containing offset: scan forward from the last indexed batch at or before it.
	pos := int64(lookup(index, uint32(max(offset-seg.base, 0))).pos)
	var h batchHead
	for {
		if pos >= limit {
			return [2]int64{}, 0, errPastSegment
		}
		var err error
		if h, err = r.at(pos); err != nil {
			return [2]int64{}, 0, fmt.Errorf("read offset %d in %s: %w", offset, seg.logPath, err)
		}
		if h.last >= offset {
			break
		}
		pos += h.size
	}
	from := pos
	if int64(maxBytes) >= limit-from {
		return [2]int64{from, limit}, segEnd, nil
	}
	budget := from + int64(max(maxBytes, 0)) // batches must end at or before this position
	// Whole batches within the budget: jump to the last indexed batch start inside it, then walk.
	to, next := from+h.size, h.last+1
	if p := lookupPos(index, from, budget); p > to {
		to = p
	}
	for to < limit {
		h, err := r.at(to)
		if err != nil {
			return [2]int64{}, 0, fmt.Errorf("read offset %d in %s: %w", offset, seg.logPath, err)
		}
		next = h.base // the batch at to starts right after the slice's last one
		if to+h.size > budget {
			break
		}
		to += h.size
		next = h.last + 1
	}
	if to >= limit {
		next = segEnd
	}
	return [2]int64{from, to}, next, nil
}

// Sync fsyncs everything appended so far.
func (l *Log) Sync() error {
	return l.SyncTo(context.Background(), l.EndOffset())
}

// SyncTo returns once every offset below end is fsynced. Concurrent callers share fsyncs (group
// commit): if a sync is running, a caller waits for it and checks again; a caller that finds none
// running becomes the leader, fsyncs everything appended so far, publishes the new durable
// offset and wakes the others. Waiting honours ctx; a running fsync is not interrupted.
// An end above EndOffset returns ErrOffsetOutOfRange. After an fsync failure every SyncTo fails.
func (l *Log) SyncTo(ctx context.Context, end int64) error {
	for {
		if l.durable.Load() >= end {
			return nil
		}
		l.syncMu.Lock()
		if err := l.syncErr; err != nil {
			l.syncMu.Unlock()
			return err
		}
		if l.durable.Load() >= end {
			l.syncMu.Unlock()
			return nil
		}
		if l.syncing {
			done := l.syncDone
			l.syncMu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if e := l.end.Load(); end > e {
			l.syncMu.Unlock()
			return fmt.Errorf("%w: sync to %d, end offset is %d", ErrOffsetOutOfRange, end, e)
		}
		l.syncing = true
		l.syncDone = make(chan struct{})
		l.syncMu.Unlock()

		err := l.syncOnce()
		l.finishSync(err)
		if err != nil {
			return err
		}
	}
}

// becomeLeader waits until no sync runs and makes the caller the sync leader, ignoring any
// sticky error. The caller must call finishSync.
func (l *Log) becomeLeader() {
	l.syncMu.Lock()
	for l.syncing {
		done := l.syncDone
		l.syncMu.Unlock()
		<-done
		l.syncMu.Lock()
	}
	l.syncing = true
	l.syncDone = make(chan struct{})
	l.syncMu.Unlock()
}

// finishSync ends the caller's leadership, records a failed fsync as sticky, and wakes waiters.
func (l *Log) finishSync(err error) {
	l.syncMu.Lock()
	if err != nil && !errors.Is(err, ErrClosed) && l.syncErr == nil {
		l.syncErr = err
	}
	l.syncing = false
	close(l.syncDone)
	l.syncMu.Unlock()
}

// syncOnce fsyncs every segment that may hold data above the durable offset, writes the final
// index of segments rolled since the last round, then advances durable to the end offset
// captured at the start, and moves the recovery point when the active segment changed.
// REQUIRES: the caller is the sync leader.
func (l *Log) syncOnce() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	end := l.end.Load()
	durable := l.durable.Load()
	type work struct {
		seg     *segment
		dirty   bool
		index   []indexEntry // final entries to write, for a segment rolled and not yet written
		writeIx bool
	}
	var todo []work
	for i := len(l.segments) - 1; i >= 0; i-- {
		s := l.segments[i]
		active := i == len(l.segments)-1
		w := work{seg: s, dirty: s.end > durable, writeIx: !active && !s.indexDone, index: s.index}
		if !active && !w.dirty && !w.writeIx {
			break // this one and all before it are durable and done
		}
		s.acquire()
		todo = append(todo, w)
	}
	activeBase := l.segments[len(l.segments)-1].base
	l.mu.RUnlock()

	var err error
	for i := len(todo) - 1; i >= 0; i-- { // oldest first
		w := todo[i]
		if err == nil && w.dirty {
			if serr := w.seg.f.Sync(); serr != nil {
				err = fmt.Errorf("storage: fsync %s: %w", w.seg.logPath, serr)
			}
		}
		if err == nil && w.writeIx && !w.seg.deleted.Load() {
			if ierr := writeIndexFile(w.seg.indexPath, w.index, false); ierr != nil && !(isNotExist(ierr) && w.seg.deleted.Load()) {
				// The index is rebuilt by recovery if it is bad; not a reason to fail producers.
				l.logger.Warn("storage: writing offset index failed", "file", w.seg.indexPath, "err", ierr)
			}
			w.seg.indexDone = true
		}
		w.seg.release()
	}
	if err != nil {
		return err
	}
	l.durable.Store(end)
	l.syncs.Add(1)
	if activeBase != l.rpBase {
		l.writeRecoveryPoint(end, activeBase)
	}
	return nil
}

// Close fsyncs everything, writes the final offset indexes, the recovery point and the
// clean-shutdown marker, and closes the log. Files stay open until outstanding Slices are
// released. Close after Close returns ErrClosed.
func (l *Log) Close() error { return l.shutdown(true) }

// Delete closes the log without syncing and removes its directory (topic deletion). Outstanding
// Slices stay readable until released.
func (l *Log) Delete() error {
	err := l.shutdown(false)
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("storage: delete %s: %w", l.dir, err)
	}
	_ = syncDir(filepath.Dir(l.dir)) // best effort: the deletion is not needed for correctness
	return nil
}

func (l *Log) shutdown(clean bool) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}

	// Become the sync leader: wait out a running sync; no new one can start after ours because
	// we mark the log closed before finishing.
	l.becomeLeader()
	l.syncMu.Lock()
	err := l.syncErr
	l.syncMu.Unlock()
	if clean && err == nil {
		err = l.finalSync()
	}

	l.mu.Lock()
	l.closed = true
	segs := l.segments
	l.segments = nil
	l.mu.Unlock()
	l.finishSync(err)
	for _, s := range segs {
		s.release()
	}
	return err
}

// finalSync is Close's part of shutdown. REQUIRES: appendMu, sync leader.
func (l *Log) finalSync() error {
	if err := l.syncOnce(); err != nil {
		return err
	}
	// No appends can run: the active segment's index is final too.
	l.mu.RLock()
	active := l.segments[len(l.segments)-1]
	index := active.index
	end := l.end.Load()
	l.mu.RUnlock()
	if err := writeIndexFile(active.indexPath, index, true); err != nil {
		return fmt.Errorf("storage: close: write offset index: %w", err)
	}
	active.indexDone = true
	if err := writeFileSync(filepath.Join(l.dir, recoveryPointFile), fmt.Appendf(nil, "%d\n", end)); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	if err := writeFileSync(filepath.Join(l.dir, cleanShutdownFile), nil); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return syncDir(l.dir)
}
