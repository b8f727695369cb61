package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streams/eddy/broker/internal/records"
	"github.com/eddy-streams/eddy/broker/storage"
)

// Idempotent producers (KIP-98): every batch carries a producer id, an
// epoch and the sequence number of its first record. Per partition the
// broker remembers, for each producer, its epoch and its last five
// batches; a batch that repeats one of them is a retry and is answered
// with the original offsets without being written again; a batch whose
// sequence does not follow the last one is refused with
// OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is refused with
// INVALID_PRODUCER_EPOCH. This is what lets clients retry produce requests
// without writing duplicates.
//
// The state survives restarts: Close and every compaction pass write a
// snapshot (producer-state.json in the partition directory) with the end
// offset it covers, and opening a partition replays the batch headers
// after that offset.

// producerBatchesKept is how many recent batches per producer are kept to
// recognise retries: clients have at most five requests in flight.
const producerBatchesKept = 5

const producerStateFile = "producer-state.json"

var (
	errOutOfOrderSequence   = errors.New("out of order sequence number")
	errInvalidProducerEpoch = errors.New("producer epoch is older than the current one")
)

type producerBatch struct {
	FirstSeq    int32 `json:"first_seq"`
	LastSeq     int32 `json:"last_seq"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

type producerEntry struct {
	Epoch   int16           `json:"epoch"`
	Batches []producerBatch `json:"batches"` // oldest first
}

// producerState is one partition's idempotence state. mu is held across
// the check, the append and the update, so batches of one producer are
// checked against each other in the order they are written.
type producerState struct {
	mu        sync.Mutex
	producers map[int64]*producerEntry

	// ongoing maps a producer with an open transaction on this partition
	// to the offset of its first record in it; the last stable offset is
	// the smallest of them. aborted lists the aborted transactions, by
	// last offset, for read_committed fetches.
	ongoing map[int64]int64
	aborted []abortedTxn
}

// abortedTxn is an aborted transaction's span on a partition: from its
// first record to its abort marker.
type abortedTxn struct {
	ProducerID int64 `json:"producer_id"`
	First      int64 `json:"first"`
	Last       int64 `json:"last"`
}

// batchProducer is the idempotence part of a v2 batch header.
type batchProducer struct {
	id       int64
	epoch    int16
	firstSeq int32
	count    int32 // lastOffsetDelta + 1
}

func (h batchProducer) lastSeq() int32 {
	return int32((int64(h.firstSeq) + int64(h.count) - 1) % (math.MaxInt32 + 1))
}

// readBatchProducer reads the producer fields of the batch starting at b.
func readBatchProducer(b []byte) (batchProducer, bool) {
	if len(b) < 61 {
		return batchProducer{}, false
	}
	return batchProducer{
		id:       int64(binary.BigEndian.Uint64(b[43:])),
		epoch:    int16(binary.BigEndian.Uint16(b[51:])),
		firstSeq: int32(binary.BigEndian.Uint32(b[53:])),
		count:    int32(binary.BigEndian.Uint32(b[23:])) + 1,
	}, true
}

// append writes batch to the partition's log, applying the idempotence
// checks when the batch has a producer id. A retried batch returns the
// offsets it was first written at.
func (p *partition) append(batch []byte) (storage.AppendResult, error) {
	if info, ok := records.ReadInfo(batch); ok && info.Control {
		return storage.AppendResult{}, fmt.Errorf("%w: control batches are written by the broker, not by clients", storage.ErrInvalidBatch)
	}
	h, ok := readBatchProducer(batch)
	if !ok || h.id < 0 {
		return p.log.Append(batch)
	}
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e := ps.producers[h.id]
	if e != nil && h.epoch == e.Epoch {
		for _, pb := range e.Batches {
			if pb.FirstSeq == h.firstSeq && pb.LastSeq == h.lastSeq() {
				return storage.AppendResult{BaseOffset: pb.FirstOffset, LastOffset: pb.LastOffset}, nil
			}
		}
	}
	if err := e.check(h); err != nil {
		return storage.AppendResult{}, err
	}
	res, err := p.log.Append(batch)
	if err != nil {
		return res, err
	}
	ps.recordLocked(h, res.BaseOffset, res.LastOffset)
	if info, _ := records.ReadInfo(batch); info.Transactional {
		ps.beginTxnLocked(h.id, res.BaseOffset)
	}
	return res, nil
}

func (ps *producerState) beginTxnLocked(pid, first int64) {
	if ps.ongoing == nil {
		ps.ongoing = make(map[int64]int64)
	}
	if _, ok := ps.ongoing[pid]; !ok {
		ps.ongoing[pid] = first
	}
}

// endTxnLocked closes pid's transaction at the marker written at offset.
func (ps *producerState) endTxnLocked(pid, marker int64, epoch int16, commit bool) {
	first, ok := ps.ongoing[pid]
	delete(ps.ongoing, pid)
	if ok && !commit {
		ps.aborted = append(ps.aborted, abortedTxn{ProducerID: pid, First: first, Last: marker})
	}
	// A marker from a newer epoch (the coordinator fenced the producer)
	// moves the producer to it: batches from the old epoch are refused.
	if e := ps.producers[pid]; e != nil && epoch > e.Epoch {
		ps.producers[pid] = &producerEntry{Epoch: epoch}
	} else if e == nil {
		if ps.producers == nil {
			ps.producers = make(map[int64]*producerEntry)
		}
		ps.producers[pid] = &producerEntry{Epoch: epoch}
	}
}

// writeMarker appends a commit or abort marker for producer pid and
// returns the offset after it (to wait on for durability).
func (p *partition) writeMarker(pid int64, epoch int16, commit bool) (int64, error) {
	batch := records.AppendMarker(nil, pid, epoch, commit, 0, time.Now().UnixMilli())
	ps := &p.producers
	ps.mu.Lock()
	res, err := p.log.Append(batch)
	if err == nil {
		ps.endTxnLocked(pid, res.BaseOffset, epoch, commit)
	}
	ps.mu.Unlock()
	if err != nil {
		return 0, err
	}
	p.appended()
	return res.LastOffset + 1, nil
}

// appendTxnRecords appends records on behalf of a transactional producer
// (the group coordinator's transactional offset commits), opening its
// transaction on this partition.
func (p *partition) appendTxnRecords(pid int64, epoch int16, recs ...records.Record) (int64, error) {
	batch := records.AppendBatchWith(nil, records.BatchInfo{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, Transactional: true},
		time.Now().UnixMilli(), recs...)
	ps := &p.producers
	ps.mu.Lock()
	res, err := p.log.Append(batch)
	if err == nil {
		ps.beginTxnLocked(pid, res.BaseOffset)
	}
	ps.mu.Unlock()
	if err != nil {
		return 0, err
	}
	p.appended()
	return res.LastOffset + 1, nil
}

// lastStableOffset is the first offset of the oldest open transaction, or
// the end of the log: read_committed consumers read below it.
func (p *partition) lastStableOffset() int64 {
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	lso := p.log.EndOffset()
	for _, first := range ps.ongoing {
		lso = min(lso, first)
	}
	return lso
}

// isAborted reports whether offset of producer pid lies in an aborted
// transaction (the cleaner drops such records).
func (p *partition) isAborted(pid, offset int64) bool {
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, a := range ps.aborted {
		if a.ProducerID == pid && a.First <= offset && offset <= a.Last {
			return true
		}
	}
	return false
}

// abortedBetween returns the aborted transactions that overlap offsets
// [from, to), which a read_committed consumer must skip.
func (p *partition) abortedBetween(from, to int64) []abortedTxn {
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []abortedTxn
	for _, a := range ps.aborted {
		if a.Last >= from && a.First < to {
			out = append(out, a)
		}
	}
	return out
}

// check applies Kafka's sequence rules; a nil entry (a producer this
// partition has not seen, or whose records are gone) accepts any sequence.
func (e *producerEntry) check(h batchProducer) error {
	switch {
	case e == nil:
		return nil
	case h.epoch < e.Epoch:
		return fmt.Errorf("%w: producer %d epoch %d, current %d", errInvalidProducerEpoch, h.id, h.epoch, e.Epoch)
	case h.epoch > e.Epoch:
		if h.firstSeq != 0 {
			return fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, not 0", errOutOfOrderSequence, h.id, h.epoch, h.firstSeq)
		}
		return nil
	}
	if len(e.Batches) == 0 {
		return nil
	}
	last := e.Batches[len(e.Batches)-1].LastSeq
	want := last + 1
	if last == math.MaxInt32 {
		want = 0
	}
	if h.firstSeq != want {
		return fmt.Errorf("%w: producer %d sent sequence %d, expected %d", errOutOfOrderSequence, h.id, h.firstSeq, want)
	}
	return nil
}

func (ps *producerState) recordLocked(h batchProducer, first, last int64) {
	if ps.producers == nil {
		ps.producers = make(map[int64]*producerEntry)
	}
	e := ps.producers[h.id]
	if e == nil || h.epoch != e.Epoch {
		e = &producerEntry{Epoch: h.epoch}
		ps.producers[h.id] = e
	}
	e.Batches = append(e.Batches, producerBatch{FirstSeq: h.firstSeq, LastSeq: h.lastSeq(), FirstOffset: first, LastOffset: last})
	if len(e.Batches) > producerBatchesKept {
		e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-producerBatchesKept:]...)
	}
}

// producerErrorCode maps idempotence errors to Kafka's codes.
func producerErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, errOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber
	case errors.Is(err, errInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	}
	return nil
}

type producerSnapshot struct {
	End       int64                     `json:"end"`
	Producers map[string]*producerEntry `json:"producers"`
	Ongoing   map[string]int64          `json:"ongoing,omitempty"`
	Aborted   []abortedTxn              `json:"aborted,omitempty"`
}

// saveProducerState writes the snapshot of p's producers, covering the log
// up to its end offset. Appends may run meanwhile: every append that changes
// producer state holds ps.mu from the append to the state change, so under
// ps.mu the end offset and the state agree. Close saves one, and so does a
// compaction pass before it removes batches, because rebuilding the state
// from the log after a crash would miss the batches it removed.
func (p *partition) saveProducerState() error {
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	path := filepath.Join(p.log.Dir(), producerStateFile)
	if len(ps.producers) == 0 && len(ps.ongoing) == 0 && len(ps.aborted) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	snap := producerSnapshot{End: p.log.EndOffset(), Producers: make(map[string]*producerEntry, len(ps.producers)), Aborted: ps.aborted}
	for id, e := range ps.producers {
		snap.Producers[strconv.FormatInt(id, 10)] = e
	}
	if len(ps.ongoing) > 0 {
		snap.Ongoing = make(map[string]int64, len(ps.ongoing))
		for id, first := range ps.ongoing {
			snap.Ongoing[strconv.FormatInt(id, 10)] = first
		}
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// loadProducerState rebuilds p's producers: the snapshot if there is a
// usable one, then every batch header after the offset it covers.
func (p *partition) loadProducerState() error {
	ps := &p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.producers, ps.ongoing, ps.aborted = nil, nil, nil
	from := p.log.StartOffset()
	path := filepath.Join(p.log.Dir(), producerStateFile)
	if data, err := os.ReadFile(path); err == nil {
		var snap producerSnapshot
		switch err := json.Unmarshal(data, &snap); {
		case err != nil:
			// A snapshot is only an optimisation: rebuild from the log.
		case snap.End > p.log.EndOffset():
			// The log lost its tail after the snapshot: rebuild.
		default:
			ps.producers = make(map[int64]*producerEntry, len(snap.Producers))
			for s, e := range snap.Producers {
				if id, err := strconv.ParseInt(s, 10, 64); err == nil && e != nil {
					ps.producers[id] = e
				}
			}
			for s, first := range snap.Ongoing {
				if id, err := strconv.ParseInt(s, 10, 64); err == nil {
					ps.beginTxnLocked(id, first)
				}
			}
			start := p.log.StartOffset()
			for _, a := range snap.Aborted {
				if a.Last >= start {
					ps.aborted = append(ps.aborted, a)
				}
			}
			from = max(from, snap.End)
		}
	}
	for off := from; off < p.log.EndOffset(); {
		s, err := p.log.Read(off, 1<<20)
		if err != nil {
			return fmt.Errorf("rebuild producer state at offset %d: %w", off, err)
		}
		data, err := s.Bytes()
		s.Release()
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		for len(data) >= 61 {
			size := int(int32(binary.BigEndian.Uint32(data[8:]))) + 12
			if size < 61 || size > len(data) {
				return fmt.Errorf("rebuild producer state: bad batch at offset %d", off)
			}
			base := int64(binary.BigEndian.Uint64(data))
			info, _ := records.ReadInfo(data)
			switch h, _ := readBatchProducer(data); {
			case h.id < 0:
			case info.Control:
				if typ, ok := records.ControlType(data[:size]); ok {
					ps.endTxnLocked(h.id, base, h.epoch, typ == records.ControlCommit)
				}
			default:
				ps.recordLocked(h, base, base+int64(h.count)-1)
				if info.Transactional {
					ps.beginTxnLocked(h.id, base)
				}
			}
			off = base + int64(int32(binary.BigEndian.Uint32(data[23:]))) + 1
			data = data[size:]
		}
	}
	return nil
}
