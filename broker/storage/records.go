package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// This file reads the records inside a batch, which the append and fetch paths never do: the
// cleaner (keys, tombstones) and timestamp lookups need them. Compressed batches are
// decompressed here and, when the cleaner rewrites one, compressed again with the same codec.

// maxRecordsBytes bounds a decompressed records section (a zip bomb must not exhaust memory).
const maxRecordsBytes = 256 << 20

var errBadRecords = errors.New("storage: malformed records in batch")

// A record is one decoded record of a batch. Slices point into the records section.
type record struct {
	offset    int64 // absolute: batch baseOffset + offsetDelta
	timestamp int64 // absolute (for LogAppendTime batches, the batch maxTimestamp)
	key       []byte
	keyNull   bool
	valueNull bool
	raw       []byte // the whole encoded record, length prefix included
}

// batchRecordsSection returns batch's records section, decompressed if needed.
func batchRecordsSection(batch []byte) ([]byte, error) {
	data := batch[batchHeaderSize:]
	codec := binary.BigEndian.Uint16(batch[offAttributes:]) & compressionMask
	if codec == 0 {
		return data, nil
	}
	return decompress(codec, data)
}

// forEachRecord decodes the records section recs of batch (count records) and calls fn for each,
// stopping early when fn returns false.
func forEachRecord(batch, recs []byte, fn func(r record) bool) error {
	base := int64(binary.BigEndian.Uint64(batch[offBaseOffset:]))
	firstTs := int64(binary.BigEndian.Uint64(batch[offFirstTimestamp:]))
	maxTs := int64(binary.BigEndian.Uint64(batch[offMaxTimestamp:]))
	appendTime := binary.BigEndian.Uint16(batch[offAttributes:])&timestampTypeBit != 0
	count := int(int32(binary.BigEndian.Uint32(batch[offRecordsCount:])))
	for i := 0; i < count; i++ {
		start := recs
		length, n := binary.Varint(recs)
		if n <= 0 || length < 0 || int64(len(recs)-n) < length {
			return fmt.Errorf("%w: record %d length", errBadRecords, i)
		}
		body := recs[n : n+int(length)]
		rec := record{raw: start[:n+int(length)]}
		recs = recs[n+int(length):]

		if len(body) < 1 {
			return fmt.Errorf("%w: record %d is empty", errBadRecords, i)
		}
		body = body[1:] // attributes
		tsDelta, n := binary.Varint(body)
		if n <= 0 {
			return fmt.Errorf("%w: record %d timestamp", errBadRecords, i)
		}
		body = body[n:]
		offDelta, n := binary.Varint(body)
		if n <= 0 {
			return fmt.Errorf("%w: record %d offset delta", errBadRecords, i)
		}
		body = body[n:]
		klen, n := binary.Varint(body)
		if n <= 0 || klen < -1 || int64(len(body)-n) < max(klen, 0) {
			return fmt.Errorf("%w: record %d key", errBadRecords, i)
		}
		body = body[n:]
		if klen < 0 {
			rec.keyNull = true
		} else {
			rec.key = body[:klen]
			body = body[klen:]
		}
		vlen, n := binary.Varint(body)
		if n <= 0 || vlen < -1 {
			return fmt.Errorf("%w: record %d value", errBadRecords, i)
		}
		rec.valueNull = vlen < 0
		rec.offset = base + offDelta
		rec.timestamp = firstTs + tsDelta
		if appendTime {
			rec.timestamp = maxTs
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}

// CheckKeys reports an error wrapping ErrInvalidBatch if a record in the (validated) batches
// has no key: a compacted topic refuses those, as Kafka does ("Compacted topic cannot accept
// message without key"). Compressed batches are decompressed to look.
func CheckKeys(batches []byte) error {
	if _, _, err := ValidateBatches(batches); err != nil {
		return err
	}
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		size := lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
		b = b[:size]
		pos += size
		if binary.BigEndian.Uint16(b[offAttributes:])&controlBit != 0 {
			continue
		}
		recs, err := batchRecordsSection(b)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidBatch, err)
		}
		var missing bool
		if err := forEachRecord(b, recs, func(r record) bool {
			missing = r.keyNull
			return !missing
		}); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidBatch, err)
		}
		if missing {
			return fmt.Errorf("%w: compacted topic cannot accept message without key", ErrInvalidBatch)
		}
	}
	return nil
}

// rebuildBatch returns a copy of batch holding only the records in kept (raw encodings, in
// order), compressed with the batch's codec. Like Kafka's cleaner it keeps the batch's
// baseOffset, lastOffsetDelta, timestamps and producer fields, so the offsets of the remaining
// records and the batch's offset range do not change; only recordsCount, the length and the CRC do.
func rebuildBatch(batch []byte, kept [][]byte) ([]byte, error) {
	var recs []byte
	for _, r := range kept {
		recs = append(recs, r...)
	}
	codec := binary.BigEndian.Uint16(batch[offAttributes:]) & compressionMask
	if codec != 0 {
		var err error
		if recs, err = compress(codec, recs); err != nil {
			return nil, err
		}
	}
	out := make([]byte, batchHeaderSize, batchHeaderSize+len(recs))
	copy(out, batch[:batchHeaderSize])
	out = append(out, recs...)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(len(out)-lengthFieldEnd))
	binary.BigEndian.PutUint32(out[offRecordsCount:], uint32(len(kept)))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out, nil
}

// xerialMagic starts snappy data framed the way the Java client's SnappyOutputStream writes it.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

func decompress(codec uint16, data []byte) ([]byte, error) {
	switch codec {
	case 1: // gzip
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", errBadRecords, err)
		}
		return readAllLimited(r, "gzip")
	case 2: // snappy, raw or xerial-framed
		if len(data) >= 16 && bytes.HasPrefix(data, xerialMagic) {
			var out []byte
			for p := data[16:]; len(p) > 0; {
				if len(p) < 4 {
					return nil, fmt.Errorf("%w: snappy: torn xerial block", errBadRecords)
				}
				n := int(binary.BigEndian.Uint32(p))
				if n < 0 || n > len(p)-4 {
					return nil, fmt.Errorf("%w: snappy: xerial block of %d bytes", errBadRecords, n)
				}
				dl, err := s2.DecodedLen(p[4 : 4+n])
				if err != nil || len(out)+dl > maxRecordsBytes {
					return nil, fmt.Errorf("%w: snappy: %v", errBadRecords, err)
				}
				d, err := s2.Decode(nil, p[4:4+n])
				if err != nil {
					return nil, fmt.Errorf("%w: snappy: %v", errBadRecords, err)
				}
				out = append(out, d...)
				p = p[4+n:]
			}
			return out, nil
		}
		dl, err := s2.DecodedLen(data)
		if err != nil || dl > maxRecordsBytes {
			return nil, fmt.Errorf("%w: snappy: %v (length %d)", errBadRecords, err, dl)
		}
		out, err := s2.Decode(nil, data)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", errBadRecords, err)
		}
		return out, nil
	case 3: // lz4 frame
		return readAllLimited(lz4.NewReader(bytes.NewReader(data)), "lz4")
	case 4: // zstd
		zstdDecOnce.Do(func() {
			zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxRecordsBytes))
		})
		out, err := zstdDec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", errBadRecords, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: compression codec %d", errBadRecords, codec)
}

func readAllLimited(r io.Reader, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxRecordsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadRecords, name, err)
	}
	if len(out) > maxRecordsBytes {
		return nil, fmt.Errorf("%w: %s: more than %d bytes decompressed", errBadRecords, name, maxRecordsBytes)
	}
	return out, nil
}

// compress encodes data with codec the way Kafka's clients do (snappy as a raw block, which
// every client reads; lz4 as a frame).
func compress(codec uint16, data []byte) ([]byte, error) {
	switch codec {
	case 1:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case 2:
		return s2.EncodeSnappy(nil, data), nil
	case 3:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case 4:
		zstdEncOnce.Do(func() {
			zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		})
		return zstdEnc.EncodeAll(data, nil), nil
	}
	return nil, fmt.Errorf("storage: compression codec %d", codec)
}
