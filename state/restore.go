package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// RestoreProgress is what a Restorer reports while it works and once at the
// end (Done).
type RestoreProgress struct {
	Topic     string
	Partition int32
	// StartOffset is the first offset read; EndOffset is the partition's
	// end when restoration began (the high watermark, or the last stable
	// offset when the client reads read_committed): the restorer stops
	// there.
	StartOffset, EndOffset int64
	// Offset is the last offset applied so far, or StartOffset-1.
	Offset int64
	// Records and Bytes (keys plus values) applied so far.
	Records, Bytes int64
	Elapsed        time.Duration
	RecordsPerSec  float64
	BytesPerSec    float64
	// ETA estimates the time left, from the offsets left and the rate so
	// far; 0 when unknown or done.
	ETA  time.Duration
	Done bool
}

// Restorer rebuilds a store from its changelog topic partition: it reads
// from a given offset to the partition's end, as it was when restoration
// began, and applies the records to a Backend in large batches (a record
// with a nil value deletes its key). A batch is written in key order with
// only the last record of each key: the store ends the same as if every
// record were applied in order, and since a batch is written atomically no
// reader sees the difference.
//
// The changelog is read at the isolation level of the client's
// configuration (Consumer.IsolationLevel). Read committed (as
// NewRestoreConfig sets), the end is the partition's last stable offset and
// records of aborted transactions are skipped; read uncommitted (sarama's
// default), the end is the high watermark and records of aborted
// transactions are applied like any other. Either way, transaction markers
// (control records, which consumers never see) are skipped: when nothing
// arrives for a short while, the restorer asks the partition's leader what
// lies between the last offset applied and the end, and if that is only
// records the consumer does not deliver (markers, and aborted records when
// reading read committed), restoration is complete.
type Restorer struct {
	// Client connects to the brokers; the Restorer does not close it.
	Client    sarama.Client
	Topic     string
	Partition int32
	// BatchBytes is how many bytes of keys and values are read from the
	// changelog before they are written to the store in one batch. Zero
	// means 16 MiB. While one batch is written the next one fills, so a
	// restoration holds about twice this in memory. Within a batch only the
	// last record of each key is written.
	BatchBytes int
	// Progress, if set, is called every ProgressEvery (zero means one
	// second) and once at the end.
	Progress      func(RestoreProgress)
	ProgressEvery time.Duration
	// Logger gets the same progress at Info level; nil means slog.Default.
	Logger *slog.Logger
	// IdleTimeout ends restoration with ErrRestoreStalled when no record
	// arrives for that long before the end offset is reached while the
	// partition still holds records to deliver before it (a broker that
	// stopped answering, say). Zero means 30s. Offsets the consumer never
	// delivers (transaction markers, aborted records read committed) do
	// not end this way: see Restorer.
	IdleTimeout time.Duration
}

// ErrRestoreStalled is returned when the changelog stops delivering records
// before the end offset (see Restorer.IdleTimeout).
var ErrRestoreStalled = errors.New("state: restoration stalled before the end of the changelog")

// Restore applies the changelog records after offset after (use -1 for the
// whole changelog) to dst and returns the last offset applied (after, if
// there was nothing to apply). Restore writes to dst directly: give it the
// backend below any Logged or Cache layer, so that replayed records are not
// logged again.
func (r *Restorer) Restore(ctx context.Context, dst Backend, after int64) (int64, error) {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	batchBytes := r.BatchBytes
	if batchBytes <= 0 {
		batchBytes = defaultRestoreBatchBytes
	}
	every := r.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	idleTimeout := r.IdleTimeout
	if idleTimeout <= 0 {
		idleTimeout = 30 * time.Second
	}
	oldest, err := r.Client.GetOffset(r.Topic, r.Partition, sarama.OffsetOldest)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: oldest offset: %w", r.Topic, r.Partition, err)
	}
	end, err := r.endOffset()
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: end offset: %w", r.Topic, r.Partition, err)
	}
	start := after + 1
	if start < oldest {
		if after >= 0 {
			log.Warn("state: changelog starts after the checkpoint; records in between were deleted by retention",
				"topic", r.Topic, "partition", r.Partition, "checkpoint", after, "oldest", oldest)
		}
		start = oldest
	}
	p := RestoreProgress{Topic: r.Topic, Partition: r.Partition, StartOffset: start, EndOffset: end, Offset: start - 1}
	began := time.Now()
	report := func(done bool) {
		p.Elapsed = time.Since(began)
		p.Done = done
		if s := p.Elapsed.Seconds(); s > 0 {
			p.RecordsPerSec = float64(p.Records) / s
			p.BytesPerSec = float64(p.Bytes) / s
		}
		p.ETA = 0
		if done := p.Offset - start + 1; !p.Done && done > 0 {
			left := end - 1 - p.Offset
			p.ETA = time.Duration(float64(p.Elapsed) * float64(left) / float64(done))
		}
		if r.Progress != nil {
			r.Progress(p)
		}
		msg := "state: restoring"
		if p.Done {
			msg = "state: restored"
		}
		log.Info(msg, "topic", r.Topic, "partition", r.Partition, "offset", p.Offset, "end", end,
			"records", p.Records, "bytes", p.Bytes, "records_per_sec", int64(p.RecordsPerSec),
			"mb_per_sec", fmt.Sprintf("%.1f", p.BytesPerSec/1e6), "eta", p.ETA.Round(time.Second))
	}
	if start >= end {
		report(true)
		return after, nil
	}

	consumer, err := sarama.NewConsumerFromClient(r.Client)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: %w", r.Topic, r.Partition, err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(r.Topic, r.Partition, start)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d from %d: %w", r.Topic, r.Partition, start, err)
	}
	defer pc.Close()

	// Records are gathered here and written by a second goroutine, so that
	// reading the changelog and writing the store overlap. Two windows
	// take turns: while one is written the next one fills.
	free := make(chan *restoreWindow, 2)
	free <- newRestoreWindow()
	free <- newRestoreWindow()
	full := make(chan *restoreWindow)
	writeErr := make(chan error, 1)
	var last int64 = after // written by the writer goroutine until it is done
	go func() {
		defer close(writeErr)
		batch := dst.NewBatch()
		for w := range full {
			w.fill(batch)
			err := dst.Write(batch)
			batch.Reset()
			if err != nil {
				writeErr <- fmt.Errorf("state: restore %s/%d: write: %w", r.Topic, r.Partition, err)
				for range full {
				}
				return
			}
			last = w.last
			w.reset()
			free <- w
		}
	}()
	win := <-free
	// finish hands over the last window, waits for the writer and returns
	// its error.
	finish := func() error {
		if win != nil && len(win.ops) > 0 {
			win.last = p.Offset
			full <- win
		}
		win = nil
		close(full)
		return <-writeErr
	}
	msgs := pc.Messages()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	// When nothing arrives for probeAfter, the rest of the partition may
	// be only offsets the consumer skips (transaction markers): probe asks
	// the leader. This is only when to look, not a condition of
	// correctness; a probe that finds records to come waits for them
	// (up to IdleTimeout), and looks again later.
	probeAfter := max(r.Client.Config().Consumer.MaxWaitTime, 100*time.Millisecond)
	probeTimer := time.NewTimer(probeAfter)
	defer probeTimer.Stop()
	nextProbe := probeAfter
loop:
	for p.Offset < end-1 {
		select {
		case <-ctx.Done():
			err := finish()
			return last, errors.Join(ctx.Err(), err)
		case err := <-pc.Errors():
			werr := finish()
			return last, errors.Join(fmt.Errorf("state: restore %s/%d: %w", r.Topic, r.Partition, err), werr)
		case <-ticker.C:
			report(false)
		case <-idle.C:
			err := finish()
			return last, errors.Join(fmt.Errorf("%w: %s/%d at offset %d of %d", ErrRestoreStalled, r.Topic, r.Partition, p.Offset, end), err)
		case <-probeTimer.C:
			rest, err := r.onlySkippedBefore(p.Offset+1, end)
			if err != nil {
				log.Debug("state: restore: cannot look at the rest of the changelog; waiting for records",
					"topic", r.Topic, "partition", r.Partition, "offset", p.Offset+1, "end", end, "err", err)
			}
			if rest {
				// Everything before the end is markers or aborted
				// records the consumer will never deliver.
				p.Offset = end - 1
				break loop
			}
			nextProbe = min(2*nextProbe, max(probeAfter, 2*time.Second))
			probeTimer.Reset(nextProbe)
		case m := <-msgs:
			idle.Reset(idleTimeout)
			nextProbe = probeAfter
			probeTimer.Reset(probeAfter)
			// Take what the consumer has already buffered without going
			// back through the select: one message at a time, the select
			// over five channels would cost more than applying it. Only
			// this goroutine receives, so len(msgs) messages are there.
			for n := len(msgs); ; n-- {
				if m.Offset >= end {
					// Records appended after restoration began are the
					// owner's business; stop at the end we measured.
					p.Offset = end - 1
					break
				}
				win.add(m.Key, m.Value)
				p.Records++
				p.Bytes += int64(len(m.Key) + len(m.Value))
				p.Offset = m.Offset
				if win.size >= batchBytes {
					win.last = p.Offset
					select {
					case full <- win:
						win = <-free
					case err := <-writeErr:
						win = nil
						close(full)
						return last, err
					}
				}
				if n <= 0 || p.Offset >= end-1 {
					break
				}
				m = <-msgs
			}
		}
	}
	if err := finish(); err != nil {
		return last, err
	}
	report(true)
	return p.Offset, nil
}

// endOffset returns where restoration stops: the high watermark, or the
// last stable offset when the client reads read committed (records after it
// may still be aborted).
func (r *Restorer) endOffset() (int64, error) {
	conf := r.Client.Config()
	if conf.Consumer.IsolationLevel != sarama.ReadCommitted || !conf.Version.IsAtLeast(sarama.V0_11_0_0) {
		return r.Client.GetOffset(r.Topic, r.Partition, sarama.OffsetNewest)
	}
	// Client.GetOffset asks read uncommitted.
	leader, err := r.Client.Leader(r.Topic, r.Partition)
	if err != nil {
		return -1, err
	}
	req := sarama.NewOffsetRequest(conf.Version)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(r.Topic, r.Partition, sarama.OffsetNewest, 1)
	resp, err := leader.GetAvailableOffsets(req)
	if err != nil {
		return -1, err
	}
	b := resp.GetBlock(r.Topic, r.Partition)
	if b == nil {
		return -1, sarama.ErrIncompleteResponse
	}
	if !errors.Is(b.Err, sarama.ErrNoError) {
		return -1, b.Err
	}
	if len(b.Offsets) != 1 {
		return -1, sarama.ErrOffsetOutOfRange
	}
	return b.Offsets[0], nil
}

// probeFetchBytes bounds one probe's fetch; a probe fetches again from
// where the previous fetch's batches ended.
const probeFetchBytes = 1 << 20

// onlySkippedBefore reports whether offsets from to end-1 hold nothing the
// restorer's consumer would deliver: only transaction markers (control
// batches), batches emptied by compaction, and, when the client reads read
// committed, records of aborted transactions (found as sarama's consumer
// finds them, from the fetch response's aborted transactions). It fetches
// from the partition's leader. false with a nil error means there is a
// record to come, or that it could not tell.
func (r *Restorer) onlySkippedBefore(from, end int64) (bool, error) {
	conf := r.Client.Config()
	if !conf.Version.IsAtLeast(sarama.V0_11_0_0) {
		return false, nil // no record batches, so no markers
	}
	readCommitted := conf.Consumer.IsolationLevel == sarama.ReadCommitted
	for from < end {
		leader, err := r.Client.Leader(r.Topic, r.Partition)
		if err != nil {
			return false, err
		}
		req := &sarama.FetchRequest{Version: fetchVersion(conf.Version), MinBytes: 1, MaxWaitTime: 0,
			MaxBytes: probeFetchBytes, Isolation: conf.Consumer.IsolationLevel}
		if req.Version >= 7 {
			req.SessionID, req.SessionEpoch = 0, -1 // no fetch session
		}
		req.AddBlock(r.Topic, r.Partition, from, probeFetchBytes, -1)
		resp, err := leader.Fetch(req)
		if err != nil {
			return false, err
		}
		b := resp.GetBlock(r.Topic, r.Partition)
		if b == nil {
			return false, sarama.ErrIncompleteResponse
		}
		if !errors.Is(b.Err, sarama.ErrNoError) {
			return false, b.Err
		}
		aborts := slices.Clone(b.AbortedTransactions)
		slices.SortFunc(aborts, func(x, y *sarama.AbortedTransaction) int { return cmp.Compare(x.FirstOffset, y.FirstOffset) })
		aborted := map[int64]bool{}
		was := from
	batches:
		for _, rs := range b.RecordsSet {
			if rs == nil {
				continue
			}
			if rs.MsgSet != nil {
				// Legacy messages carry no transactions: they are
				// delivered (or it cannot tell).
				for _, m := range rs.MsgSet.Messages {
					if m.Offset >= from && m.Offset < end {
						return false, nil
					}
				}
				break batches
			}
			rb := rs.RecordBatch
			if rb == nil {
				continue
			}
			if rb.FirstOffset >= end {
				return true, nil
			}
			if rb.PartialTrailingRecord {
				break // fetch again from here
			}
			lastOff := rb.LastOffset()
			for len(aborts) > 0 && aborts[0].FirstOffset <= lastOff {
				aborted[aborts[0].ProducerID] = true
				aborts = aborts[1:]
			}
			if lastOff < from {
				continue
			}
			switch {
			case rb.Control:
				if len(rb.Records) > 0 && isAbortMarker(rb.Records[0].Key) {
					delete(aborted, rb.ProducerID)
				}
			case readCommitted && rb.IsTransactional && aborted[rb.ProducerID]:
			default:
				for _, rec := range rb.Records {
					if off := rb.FirstOffset + rec.OffsetDelta; off >= from && off < end {
						return false, nil
					}
				}
			}
			from = lastOff + 1
		}
		if from == was {
			return false, nil // nothing learnt: no batch, or a partial one
		}
	}
	return true, nil
}

// isAbortMarker reports whether a control record's key (version, type, both
// int16) says abort (type 0) rather than commit (1).
func isAbortMarker(key []byte) bool {
	return len(key) >= 4 && binary.BigEndian.Uint16(key[2:4]) == 0
}

// fetchVersion is the Fetch request version sarama's consumer uses for a
// configuration's Kafka version, from 0.11 (version 4: record batches and
// the isolation level) up.
func fetchVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		return 12
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 11
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 8
	case v.IsAtLeast(sarama.V1_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 6
	default:
		return 5
	}
}

// NewRestoreConfig returns a sarama configuration suited to a Restorer's
// client: large fetches and a deep channel buffer, since restoration reads
// one partition from one offset to its end as fast as it can, and read
// committed, so that a transactional changelog's aborted records are not
// restored (for a changelog written without transactions this changes
// nothing).
func NewRestoreConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Fetch.Default = 16 << 20
	c.Consumer.Fetch.Max = 64 << 20
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.ChannelBufferSize = 8192
	c.Consumer.Return.Errors = true
	return c
}

// defaultRestoreBatchBytes is Restorer.BatchBytes's default. Larger windows
// catch more repeated keys, and LevelDB writes a batch larger than its
// write buffer straight into tables, without its journal.
const defaultRestoreBatchBytes = 16 << 20

// restoreWindow gathers a run of changelog records for one batch. The
// writer sorts it by key and keeps only the last operation on each key: the
// store ends as if every record had been applied in order, LevelDB has less
// to write and compact when keys repeat (as they do in the uncompacted tail
// of a changelog), and its memtable takes keys in order, which costs it
// fewer comparisons than random ones.
type restoreWindow struct {
	buf  []byte // keys and values, back to back
	ops  []windowOp
	size int   // bytes of keys and values added
	last int64 // offset of the last record added
}

type windowOp struct {
	// pre is 8 bytes of the key after the prefix every key of the window
	// shares, big-endian and zero-padded, so that most comparisons of the
	// sort are one integer comparison.
	pre              uint64
	kOff, kLen, vLen int32
	del              bool // a tombstone: delete the key
}

func newRestoreWindow() *restoreWindow {
	// The buffers grow as records come (a tail restoration after a
	// checkpoint may be a handful) and are reused from window to window.
	return &restoreWindow{}
}

// add records a put, or a delete when value is nil.
func (w *restoreWindow) add(key, value []byte) {
	w.ops = append(w.ops, windowOp{kOff: int32(len(w.buf)), kLen: int32(len(key)), vLen: int32(len(value)), del: value == nil})
	w.buf = append(w.buf, key...)
	w.buf = append(w.buf, value...)
	w.size += len(key) + len(value)
}

func (w *restoreWindow) key(op windowOp) []byte { return w.buf[op.kOff : op.kOff+op.kLen] }

// fill sorts the window by key and puts the last operation on each key
// into b.
func (w *restoreWindow) fill(b Batch) {
	if len(w.ops) == 0 {
		return
	}
	// The prefix every key shares says nothing about their order.
	first := w.key(w.ops[0])
	shared := len(first)
	for _, op := range w.ops[1:] {
		k := w.key(op)
		shared = min(shared, len(k))
		for i := range shared {
			if k[i] != first[i] {
				shared = i
				break
			}
		}
	}
	for i := range w.ops {
		var pre [8]byte
		copy(pre[:], w.key(w.ops[i])[shared:])
		w.ops[i].pre = binary.BigEndian.Uint64(pre[:])
	}
	// Zero-padded prefixes that differ order as the keys do; equal ones
	// need the whole keys. Operations on one key keep their changelog
	// order: kOff grows with it.
	slices.SortFunc(w.ops, func(x, y windowOp) int {
		if x.pre != y.pre {
			return cmp.Compare(x.pre, y.pre)
		}
		if c := bytes.Compare(w.key(x)[shared:], w.key(y)[shared:]); c != 0 {
			return c
		}
		return cmp.Compare(x.kOff, y.kOff)
	})
	for i, op := range w.ops {
		k := w.key(op)
		if i+1 < len(w.ops) {
			if next := w.ops[i+1]; next.pre == op.pre && bytes.Equal(w.key(next), k) {
				continue // superseded
			}
		}
		if op.del {
			b.Delete(k)
			continue
		}
		v := op.kOff + op.kLen
		b.Put(k, w.buf[v:v+op.vLen])
	}
}

func (w *restoreWindow) reset() {
	w.buf, w.ops, w.size = w.buf[:0], w.ops[:0], 0
}
