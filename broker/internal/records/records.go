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
// offset 0 (the log assigns offsets), no producer, and every record
// stamped ts (Unix milliseconds).
func AppendBatch(dst []byte, ts int64, recs ...Record) []byte {
	return AppendBatchWith(dst, BatchInfo{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, ts, recs...)
}

// BatchInfo is what a batch header says about its producer and kind.
type BatchInfo struct {
	BaseOffset    int64
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
	Control       bool
}

const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// AppendBatchWith appends one uncompressed v2 batch with the producer
// fields and flags of info (BaseOffset is ignored: the log assigns it).
func AppendBatchWith(dst []byte, info BatchInfo, ts int64, recs ...Record) []byte {
	start := len(dst)
	var attrs uint16
	if info.Transactional {
		attrs |= attrTransactional
	}
	if info.Control {
		attrs |= attrControl
	}
	dst = binary.BigEndian.AppendUint64(dst, 0) // base offset
	dst = binary.BigEndian.AppendUint32(dst, 0) // length, patched
	dst = binary.BigEndian.AppendUint32(dst, 0) // partition leader epoch
	dst = append(dst, 2)                        // magic
	dst = binary.BigEndian.AppendUint32(dst, 0) // crc, patched
	crcFrom := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, attrs) // no compression, create time
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(recs)-1))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(info.ProducerID))
	dst = binary.BigEndian.AppendUint16(dst, uint16(info.ProducerEpoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(info.BaseSequence))
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

// Control record types (the key of a control batch's record).
const (
	ControlAbort  = 0
	ControlCommit = 1
)

// AppendMarker appends a transaction marker: a control batch from the
// producer with one record whose key says commit or abort.
func AppendMarker(dst []byte, producerID int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := uint16(ControlAbort)
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	return AppendBatchWith(dst, BatchInfo{ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1, Transactional: true, Control: true},
		ts, Record{Key: key, Value: value})
}

// ReadInfo reads the header fields of the batch at the start of b.
func ReadInfo(b []byte) (BatchInfo, bool) {
	if len(b) < headerSize {
		return BatchInfo{}, false
	}
	attrs := binary.BigEndian.Uint16(b[21:])
	return BatchInfo{
		BaseOffset:    int64(binary.BigEndian.Uint64(b)),
		ProducerID:    int64(binary.BigEndian.Uint64(b[43:])),
		ProducerEpoch: int16(binary.BigEndian.Uint16(b[51:])),
		BaseSequence:  int32(binary.BigEndian.Uint32(b[53:])),
		Transactional: attrs&attrTransactional != 0,
		Control:       attrs&attrControl != 0,
	}, true
}

// ControlType returns the marker type (ControlCommit or ControlAbort) of a
// control batch at the start of b, reading its first record's key.
func ControlType(b []byte) (int, bool) {
	if len(b) < headerSize+1 {
		return 0, false
	}
	rest := b[headerSize:]
	_, used := binary.Varint(rest) // record length
	if used <= 0 {
		return 0, false
	}
	rest = rest[used:]
	if len(rest) < 1 {
		return 0, false
	}
	rest = rest[1:] // attributes
	for range 2 {   // timestamp delta, offset delta
		_, used = binary.Varint(rest)
		if used <= 0 {
			return 0, false
		}
		rest = rest[used:]
	}
	key, _, err := varBytes(rest)
	if err != nil || len(key) < 4 {
		return 0, false
	}
	return int(binary.BigEndian.Uint16(key[2:])), true
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
	return EachBatch(b, func(info BatchInfo, batch []byte) error {
		if info.Control {
			return nil
		}
		return Records(batch, fn)
	})
}

// EachBatch calls fn with the header and bytes of every batch in b.
func EachBatch(b []byte, fn func(info BatchInfo, batch []byte) error) error {
	for len(b) > 0 {
		if len(b) < headerSize {
			return fmt.Errorf("records: %d bytes left, less than a batch header", len(b))
		}
		size := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if size < headerSize || size > len(b) {
			return fmt.Errorf("records: bad batch length %d", size-12)
		}
		info, _ := ReadInfo(b)
		if err := fn(info, b[:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

// Records calls fn for every record of one uncompressed batch.
func Records(batch []byte, fn func(offset int64, r Record) error) error {
	if len(batch) < headerSize {
		return errors.New("records: short batch")
	}
	base := int64(binary.BigEndian.Uint64(batch))
	if binary.BigEndian.Uint16(batch[21:])&0x7 != 0 {
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
