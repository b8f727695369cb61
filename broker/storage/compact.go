package storage

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Compaction (cleanup.policy=compact), after Kafka's log cleaner.
//
// The log is split at the cleaner checkpoint (firstDirty): below it every segment was cleaned at
// least once, above it lies the dirty part. A pass:
//
//  1. picks the cleanable end: the base of the active segment, or of the first dirty segment
//     whose largest timestamp is within min.compaction.lag.ms of now, or of the segment where
//     the key map is full;
//  2. maps each key of the dirty part [firstDirty, cleanable end) to its last offset;
//  3. rewrites every segment below the cleanable end into groups no larger than segment.bytes,
//     keeping a record only if no later record has its key, dropping records without a key, and
//     dropping tombstones (null values) that were already clean before this pass and whose first
//     pass lies delete.retention.ms back (KIP-534's delete horizon, kept in the checkpoint
//     instead of in the batch). Control batches are copied untouched. A batch whose records all
//     stay is copied byte for byte; one that loses some is rebuilt with the same codec, base
//     offset and lastOffsetDelta, so offsets never change; one that loses all is dropped;
//  4. swaps the new segments in crash-safely and moves firstDirty to the cleanable end.
//
// The swap: the new segments are written as <base>.log.cleaned (and .index.cleaned,
// .timeindex.cleaned) and fsynced; then the manifest file cleaner-swap, naming the new and old
// segments and the new checkpoint, is written atomically (temp file, fsync, rename, directory
// fsync): that is the commit point. Then each .cleaned file is renamed over its final name, old
// segments not replaced are removed, the checkpoint is written, and the manifest removed. Open
// finishes a swap whose manifest exists (redoing what is left, every step being idempotent) and
// otherwise deletes .cleaned files, so a crash leaves either the old segments or the new ones.

const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	swapManifestFile      = "cleaner-swap"
	cleanedSuffix         = ".cleaned"
	// maxCleanedPasses bounds the pass history kept for tombstone horizons; older passes are
	// merged, which only keeps tombstones longer.
	maxCleanedPasses = 64
)

// cleanerState is a log's cleaner checkpoint.
type cleanerState struct {
	// firstDirty: offsets below it were cleaned. Segments below it may have offset gaps.
	firstDirty int64
	// passes, ascending: offsets below upTo were first clean after the pass at time at (ms).
	passes []cleanedPass
}

type cleanedPass struct{ UpTo, At int64 }

// firstCleanTime returns when offset first became clean, or false if it is not clean.
func (c *cleanerState) firstCleanTime(offset int64) (int64, bool) {
	i, _ := slices.BinarySearchFunc(c.passes, offset, func(p cleanedPass, o int64) int {
		if p.UpTo <= o {
			return -1
		}
		return 1
	})
	if i == len(c.passes) {
		return 0, false
	}
	return c.passes[i].At, true
}

func (c cleanerState) encode() []byte {
	b := fmt.Appendf(nil, "dirty %d\n", c.firstDirty)
	for _, p := range c.passes {
		b = fmt.Appendf(b, "clean %d %d\n", p.UpTo, p.At)
	}
	return b
}

func decodeCleanerState(b []byte) (cleanerState, error) {
	var c cleanerState
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		switch {
		case i == 0 && len(f) == 2 && f[0] == "dirty":
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 {
				return c, fmt.Errorf("bad line %q", line)
			}
			c.firstDirty = n
		case i > 0 && len(f) == 3 && f[0] == "clean":
			u, err1 := strconv.ParseInt(f[1], 10, 64)
			a, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				return c, fmt.Errorf("bad line %q", line)
			}
			c.passes = append(c.passes, cleanedPass{u, a})
		default:
			return c, fmt.Errorf("bad line %q", line)
		}
	}
	return c, nil
}

// swapManifest is the commit record of a compaction swap.
type swapManifest struct {
	New        []int64 // bases of the cleaned segments
	Old        []int64 // bases of the segments they replace
	Checkpoint string  // the cleaner checkpoint after the pass
}

// CompactConfig is a compacted log's configuration (Kafka's topic settings of the same names).
type CompactConfig struct {
	DeleteRetentionMs  int64   // delete.retention.ms
	MinCompactionLagMs int64   // min.compaction.lag.ms
	MinCleanableRatio  float64 // min.cleanable.dirty.ratio; 0 cleans whenever anything is dirty
	// UpTo, when positive, limits the pass to segments that end at or below it: the broker
	// passes the last stable offset, so records of open transactions are never cleaned (as
	// Kafka's cleaner stops at the first unstable offset).
	UpTo int64
	// Aborted, if set, says whether the batch of producerID at offset belongs to an aborted
	// transaction; such records neither shadow older values of their keys nor survive the
	// pass (Kafka's cleaner removes aborted transactional data the same way).
	Aborted func(producerID, offset int64) bool
	// Stop, when closed, aborts the pass at the next segment with context.Canceled (shutdown).
	Stop <-chan struct{}
	// BeforeClean, if set, runs once a pass has decided to clean, before it changes anything;
	// an error ends the pass. The broker snapshots its producer state there: the pass may
	// remove batches that a rebuild of that state from the log would need.
	BeforeClean func() error
}

func stopped(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// CompactResult says what a compaction pass did.
type CompactResult struct {
	Cleaned      bool // false: nothing cleanable, or the dirty ratio was below the minimum
	DirtyRatio   float64
	BytesRead    int64 // bytes of segments rewritten
	BytesWritten int64
	RecordsRead  int64
	RecordsKept  int64
	Segments     int // segments replaced
	CleanedUpTo  int64
	Duration     time.Duration
}

// Compact runs one compaction pass (see the comment at the top of compact.go) if the log's
// dirty ratio reaches cfg.MinCleanableRatio. Appends and reads go on while it runs; only the
// final swap holds the writer lock, briefly. Retention waits for it. It never touches the
// active segment.
func (l *Log) Compact(cfg CompactConfig) (CompactResult, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	startTime := time.Now()
	now := l.opts.Now().UnixMilli()
	var res CompactResult

	if _, err := os.Stat(filepath.Join(l.dir, swapManifestFile)); err == nil {
		return res, fmt.Errorf("storage: compact %s: an earlier swap is unfinished; reopen the log to complete it", l.dir)
	}

	snaps, start, err := l.snapshotSegments()
	if err != nil {
		return res, err
	}
	defer releaseAll(snaps)
	snaps = snaps[:len(snaps)-1] // never the active segment
	firstDirty := max(l.cleaner.firstDirty, start)

	// The dirty segments that may be cleaned now.
	d := 0
	for d < len(snaps) && snaps[d].end <= firstDirty {
		d++
	}
	k := d
	for k < len(snaps) && !(cfg.MinCompactionLagMs > 0 && snaps[k].maxTs > now-cfg.MinCompactionLagMs) &&
		!(cfg.UpTo > 0 && snaps[k].end > cfg.UpTo) {
		k++
	}
	if k == d {
		return res, nil
	}
	var cleanBytes, dirtyBytes int64
	for i, s := range snaps[:k] {
		if i < d {
			cleanBytes += s.size
		} else {
			dirtyBytes += s.size
		}
	}
	res.DirtyRatio = float64(dirtyBytes) / float64(max(cleanBytes+dirtyBytes, 1))
	if dirtyBytes == 0 || res.DirtyRatio < cfg.MinCleanableRatio {
		return res, nil
	}

	// 2. The key map over the dirty part; a full map ends the pass at a segment boundary.
	keys := newOffsetMap()
	for i := d; i < k; i++ {
		if stopped(cfg.Stop) {
			return res, context.Canceled
		}
		if i > d && keys.len() >= l.opts.CleanerMaxKeys {
			k = i
			break
		}
		if err := l.mapKeys(snaps[i], keys, cfg); err != nil {
			return res, err
		}
	}
	cleanEnd := snaps[k-1].end
	if cfg.BeforeClean != nil {
		if err := cfg.BeforeClean(); err != nil {
			return res, fmt.Errorf("storage: compact %s: before cleaning: %w", l.dir, err)
		}
	}

	// 3. Rewrite [0, k) in groups.
	l.removeCleanedFiles()
	var groups [][]segSnap
	for i := 0; i < k; {
		j := i + 1
		size := snaps[i].size
		for j < k && size+snaps[j].size <= l.segmentBytes.Load() && snaps[j].end-1-snaps[i].seg.base <= math.MaxUint32 {
			size += snaps[j].size
			j++
		}
		groups = append(groups, snaps[i:j])
		i = j
	}
	var news []*segment
	fail := func(err error) (CompactResult, error) {
		for _, s := range news {
			s.f.Close()
		}
		l.removeCleanedFiles()
		return res, err
	}
	for gi, g := range groups {
		if stopped(cfg.Stop) {
			return fail(context.Canceled)
		}
		end := cleanEnd
		if gi+1 < len(groups) {
			end = groups[gi+1][0].seg.base
		}
		seg, err := l.writeCleaned(g, end, keys, firstDirty, now, cfg, &res)
		if err != nil {
			return fail(err)
		}
		news = append(news, seg)
		res.Segments += len(g)
	}
	if err := syncDir(l.dir); err != nil {
		return fail(err)
	}
	if err := l.hook("cleaned-written"); err != nil {
		return fail(err)
	}

	// 4. Commit and swap.
	state := cleanerState{firstDirty: cleanEnd, passes: slices.Clone(l.cleaner.passes)}
	if n := len(state.passes); n == 0 || state.passes[n-1].UpTo < cleanEnd {
		state.passes = append(state.passes, cleanedPass{UpTo: cleanEnd, At: now})
	}
	for len(state.passes) > maxCleanedPasses {
		state.passes[1].UpTo = max(state.passes[0].UpTo, state.passes[1].UpTo)
		state.passes = state.passes[1:]
	}
	m := swapManifest{Checkpoint: string(state.encode())}
	for _, s := range news {
		m.New = append(m.New, s.base)
	}
	for _, s := range snaps[:k] {
		m.Old = append(m.Old, s.seg.base)
	}
	mb, _ := json.Marshal(m)
	if err := writeFileSync(filepath.Join(l.dir, swapManifestFile), mb); err != nil {
		return fail(fmt.Errorf("storage: compact: %w", err))
	}
	if err := syncDir(l.dir); err != nil {
		// The manifest may or may not be durable: Open decides. Do not touch the files.
		return res, fmt.Errorf("storage: compact: %w", err)
	}
	if err := l.hook("committed"); err != nil {
		return res, err
	}

	l.appendMu.Lock()
	if l.closed {
		l.appendMu.Unlock()
		for _, s := range news {
			s.f.Close()
		}
		return res, ErrClosed // Open completes the swap
	}
	l.becomeLeader() // no index writes of the old segments while their names are reused
	for _, s := range snaps[:k] {
		s.seg.deleted.Store(true)
	}
	err = finishSwap(l.dir, m, l.hook)
	if err == nil {
		l.mu.Lock()
		var oldBytes, newBytes int64
		for _, s := range l.segments[:k] {
			oldBytes += s.size
		}
		for _, s := range news {
			newBytes += s.size
		}
		old := slices.Clone(l.segments[:k])
		l.segments = slices.Concat(news, l.segments[k:])
		l.size.Add(newBytes - oldBytes)
		l.mu.Unlock()
		for _, s := range old {
			s.release()
		}
		l.cleaner = state
	}
	l.finishSync(nil)
	l.appendMu.Unlock()
	if err != nil {
		// The manifest stays; the next Open completes the swap. Meanwhile the old segments,
		// still open, serve reads.
		for _, s := range news {
			s.f.Close()
		}
		return res, fmt.Errorf("storage: compact: swap: %w", err)
	}
	if err := removeManifest(l.dir); err != nil {
		return res, fmt.Errorf("storage: compact: %w", err)
	}
	res.Cleaned = true
	res.CleanedUpTo = cleanEnd
	res.Duration = time.Since(startTime)
	l.logger.Info("storage: compacted log", "segments", res.Segments, "bytes_read", res.BytesRead,
		"bytes_written", res.BytesWritten, "records_read", res.RecordsRead, "records_kept", res.RecordsKept,
		"cleaned_up_to", cleanEnd, "duration", res.Duration.Round(time.Millisecond))
	return res, nil
}

// hook calls Options.CleanerHook, the fault-injection point of tests.
func (l *Log) hook(step string) error {
	if l.opts.CleanerHook != nil {
		return l.opts.CleanerHook(step)
	}
	return nil
}

// finishSwap carries out a committed manifest: rename every cleaned file over its final name,
// remove replaced segments that have no successor, write the checkpoint. Every step may be
// redone after a crash.
func finishSwap(dir string, m swapManifest, hook func(string) error) error {
	for _, base := range m.New {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			name := filepath.Join(dir, segmentName(base, suffix))
			if err := os.Rename(name+cleanedSuffix, name); err != nil && !isNotExist(err) {
				return err
			}
		}
		if err := hook("renamed"); err != nil {
			return err
		}
	}
	for _, base := range m.Old {
		if slices.Contains(m.New, base) {
			continue
		}
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(filepath.Join(dir, segmentName(base, suffix))); err != nil && !isNotExist(err) {
				return err
			}
		}
	}
	if err := hook("old-removed"); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, cleanerCheckpointFile), []byte(m.Checkpoint)); err != nil {
		return err
	}
	return syncDir(dir)
}

func removeManifest(dir string) error {
	if err := os.Remove(filepath.Join(dir, swapManifestFile)); err != nil && !isNotExist(err) {
		return err
	}
	return syncDir(dir)
}

// removeCleanedFiles deletes the leftovers of an unfinished, uncommitted pass.
func (l *Log) removeCleanedFiles() {
	entries, _ := os.ReadDir(l.dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedSuffix) {
			_ = os.Remove(filepath.Join(l.dir, e.Name()))
		}
	}
}

// recoverSwap runs at Open before segments are listed: it completes a committed swap or removes
// the files of an uncommitted one, then loads the cleaner checkpoint.
func (l *Log) recoverSwap() error {
	b, err := os.ReadFile(filepath.Join(l.dir, swapManifestFile))
	switch {
	case err == nil:
		var m swapManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("cleaner swap manifest is corrupt: %v", err)
		}
		l.logger.Info("storage: completing an interrupted compaction swap", "new", m.New, "old", m.Old)
		if err := finishSwap(l.dir, m, func(string) error { return nil }); err != nil {
			return fmt.Errorf("complete compaction swap: %w", err)
		}
		if err := removeManifest(l.dir); err != nil {
			return err
		}
	case !isNotExist(err):
		return err
	}
	l.removeCleanedFiles()

	b, err = os.ReadFile(filepath.Join(l.dir, cleanerCheckpointFile))
	switch {
	case err == nil:
		c, derr := decodeCleanerState(b)
		if derr != nil {
			// Without it segments with gaps would look damaged; refuse rather than cut data.
			return fmt.Errorf("%s is corrupt: %v", cleanerCheckpointFile, derr)
		}
		l.cleaner = c
	case !isNotExist(err):
		return err
	}
	return nil
}

// offsetMap maps a key's 128-bit hash (two maphash seeds) to the last offset seen for it.
type offsetMap struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]int64
}

func newOffsetMap() *offsetMap {
	return &offsetMap{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: make(map[[2]uint64]int64)}
}

func (o *offsetMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(o.seeds[0], key), maphash.Bytes(o.seeds[1], key)}
}
func (o *offsetMap) put(key []byte, offset int64) { o.m[o.hash(key)] = offset }
func (o *offsetMap) get(key []byte) (int64, bool) {
	v, ok := o.m[o.hash(key)]
	return v, ok
}
func (o *offsetMap) len() int { return len(o.m) }

// eachBatch reads the segment's batches in order and calls fn with each whole batch.
func eachBatch(s segSnap, fn func(batch []byte, pos int64) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(s.seg.f, 0, s.size), 1<<20)
	var buf []byte
	for pos := int64(0); pos < s.size; {
		var h [lengthFieldEnd]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return fmt.Errorf("storage: read %s at %d: %w", s.seg.logPath, pos, err)
		}
		size := lengthFieldEnd + int64(int32(binary.BigEndian.Uint32(h[offBatchLength:])))
		if size < batchHeaderSize || pos+size > s.size {
			return fmt.Errorf("%w: batch at %d of %s has length %d", ErrCorruptBatch, pos, s.seg.logPath, size)
		}
		buf = slices.Grow(buf[:0], int(size))[:size]
		copy(buf, h[:])
		if _, err := io.ReadFull(br, buf[lengthFieldEnd:]); err != nil {
			return fmt.Errorf("storage: read %s at %d: %w", s.seg.logPath, pos, err)
		}
		if err := fn(buf, pos); err != nil {
			return err
		}
		pos += size
	}
	return nil
}

func isControl(batch []byte) bool {
	return binary.BigEndian.Uint16(batch[offAttributes:])&controlBit != 0
}

func (l *Log) mapKeys(s segSnap, keys *offsetMap, cfg CompactConfig) error {
	return eachBatch(s, func(batch []byte, pos int64) error {
		if isControl(batch) || isAbortedBatch(batch, cfg) {
			return nil
		}
		recs, err := batchRecordsSection(batch)
		if err != nil {
			return fmt.Errorf("storage: compact %s at %d: %w", s.seg.logPath, pos, err)
		}
		return forEachRecord(batch, recs, func(r record) bool {
			if !r.keyNull {
				keys.put(r.key, r.offset)
			}
			return true
		})
	})
}

// writeCleaned writes the cleaned copy of the segments g as one new segment, named by the first
// one's base, under .cleaned names, fsynced, and returns it (open, ending at end).
func (l *Log) writeCleaned(g []segSnap, end int64, keys *offsetMap, firstDirty, now int64, cfg CompactConfig, res *CompactResult) (*segment, error) {
	base := g[0].seg.base
	seg := newSegment(l.dir, base, nil, l.opts.IndexIntervalBytes)
	f, err := os.OpenFile(seg.logPath+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: compact: %w", err)
	}
	seg.f = f
	w := bufio.NewWriterSize(f, 1<<20)
	var kept [][]byte
	for _, s := range g {
		res.BytesRead += s.size
		err := eachBatch(s, func(batch []byte, pos int64) error {
			out := batch
			if isAbortedBatch(batch, cfg) {
				res.RecordsRead += int64(binary.BigEndian.Uint32(batch[57:]))
				return nil
			}
			if !isControl(batch) {
				recs, err := batchRecordsSection(batch)
				if err != nil {
					return fmt.Errorf("storage: compact %s at %d: %w", s.seg.logPath, pos, err)
				}
				kept = kept[:0]
				count := 0
				err = forEachRecord(batch, recs, func(r record) bool {
					count++
					if r.keyNull {
						return true
					}
					if last, ok := keys.get(r.key); ok && last > r.offset {
						return true
					}
					if r.valueNull && r.offset < firstDirty {
						if at, ok := l.cleaner.firstCleanTime(r.offset); ok && now >= at+cfg.DeleteRetentionMs {
							return true
						}
					}
					kept = append(kept, r.raw)
					return true
				})
				if err != nil {
					return fmt.Errorf("storage: compact %s at %d: %w", s.seg.logPath, pos, err)
				}
				res.RecordsRead += int64(count)
				res.RecordsKept += int64(len(kept))
				switch {
				case len(kept) == 0:
					return nil
				case len(kept) < count:
					if out, err = rebuildBatch(batch, kept); err != nil {
						return err
					}
				}
			}
			h, _ := batchOffsets(out)
			ts := int64(binary.BigEndian.Uint64(out[offMaxTimestamp:]))
			seg.index = seg.indexer.observe(uint32(h-base), seg.size, int64(len(out)), seg.maxTs, seg.index)
			seg.maxTs = max(seg.maxTs, ts)
			if seg.firstTs == noTimestamp {
				seg.firstTs = ts
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
			seg.size += int64(len(out))
			return nil
		})
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = writeFileData(seg.indexPath+cleanedSuffix, encodeIndex(seg.index), true)
		if err == nil {
			err = writeFileData(timeIndexPath(seg.indexPath)+cleanedSuffix, encodeTimeIndex(seg.index), true)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: compact: write %s: %w", seg.logPath+cleanedSuffix, err)
	}
	seg.end = end
	seg.indexDone = true
	res.BytesWritten += seg.size
	return seg, nil
}

// isAbortedBatch reports whether batch is transactional data of an aborted
// transaction, per cfg.Aborted.
func isAbortedBatch(batch []byte, cfg CompactConfig) bool {
	if cfg.Aborted == nil || len(batch) < batchHeaderSize || binary.BigEndian.Uint16(batch[21:])&0x10 == 0 {
		return false
	}
	return cfg.Aborted(int64(binary.BigEndian.Uint64(batch[43:])), int64(binary.BigEndian.Uint64(batch)))
}
