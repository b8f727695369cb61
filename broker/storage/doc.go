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
//   - recovery-point: an offset in decimal text below which everything was fsynced. The sync that
//     first makes data of a new active segment durable updates it, as do Open and Close.
//   - .eddy_clean_shutdown: written by Close after everything is fsynced, removed by Open.
//
// The log is dense: every batch's baseOffset is the previous batch's last offset plus one, and
// each segment's first batch carries the segment's base offset. (There is no compaction yet;
// when it comes, recovery's "offsets continue" check must become "offsets increase".)
//
// # Recovery
//
// Open never panics on file content: bad data is cut off (and reported), other problems are
// returned as errors.
//
//   - Which segments are scanned: after a clean shutdown (marker present) only the active
//     segment; otherwise every segment from the one containing the recovery point, or all
//     segments without a readable recovery point.
//   - A scan reads each batch and checks framing (length, magic 2), header fields (record count,
//     lastOffsetDelta, codec), CRC-32C, and that offsets continue densely from the segment base,
//     and that each segment ends where the next begins. At the first bad or torn batch it
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
