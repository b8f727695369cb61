package broker

import (
	"bufio"
	"encoding/binary"
	"net"

	"github.com/eddy-streams/eddy/broker/storage"
)

// A fetch response is encoded by hand, not with kmsg, for one reason: its
// records must go from the segment files to the socket without passing
// through memory. The encoder writes every other field into one buffer and
// notes where each partition's records belong; the writer then alternates
// buffer writes and sendfile. fetch_encode_test.go checks that the bytes are
// exactly kmsg's FetchResponse encoding for every version served.

// fetchFrame is an encoded fetch response: buf holds everything but the
// records, which go in at the given buffer positions.
type fetchFrame struct {
	buf     []byte
	inserts []fetchInsert
}

type fetchInsert struct {
	at      int
	records storage.Slice
}

type fetchEncoder struct {
	flexible bool
	buf      []byte
}

func (e *fetchEncoder) int16(v int16) { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(v)) }
func (e *fetchEncoder) int32(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }
func (e *fetchEncoder) int64(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

func (e *fetchEncoder) arrayLen(n int) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(n)+1)
	} else {
		e.int32(int32(n))
	}
}

func (e *fetchEncoder) nullArray() {
	if e.flexible {
		e.buf = append(e.buf, 0)
	} else {
		e.int32(-1)
	}
}

func (e *fetchEncoder) string(s string) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(len(s))+1)
	} else {
		e.int16(int16(len(s)))
	}
	e.buf = append(e.buf, s...)
}

func (e *fetchEncoder) bytesLen(n int64) {
	if e.flexible {
		e.buf = binary.AppendUvarint(e.buf, uint64(n)+1)
	} else {
		e.int32(int32(n))
	}
}

func (e *fetchEncoder) noTags() {
	if e.flexible {
		e.buf = append(e.buf, 0)
	}
}

// encodeFetch encodes the response frame for op: length prefix, header and
// body, with records left to the inserts.
func encodeFetch(h requestHeader, op *fetchOp, buf []byte) fetchFrame {
	v := op.version
	e := fetchEncoder{flexible: v >= 12, buf: buf[:0]}
	var frame fetchFrame
	e.int32(0) // length, patched below
	e.buf = appendResponseHeader(e.buf, h)
	e.int32(0) // throttle
	if v >= 7 {
		e.int16(0) // top-level error
		e.int32(op.sessionID)
	}

	// Group included partitions by topic, keeping request order.
	type topicGroup struct {
		name  string
		id    topicID
		parts []*fetchPart
	}
	var groups []topicGroup
	for i := range op.parts {
		fp := &op.parts[i]
		if !fp.include {
			continue
		}
		n := len(groups)
		if n == 0 || groups[n-1].name != fp.key.topic || groups[n-1].id != fp.topicID {
			groups = append(groups, topicGroup{name: fp.key.topic, id: fp.topicID})
			n++
		}
		groups[n-1].parts = append(groups[n-1].parts, fp)
	}

	var size int64
	e.arrayLen(len(groups))
	for _, g := range groups {
		if v >= 13 {
			e.buf = append(e.buf, g.id[:]...)
		} else {
			e.string(g.name)
		}
		e.arrayLen(len(g.parts))
		for _, fp := range g.parts {
			e.int32(fp.key.partition)
			e.int16(fp.errCode)
			e.int64(fp.hw)
			e.int64(fp.lso)
			if v >= 5 {
				e.int64(fp.start)
			}
			if len(fp.aborted) == 0 {
				e.nullArray() // aborted transactions
			} else {
				e.arrayLen(len(fp.aborted))
				for _, a := range fp.aborted {
					e.int64(a.ProducerID)
					e.int64(a.First)
					e.noTags()
				}
			}
			if v >= 11 {
				e.int32(-1) // preferred read replica
			}
			e.bytesLen(fp.records.Size)
			if fp.records.Size > 0 {
				frame.inserts = append(frame.inserts, fetchInsert{at: len(e.buf), records: fp.records})
				size += fp.records.Size
			}
			e.noTags()
		}
		e.noTags()
	}
	e.noTags()
	binary.BigEndian.PutUint32(e.buf, uint32(int64(len(e.buf))+size-4))
	frame.buf = e.buf
	return frame
}

// smallRecords is the size below which records are copied through the
// buffered writer rather than sent with their own sendfile: for small
// reads one write beats two syscalls.
const smallRecords = 16 << 10

func writeFetchResponse(bw *bufio.Writer, nc net.Conn, h requestHeader, op *fetchOp) error {
	frame := encodeFetch(h, op, nil)
	pos := 0
	for _, ins := range frame.inserts {
		if _, err := bw.Write(frame.buf[pos:ins.at]); err != nil {
			return err
		}
		pos = ins.at
		if ins.records.Size <= smallRecords && ins.records.Size <= int64(bw.Available()) {
			dst := bw.AvailableBuffer()[:ins.records.Size]
			if _, err := ins.records.File.ReadAt(dst, ins.records.Pos); err != nil {
				return err
			}
			if _, err := bw.Write(dst); err != nil {
				return err
			}
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := sendSlice(nc, ins.records); err != nil {
			return err
		}
	}
	_, err := bw.Write(frame.buf[pos:])
	return err
}
