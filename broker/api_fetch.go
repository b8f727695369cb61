package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/storage"
)

// maxFetchWait caps a fetch's long poll whatever the client asks.
const maxFetchWait = 30 * time.Second

// handleFetch answers Fetch (key 1), v4-v17.
//
// On the reader goroutine it only resolves topics and updates the fetch
// session, so that session epochs advance in request order. The long poll,
// the reads and the response are the writer goroutine's: it waits until
// MinBytes are available or MaxWaitMs pass, then writes the response with
// each partition's records sent from the segment file (sendfile).
func handleFetch(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.FetchRequest)
	resp := r.resp.(*kmsg.FetchResponse)
	b := c.b

	op := &fetchOp{
		b:        b,
		version:  req.Version,
		minBytes: req.MinBytes,
		maxBytes: req.MaxBytes,
		maxWait:  min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait),
		// read_committed (KIP-98) reads only below the last stable offset
		// and is told which aborted transactions to skip.
		readCommitted: req.IsolationLevel == 1,
	}
	if op.maxBytes <= 0 {
		op.maxBytes = math.MaxInt32
	}

	var sess *fetchSession
	switch {
	case req.Version < 7 || req.SessionEpoch == finalEpoch:
		if req.Version >= 7 && req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
	case req.SessionEpoch == initialEpoch:
		if req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
		sess = b.sessions.create()
	default:
		sess = b.sessions.get(req.SessionID)
		if sess == nil {
			b.metrics.fetchSessionNotFound.Inc()
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return
		}
		sess.mu.Lock()
		ok := req.SessionEpoch == sess.epoch
		sess.mu.Unlock()
		if !ok {
			b.metrics.fetchSessionBadEpoch.Inc()
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return
		}
		op.incremental = true
	}

	// Resolve the request's partitions.
	var requested []sessionPart
	for _, rt := range req.Topics {
		name, id := rt.Topic, rt.TopicID
		if req.Version >= 13 {
			if t := b.topics.getByID(id); t != nil {
				name = t.name
			} else {
				name = ""
			}
		} else if t := b.topics.get(name); t != nil {
			id = t.id
		}
		for _, rp := range rt.Partitions {
			requested = append(requested, sessionPart{
				key:         fetchKey{topic: name, partition: rp.Partition},
				topicID:     id,
				fetchOffset: rp.FetchOffset,
				maxBytes:    rp.PartitionMaxBytes,
			})
		}
	}

	if sess == nil {
		for i := range requested {
			op.parts = append(op.parts, fetchPart{sessionPart: requested[i], sp: nil})
		}
	} else {
		sess.mu.Lock()
		for _, sp := range requested {
			sess.upsert(sp)
		}
		for _, ft := range req.ForgottenTopics {
			name := ft.Topic
			if req.Version >= 13 {
				if t := b.topics.getByID(ft.TopicID); t != nil {
					name = t.name
				}
			}
			for _, p := range ft.Partitions {
				sess.forget(fetchKey{topic: name, partition: p})
			}
		}
		sess.epoch = nextEpoch(sess.epoch)
		for _, sp := range sess.parts {
			op.parts = append(op.parts, fetchPart{sessionPart: *sp, sp: sp})
		}
		op.sess = sess
		sess.mu.Unlock()
	}
	if sess != nil {
		op.sessionID = sess.id
	}
	var lastTopic string
	var lastDenied bool
	for i := range op.parts {
		fp := &op.parts[i]
		if fp.key.topic != "" {
			if fp.key.topic != lastTopic {
				lastTopic, lastDenied = fp.key.topic, !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, fp.key.topic)
			}
			if fp.denied = lastDenied; fp.denied {
				continue
			}
			fp.p = b.topics.partition(fp.key.topic, fp.key.partition)
		}
	}
	r.resp = nil
	r.write = op.run
}

// fetchPart is one partition of a fetch and, once read, its result.
type fetchPart struct {
	sessionPart
	sp *sessionPart // the session's entry, nil without a session
	p  *partition   // nil if the topic or partition is unknown
	// denied: the principal may not READ the topic (acl.go).
	denied bool

	errCode        int16
	hw, lso, start int64
	records        storage.Slice
	aborted        []abortedTxn
	include        bool
}

// fetchOp is a fetch on its way through the writer goroutine.
type fetchOp struct {
	b             *Broker
	version       int16
	minBytes      int32
	maxBytes      int32
	maxWait       time.Duration
	incremental   bool
	readCommitted bool
	sess          *fetchSession
	sessionID     int32
	parts         []fetchPart
}

// run waits for data, reads it and writes the response.
func (op *fetchOp) run(ctx context.Context, h requestHeader, bw *bufio.Writer, nc net.Conn) error {
	op.wait(ctx)
	defer op.release()
	op.sessionBookkeeping()
	err := writeFetchResponse(bw, nc, h, op)
	if err == nil {
		op.b.metrics.fetched(op)
	}
	return err
}

// wait reads the partitions until at least minBytes are ready, an error is
// to be reported, maxWait passes or the broker stops.
func (op *fetchOp) wait(ctx context.Context) {
	deadline := time.Now().Add(op.maxWait)
	var wake chan struct{}
	var timer *time.Timer
	defer func() {
		if wake != nil {
			for i := range op.parts {
				if p := op.parts[i].p; p != nil {
					p.removeWaiter(wake)
				}
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		total, hasErr := op.read()
		if hasErr || total >= int64(op.minBytes) || !time.Now().Before(deadline) || ctx.Err() != nil {
			return
		}
		op.release()
		if wake == nil {
			// Register, then read again: an append between the first
			// read and the registration must not be missed.
			wake = make(chan struct{}, 1)
			for i := range op.parts {
				if p := op.parts[i].p; p != nil {
					p.addWaiter(wake)
				}
			}
			timer = time.NewTimer(time.Until(deadline))
			continue
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

// read fills in every partition's offsets and records within the byte
// budgets. It returns the bytes of records found and whether any
// partition has an error to report.
func (op *fetchOp) read() (total int64, hasErr bool) {
	remaining := int64(op.maxBytes)
	for i := range op.parts {
		fp := &op.parts[i]
		fp.errCode, fp.hw, fp.lso, fp.start = 0, -1, -1, -1
		fp.records = storage.Slice{}
		switch {
		case fp.denied:
			fp.errCode = kerr.TopicAuthorizationFailed.Code
		case fp.p == nil && op.version >= 13 && fp.key.topic == "":
			fp.errCode = kerr.UnknownTopicID.Code
		case fp.p == nil:
			fp.errCode = kerr.UnknownTopicOrPartition.Code
		}
		if fp.errCode != 0 {
			hasErr = true
			continue
		}
		l := fp.p.log
		fp.start = l.StartOffset()
		fp.hw = l.EndOffset()
		fp.lso = fp.p.lastStableOffset()
		fp.aborted = nil
		if fp.fetchOffset < fp.start || fp.fetchOffset > fp.hw {
			fp.errCode = kerr.OffsetOutOfRange.Code
			hasErr = true
			continue
		}
		readEnd := fp.hw
		if op.readCommitted {
			readEnd = fp.lso
		}
		if fp.fetchOffset >= readEnd || remaining <= 0 || fp.maxBytes <= 0 {
			continue
		}
		limit := min(int64(fp.maxBytes), remaining)
		s, err := l.Read(fp.fetchOffset, int(limit))
		if err != nil {
			switch {
			case errors.Is(err, storage.ErrOffsetOutOfRange):
				fp.errCode = kerr.OffsetOutOfRange.Code
			case errors.Is(err, storage.ErrClosed):
				fp.errCode = kerr.UnknownTopicOrPartition.Code
			default:
				op.b.log.Error("fetch read failed", "topic", fp.key.topic, "partition", fp.key.partition, "offset", fp.fetchOffset, "err", err)
				fp.errCode = kerr.KafkaStorageError.Code
			}
			hasErr = true
			continue
		}
		if readEnd < fp.hw {
			if s, err = trimSlice(s, readEnd); err != nil {
				op.b.log.Error("fetch read failed", "topic", fp.key.topic, "partition", fp.key.partition, "offset", fp.fetchOffset, "err", err)
				fp.errCode = kerr.KafkaStorageError.Code
				hasErr = true
				continue
			}
			if s.Size == 0 {
				continue
			}
		}
		if op.readCommitted {
			fp.aborted = fp.p.abortedBetween(fp.fetchOffset, readEnd)
		}
		// KIP-74: only the first partition with data may exceed the budget.
		if s.Size > limit && total > 0 {
			s.Release()
			continue
		}
		fp.records = s
		total += s.Size
		remaining -= s.Size
	}
	return total, hasErr
}

func (op *fetchOp) release() {
	for i := range op.parts {
		op.parts[i].records.Release()
		op.parts[i].records = storage.Slice{}
	}
}

// sessionBookkeeping decides which partitions go into the response: all of
// them in a full fetch; in an incremental one only those with records, an
// error or offsets the consumer has not yet been told.
func (op *fetchOp) sessionBookkeeping() {
	if op.sess != nil {
		op.sess.mu.Lock()
		defer op.sess.mu.Unlock()
	}
	for i := range op.parts {
		fp := &op.parts[i]
		fp.include = !op.incremental || fp.errCode != 0 || fp.records.Size > 0 ||
			fp.sp == nil || fp.hw != fp.sp.lastHW || fp.start != fp.sp.lastStart
		if fp.sp != nil && fp.include {
			fp.sp.lastHW, fp.sp.lastStart = fp.hw, fp.start
		}
	}
}

// trimSlice cuts s before the first batch at or above offset end (the
// last stable offset of a read_committed fetch), reading batch headers.
func trimSlice(s storage.Slice, end int64) (storage.Slice, error) {
	var hdr [12]byte
	for pos := s.Pos; pos < s.Pos+s.Size; {
		if _, err := s.File.ReadAt(hdr[:], pos); err != nil {
			s.Release()
			return storage.Slice{}, err
		}
		if base := int64(binary.BigEndian.Uint64(hdr[:])); base >= end {
			s.Size, s.Next = pos-s.Pos, base
			break
		}
		pos += 12 + int64(int32(binary.BigEndian.Uint32(hdr[8:])))
	}
	if s.Size == 0 {
		s.Release()
		return storage.Slice{}, nil
	}
	return s, nil
}
