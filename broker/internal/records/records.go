// Package records builds and reads Kafka v2 record batches for the broker's
// own internal topics (committed offsets, group metadata). Only
// uncompressed batches are built or decoded here: the broker writes its
// internal topics itself and never compresses them.
package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record is one key/value record; a nil Value is a tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const headerSize = 61

// AppendBatch appends one uncompressed v2 batch holding recs, with base
// offset 0 (the log assigns offsets) and every record stamped ts (Unix
// milliseconds).
func AppendBatch(dst []byte, ts int64, recs ...Record) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, 0) // base offset
	dst = binary.BigEndian.AppendUint32(dst, 0) // length, patched
	dst = binary.BigEndian.AppendUint32(dst, 0) // partition leader epoch
	dst = append(dst, 2)                        // magic
	dst = binary.BigEndian.AppendUint32(dst, 0) // crc, patched
	crcFrom := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, 0) // attributes: no compression, create time
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(recs)-1))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, ^uint64(0)) // producer id -1
	dst = binary.BigEndian.AppendUint16(dst, ^uint16(0)) // producer epoch -1
	dst = binary.BigEndian.AppendUint32(dst, ^uint32(0)) // base sequence -1
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(recs)))
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = appendVarBytes(body, r.Key, r.Key == nil)
		body = appendVarBytes(body, r.Value, r.Value == nil)
		body = binary.AppendVarint(body, 0) // headers
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	binary.BigEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
	binary.BigEndian.PutUint32(dst[start+17:], crc32.Checksum(dst[crcFrom:], castagnoli))
	return dst
}

func appendVarBytes(dst, b []byte, null bool) []byte {
	if null {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// ErrCompressed is returned for compressed batches, which this package
// does not read.
var ErrCompressed = errors.New("records: compressed batch")

// Each calls fn for every record of the concatenated batches in b, with the
// record's offset. Control batches (transaction markers) are skipped.
func Each(b []byte, fn func(offset int64, r Record) error) error {
	for len(b) > 0 {
		if len(b) < headerSize {
			return fmt.Errorf("records: %d bytes left, less than a batch header", len(b))
		}
		size := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if size < headerSize || size > len(b) {
			return fmt.Errorf("records: bad batch length %d", size-12)
		}
		batch := b[:size]
		b = b[size:]
		base := int64(binary.BigEndian.Uint64(batch))
		attrs := binary.BigEndian.Uint16(batch[21:])
		if attrs&0x20 != 0 { // control batch
			continue
		}
		if attrs&0x7 != 0 {
			return ErrCompressed
		}
		n := int(int32(binary.BigEndian.Uint32(batch[57:])))
		rest := batch[headerSize:]
		for range n {
			length, used := binary.Varint(rest)
			if used <= 0 || length < 0 || int64(len(rest)-used) < length {
				return errors.New("records: bad record length")
			}
			rec := rest[used : used+int(length)]
			rest = rest[used+int(length):]
			r, delta, err := parseRecord(rec)
			if err != nil {
				return err
			}
			if err := fn(base+delta, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseRecord(b []byte) (Record, int64, error) {
	var r Record
	if len(b) < 1 {
		return r, 0, errors.New("records: empty record")
	}
	b = b[1:]                   // attributes
	_, used := binary.Varint(b) // timestamp delta
	if used <= 0 {
		return r, 0, errors.New("records: bad timestamp delta")
	}
	b = b[used:]
	delta, used := binary.Varint(b)
	if used <= 0 {
		return r, 0, errors.New("records: bad offset delta")
	}
	b = b[used:]
	var err error
	if r.Key, b, err = varBytes(b); err != nil {
		return r, 0, err
	}
	if r.Value, _, err = varBytes(b); err != nil {
		return r, 0, err
	}
	return r, delta, nil
}

func varBytes(b []byte) ([]byte, []byte, error) {
	n, used := binary.Varint(b)
	if used <= 0 || n < -1 || n > int64(len(b)-used) {
		return nil, nil, errors.New("records: bad field length")
	}
	b = b[used:]
	if n < 0 {
		return nil, b, nil
	}
	return b[:n:n], b[n:], nil
}
