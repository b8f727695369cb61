// Package storage is the broker's on-disk partition log, in Kafka's formats.
//
// # Files
//
// A Log owns one directory (one partition). It holds:
//
//   - Segments: 00000000000000000000.log, named by the base offset of their first batch,
//     zero-padded to 20 digits. A .log file is record batches (magic v2) back to back, exactly as
//     producers sent them except for the baseOffset field, which Append rewrites. Compressed
//     batches are never decompressed. The last segment is the active one; Append rolls to a new
//     segment when an append would make the active one exceed Options.SegmentBytes (one append
//     always goes whole into one segment, an empty one if it is larger than SegmentBytes).
//   - Offset indexes: 00000000000000000000.index beside each .log, 8-byte big-endian entries
//     (offset relative to the segment base as uint32, byte position as uint32). The index is
//     sparse: an entry for the first batch that starts after at least IndexIntervalBytes of log
//     since the previous entry. Unlike Kafka, whose entries name a batch's last offset, an entry
//     names the batch's first (base) offset. Entries live in memory; a segment's .index file is
//     written and fsynced once the segment is rolled (by the next sync) and on Close. After a crash
//     an .index file may be stale; recovery rebuilds it.
//   - Time indexes: 00000000000000000000.timeindex, one 12-byte entry (timestamp int64, relative
//     offset uint32, Kafka's layout) per offset-index entry: the largest batch maxTimestamp of all
//     batches before the indexed one. OffsetForTimestamp starts at the last entry below the wanted
//     time and walks batches (decompressing the one that holds the answer); MaxTimestamp answers
//     KIP-734. Each segment also keeps its largest timestamp in memory (retention.ms, segment.ms).
//   - log-start-offset: the log start offset when DeleteRecords (SetStartOffset) moved it past the
//     first segment's base; fsynced before SetStartOffset returns.
//   - cleaner-offset-checkpoint: the compaction state (see compact.go): "dirty N" (offsets below N
//     were compacted) and "clean UPTO AT" lines (offsets below UPTO were first compacted at time AT,
//     in ms), which date tombstones for delete.retention.ms. cleaner-swap and *.cleaned files exist
//     only during a compaction swap; Open completes or removes them.
//   - recovery-point: an offset in decimal text below which everything was fsynced. The sync that
//     first makes data of a new active segment durable updates it, as do Open and Close.
//   - .eddy_clean_shutdown: written by Close after everything is fsynced, removed by Open.
//
// Above the cleaner checkpoint the log is dense: every batch's baseOffset is the previous batch's
// last offset plus one, and each segment's first batch carries the segment's base offset.
// Below it (compacted segments) offsets only increase: whole batches may be gone, a segment may
// start above its base offset, end below the next segment's base, or be empty, and a rebuilt batch
// keeps its baseOffset and lastOffsetDelta but holds fewer records. Read of an offset in a gap
// returns the next batch, as Kafka does.
//
// # Retention and compaction
//
// ApplyRetention deletes whole segments from the front by retention.ms (the segment's largest
// timestamp), retention.bytes, and the log start offset, rolling first when the active segment
// goes too. Compact is Kafka's log cleaner; compact.go describes a pass and its crash-safe swap.
// Appends roll by segment.bytes and segment.ms (the incoming batches' largest timestamp against the
// segment's first batch's, or the segment's age without timestamps). AppendLogTime (or
// SetLogAppendTime) stamps batches with the clock (message.timestamp.type=LogAppendTime) and
// recomputes their CRC.
//
// For issue 5 (transactions) to revisit: control batches are copied untouched and never enter
// the key map, but aborted transactional records are not removed yet, and markers are never
// removed; the cleaner must also stop at the first unstable offset and keep each producer's last
// batch (Kafka keeps it so that idempotent producers' sequence state survives compaction; Eddy's
// producer state is a snapshot, so today only a rebuild of that state from the log would miss it).
//
// # Recovery
//
// Open never panics on file content: bad data is cut off (and reported), other problems are
// returned as errors. It first completes an interrupted compaction swap (see compact.go).
//
//   - Which segments are scanned: after a clean shutdown (marker present) only the active
//     segment; otherwise every segment from the one containing the recovery point, or all
//     segments without a readable recovery point.
//   - A scan reads each batch and checks framing (length, magic 2), header fields (record count,
//     lastOffsetDelta, codec), CRC-32C, and that offsets continue densely from the segment base,
//     and that each segment ends where the next begins (below the cleaner checkpoint: that offsets
//     increase and a segment ends at or before the next one's base). At the first bad or torn batch it
//     truncates the segment there and deletes every later segment, logging at WARN the file,
//     position, bytes cut, reason and the last good offset.
//   - A scanned segment's index is rebuilt from the scan; if the .index file is missing or
//     differs it is rewritten (logged at INFO). An unscanned segment is checked cheaply: its
//     index entries increase and stay inside the segment, and walking the batch headers from the
//     last entry lands exactly on the end of the file with the offset where the next segment
//     begins. If that fails the segment is scanned too, and thus rebuilt or truncated.
//   - Scanned segments are fsynced, and DurableOffset starts at the recovered end offset.
//
// # Concurrency
//
// All methods are safe for concurrent use.
//
//   - Compact, ApplyRetention and DeleteSegmentsBefore are serialized by a maintenance lock, held
//     by a compaction pass while it reads and rewrites segments; appends and reads do not take it.
//     The swap of cleaned segments takes the writer lock and the sync leadership briefly (renames
//     and a directory fsync). Slices over replaced segments stay readable until released.
//   - Append, DeleteSegmentsBefore, Close and Delete are serialized by an internal writer lock;
//     Append writes without holding the lock that readers use and publishes the new end offset,
//     segment size and index entries only after the write has completed, so readers never see
//     an offset whose bytes are not fully written.
//   - Read and the offset accessors run concurrently with appends and with each other. A Slice
//     holds a reference on its segment file, which stays open (even if the segment is deleted or
//     the log closed) until Release.
//   - Durability is group-committed: SyncTo callers elect a leader that fsyncs on behalf of all
//     of them; the others wait for it and check again. Append never fsyncs. An fsync failure is
//     sticky: afterwards every SyncTo and Sync fails, and Close does not write the clean-shutdown
//     marker, so the next Open rescans.
package storage
