package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Layout of a record batch, magic v2 (Kafka's DefaultRecordBatch). All fields are big-endian.
// The CRC-32C covers the bytes from attributes to the end of the batch; baseOffset,
// batchLength, partitionLeaderEpoch and magic are outside it, which is why Append may rewrite
// baseOffset without recomputing the checksum.
const (
	offBaseOffset      = 0  // int64
	offBatchLength     = 8  // int32: bytes after this field
	offMagic           = 16 // int8
	offCRC             = 17 // uint32, CRC-32C of [offAttributes, end)
	offAttributes      = 21 // int16
	offLastOffsetDelta = 23 // int32
	offFirstTimestamp  = 27 // int64
	offMaxTimestamp    = 35 // int64
	offProducerID      = 43 // int64
	offRecordsCount    = 57 // int32
	batchHeaderSize    = 61 // the records start here

	// lengthFieldEnd is where batchLength stops counting: total size = lengthFieldEnd+batchLength.
	lengthFieldEnd = offBatchLength + 4
	// minBatchLength is the smallest valid batchLength (a header and no records).
	minBatchLength = batchHeaderSize - lengthFieldEnd
	// minRecordSize is the smallest encoding of one uncompressed record: seven one-byte fields
	// (length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headers count).
	minRecordSize = 7

	// compressionMask selects the codec in attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
	compressionMask = 0x07
	// timestampTypeBit marks a batch whose timestamps are the log-append time (maxTimestamp);
	// controlBit marks a control batch (transaction markers); transactionalBit a transactional one.
	timestampTypeBit   = 0x08
	transactionalBit   = 0x10
	controlBit         = 0x20
	maxCompressionCode = 4

	magicV2 = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// noTimestamp stands for "no timestamp seen" in segment and index bookkeeping; the protocol's
// NoTimestamp is -1, which producers may legitimately send, so a value below every int64 is used.
const noTimestamp = math.MinInt64

// checkHeader checks what can be checked of the batch starting at b[0] without reading its
// records: framing, magic, record count, lastOffsetDelta and codec. avail is how many bytes the
// batch may occupy (the rest of the input or of the file); b holds at least
// min(avail, batchHeaderSize) bytes. On success it returns the batch's total size. On failure it
// returns one of the package's sentinel errors and a detail for the message.
func checkHeader(b []byte, avail int64) (size int64, kind error, detail string) {
	return checkHeaderLax(b, avail, false)
}

// checkHeaderLax is checkHeader; with lax set it accepts what the cleaner writes: a batch that
// kept its offset range (lastOffsetDelta) but lost some records, so recordsCount may be smaller
// than lastOffsetDelta+1.
func checkHeaderLax(b []byte, avail int64, lax bool) (size int64, kind error, detail string) {
	if avail < lengthFieldEnd {
		return 0, ErrCorruptBatch, fmt.Sprintf("%d bytes left, too short for a batch header", avail)
	}
	batchLen := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	// Check magic before the length: a v0/v1 message set is shorter than a v2 header, and its
	// producer deserves UNSUPPORTED_FOR_MESSAGE_FORMAT rather than CORRUPT_MESSAGE.
	if avail > offMagic && b[offMagic] != magicV2 {
		return 0, ErrUnsupportedMagic, fmt.Sprintf("magic %d", int8(b[offMagic]))
	}
	if batchLen < minBatchLength {
		return 0, ErrCorruptBatch, fmt.Sprintf("batch length %d below the minimum %d", batchLen, minBatchLength)
	}
	size = lengthFieldEnd + batchLen
	if size > avail {
		return 0, ErrCorruptBatch, fmt.Sprintf("batch length %d runs past the %d bytes left", batchLen, avail-lengthFieldEnd)
	}
	count := int32(binary.BigEndian.Uint32(b[offRecordsCount:]))
	if count <= 0 {
		return 0, ErrInvalidBatch, fmt.Sprintf("records count %d", count)
	}
	delta := int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	if int64(delta) != int64(count)-1 && !(lax && delta >= 0 && int64(delta) > int64(count)-1) {
		return 0, ErrInvalidBatch, fmt.Sprintf("lastOffsetDelta %d does not match records count %d", delta, count)
	}
	codec := binary.BigEndian.Uint16(b[offAttributes:]) & compressionMask
	if codec > maxCompressionCode {
		return 0, ErrInvalidBatch, fmt.Sprintf("unknown compression codec %d", codec)
	}
	if codec == 0 && int64(count) > (batchLen-minBatchLength)/minRecordSize {
		// Uncompressed records take at least minRecordSize bytes each; a larger count would
		// let a tiny batch claim (and burn) billions of offsets.
		return 0, ErrInvalidBatch, fmt.Sprintf("records count %d cannot fit in %d bytes of records", count, batchLen-minBatchLength)
	}
	return size, nil, ""
}

// batchCRC returns the stored and the computed CRC-32C of the whole batch b.
func batchCRC(b []byte) (stored, computed uint32) {
	return binary.BigEndian.Uint32(b[offCRC:]), crc32.Checksum(b[offAttributes:], castagnoli)
}

// ValidateBatches walks concatenated v2 record batches (a Produce request's records field) and
// checks each one's framing, magic, header fields and CRC-32C, without modifying b. It returns
// the number of batches and the sum of their record counts. Empty input is invalid. The error
// wraps ErrCorruptBatch, ErrUnsupportedMagic or ErrInvalidBatch and names the failing batch.
//
// Compressed batches are checked only as far as their header and CRC; they are not decompressed.
func ValidateBatches(b []byte) (batches, records int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: no record batches", ErrInvalidBatch)
	}
	for pos := 0; pos < len(b); {
		rest := b[pos:]
		size, kind, detail := checkHeader(rest, int64(len(rest)))
		if kind != nil {
			return batches, records, fmt.Errorf("%w: batch %d at byte %d: %s", kind, batches, pos, detail)
		}
		if stored, computed := batchCRC(rest[:size]); stored != computed {
			return batches, records, fmt.Errorf("%w: batch %d at byte %d: crc %#08x, computed %#08x",
				ErrCorruptBatch, batches, pos, stored, computed)
		}
		batches++
		records += int(int32(binary.BigEndian.Uint32(rest[offRecordsCount:])))
		pos += int(size)
	}
	return batches, records, nil
}

// batchOffsets decodes the offsets of the (already validated) batch header h.
func batchOffsets(h []byte) (base, last int64) {
	base = int64(binary.BigEndian.Uint64(h[offBaseOffset:]))
	return base, base + int64(int32(binary.BigEndian.Uint32(h[offLastOffsetDelta:])))
}
