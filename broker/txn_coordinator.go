package broker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/internal/records"
)

// This file is the transaction coordinator (KIP-98). A transactional id
// maps to a producer id and epoch and to the transaction in progress: the
// partitions it wrote to and the groups it committed offsets for. Ending a
// transaction is two-phase, and each step is recorded in
// __transaction_state before the next begins:
//
//	Ongoing ──EndTxn──▶ PrepareCommit|PrepareAbort ──markers written──▶ CompleteCommit|CompleteAbort
//
// so that after a crash a transaction in a Prepare state is completed the
// way it was decided, and an Ongoing one is aborted when it times out. The
// markers are control batches written to every partition of the
// transaction; they close it there, moving the partition's last stable
// offset, and an abort marker adds it to the partition's aborted list
// that read_committed fetches return.

const (
	txnStateTopic             = "__transaction_state"
	defaultTxnStatePartitions = 50
	defaultTxnMaxTimeout      = 15 * time.Minute // transaction.max.timeout.ms
	txnAbortCheckInterval     = time.Second
)

// txnMeta is one transactional id's state; mu guards it and serialises the
// operations on it (EndTxn's marker writes included).
type txnMeta struct {
	id string

	mu         sync.Mutex
	producerID int64
	epoch      int16
	timeout    time.Duration
	state      kmsg.TransactionState
	partitions map[topicPartition]bool
	groups     map[string]bool
	// offsetParts are __consumer_offsets partitions of the transaction
	// known only by index: restored from __transaction_state, which
	// records partitions, not group names.
	offsetParts map[int32]bool
	started     time.Time
	updated     time.Time
}

type txnCoordinator struct {
	b   *Broker
	log *slog.Logger

	// mu guards txns.
	mu   sync.Mutex
	txns map[string]*txnMeta
}

func newTxnCoordinator(b *Broker) *txnCoordinator {
	return &txnCoordinator{b: b, log: b.log, txns: make(map[string]*txnMeta)}
}

func (tc *txnCoordinator) get(id string) *txnMeta {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.txns[id]
}

func (tc *txnCoordinator) getOrCreate(id string) (*txnMeta, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tm := tc.txns[id]; tm != nil {
		return tm, false
	}
	tm := &txnMeta{id: id, producerID: -1, epoch: -1, state: kmsg.TransactionStateEmpty,
		partitions: map[topicPartition]bool{}, groups: map[string]bool{}, offsetParts: map[int32]bool{}}
	tc.txns[id] = tm
	return tm, true
}

func (tc *txnCoordinator) all() []*txnMeta {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make([]*txnMeta, 0, len(tc.txns))
	for _, tm := range tc.txns {
		out = append(out, tm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// statePartition returns the partition of __transaction_state for id,
// creating the topic on first use.
func (tc *txnCoordinator) statePartition(id string) (*partition, error) {
	n := tc.b.cfg.OffsetsTopicPartitions
	return tc.b.internalPartition(txnStateTopic, n, (javaStringHash(id)&0x7fffffff)%n)
}

// persistLocked records tm in __transaction_state and waits until it is
// durable. REQUIRES: tm.mu.
func (tc *txnCoordinator) persistLocked(ctx context.Context, tm *txnMeta) error {
	p, err := tc.statePartition(tm.id)
	if err != nil {
		return err
	}
	tm.updated = time.Now()
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID, v.ProducerEpoch = tm.producerID, tm.epoch
	v.TimeoutMillis = int32(tm.timeout / time.Millisecond)
	v.State = tm.state
	v.LastUpdateTimestamp = tm.updated.UnixMilli()
	v.StartTimestamp = -1
	if !tm.started.IsZero() {
		v.StartTimestamp = tm.started.UnixMilli()
	}
	byTopic := map[string][]int32{}
	for tp := range tm.partitions {
		byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
	}
	for idx := range tc.offsetPartsLocked(tm) {
		// Kafka records the groups' __consumer_offsets partitions; so do we.
		byTopic[offsetsTopic] = append(byTopic[offsetsTopic], idx)
	}
	for t, ps := range byTopic {
		v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: t, Partitions: ps})
	}
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: tm.id}
	batch := records.AppendBatch(nil, tm.updated.UnixMilli(), records.Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil)})
	res, err := p.log.Append(batch)
	if err != nil {
		return fmt.Errorf("record transaction %q: %w", tm.id, err)
	}
	p.appended()
	return p.log.SyncTo(ctx, res.LastOffset+1)
}

// checkProducerLocked validates a request's producer id and epoch against
// tm. REQUIRES: tm.mu.
func checkProducerLocked(tm *txnMeta, pid int64, epoch int16) *kerr.Error {
	switch {
	case tm == nil || tm.producerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch < tm.epoch:
		return kerr.ProducerFenced
	case epoch > tm.epoch:
		return kerr.InvalidProducerEpoch
	case tm.state == kmsg.TransactionStatePrepareCommit || tm.state == kmsg.TransactionStatePrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// initProducer handles InitProducerId for a transactional id: a transaction
// left open by an earlier incarnation is aborted, and the epoch is bumped
// so that incarnation is fenced.
func (tc *txnCoordinator) initProducer(ctx context.Context, id string, timeout time.Duration) (int64, int16, *kerr.Error) {
	if timeout <= 0 || timeout > defaultTxnMaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	tm, _ := tc.getOrCreate(id)
	tm.mu.Lock()
	defer tm.mu.Unlock()
	switch tm.state {
	case kmsg.TransactionStateOngoing, kmsg.TransactionStatePrepareAbort:
		if err := tc.completeLocked(ctx, tm, false); err != nil {
			tc.log.Error("abort open transaction", "transactional_id", id, "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
	case kmsg.TransactionStatePrepareCommit:
		if err := tc.completeLocked(ctx, tm, true); err != nil {
			tc.log.Error("complete transaction", "transactional_id", id, "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
	}
	if tm.producerID < 0 || tm.epoch >= math.MaxInt16-1 {
		pid, err := tc.b.producerIDs.allocate()
		if err != nil {
			return -1, -1, kerr.UnknownServerError
		}
		tm.producerID, tm.epoch = pid, 0
	} else {
		tm.epoch++
	}
	tm.timeout = timeout
	tm.state = kmsg.TransactionStateEmpty
	tm.started = time.Time{}
	clear(tm.partitions)
	clear(tm.groups)
	clear(tm.offsetParts)
	if err := tc.persistLocked(ctx, tm); err != nil {
		tc.log.Error("record transactional producer", "transactional_id", id, "err", err)
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	return tm.producerID, tm.epoch, nil
}

// beginLocked marks tm Ongoing. REQUIRES: tm.mu.
func (tm *txnMeta) beginLocked() {
	if tm.state != kmsg.TransactionStateOngoing {
		tm.state = kmsg.TransactionStateOngoing
		tm.started = time.Now()
	}
}

// completeLocked ends tm's transaction: Prepare state recorded, markers
// written and fsynced on every partition, pending offset commits applied or
// dropped, Complete state recorded. REQUIRES: tm.mu.
func (tc *txnCoordinator) completeLocked(ctx context.Context, tm *txnMeta, commit bool) error {
	prepare, complete := kmsg.TransactionStatePrepareAbort, kmsg.TransactionStateCompleteAbort
	if commit {
		prepare, complete = kmsg.TransactionStatePrepareCommit, kmsg.TransactionStateCompleteCommit
	}
	if tm.state != prepare {
		tm.state = prepare
		if err := tc.persistLocked(ctx, tm); err != nil {
			return err
		}
	}
	type durable struct {
		p   *partition
		end int64
	}
	var waits []durable
	for tp := range tm.partitions {
		p := tc.b.topics.partition(tp.topic, tp.partition)
		if p == nil {
			continue // deleted meanwhile
		}
		end, err := p.writeMarker(tm.producerID, tm.epoch, commit)
		if err != nil {
			return fmt.Errorf("write marker to %s-%d: %w", tp.topic, tp.partition, err)
		}
		waits = append(waits, durable{p, end})
	}
	for idx := range tc.offsetPartsLocked(tm) {
		p, err := tc.b.groups.offsetsPartitionAt(idx)
		if err != nil {
			return err
		}
		end, err := p.writeMarker(tm.producerID, tm.epoch, commit)
		if err != nil {
			return fmt.Errorf("write marker to %s-%d: %w", offsetsTopic, idx, err)
		}
		waits = append(waits, durable{p, end})
	}
	if len(tm.groups) > 0 || len(tm.offsetParts) > 0 {
		tc.b.groups.completeTxnOffsets(tm.producerID, commit)
	}
	for _, w := range waits {
		if err := w.p.log.SyncTo(ctx, w.end); err != nil {
			return err
		}
	}
	tm.state = complete
	clear(tm.partitions)
	clear(tm.groups)
	clear(tm.offsetParts)
	tm.started = time.Time{}
	return tc.persistLocked(ctx, tm)
}

// abortExpired aborts transactions open longer than their timeout, bumping
// the epoch first so the producer that let it expire is fenced.
func (tc *txnCoordinator) abortExpired(ctx context.Context) {
	now := time.Now()
	for _, tm := range tc.all() {
		tm.mu.Lock()
		if tm.state == kmsg.TransactionStateOngoing && now.Sub(tm.started) > tm.timeout {
			tc.log.Info("aborting timed-out transaction", "transactional_id", tm.id, "producer_id", tm.producerID, "timeout", tm.timeout)
			if tm.epoch < math.MaxInt16-1 {
				tm.epoch++
			}
			if err := tc.completeLocked(ctx, tm, false); err != nil && ctx.Err() == nil {
				tc.log.Error("abort timed-out transaction", "transactional_id", tm.id, "err", err)
			}
		}
		tm.mu.Unlock()
	}
}

// run aborts timed-out transactions until the broker stops.
func (tc *txnCoordinator) run(ctx context.Context) {
	t := time.NewTicker(txnAbortCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tc.abortExpired(ctx)
		}
	}
}

// load replays __transaction_state, then finishes transactions that were
// being completed when the broker stopped.
func (tc *txnCoordinator) load(ctx context.Context) error {
	t := tc.b.topics.get(txnStateTopic)
	if t == nil {
		return nil
	}
	for _, p := range tc.b.topics.partitionsOf(t) {
		err := readLog(p, func(_ int64, r records.Record) {
			var k kmsg.TxnMetadataKey
			if len(r.Key) < 2 || k.ReadFrom(r.Key) != nil {
				return
			}
			if r.Value == nil {
				tc.mu.Lock()
				delete(tc.txns, k.TransactionalID)
				tc.mu.Unlock()
				return
			}
			var v kmsg.TxnMetadataValue
			if v.ReadFrom(r.Value) != nil {
				return
			}
			tm, _ := tc.getOrCreate(k.TransactionalID)
			tm.producerID, tm.epoch, tm.state = v.ProducerID, v.ProducerEpoch, v.State
			tm.timeout = time.Duration(v.TimeoutMillis) * time.Millisecond
			tm.started = time.Time{}
			if v.StartTimestamp > 0 {
				tm.started = time.UnixMilli(v.StartTimestamp)
			}
			clear(tm.partitions)
			clear(tm.groups)
			clear(tm.offsetParts)
			for _, vt := range v.Topics {
				for _, pi := range vt.Partitions {
					if vt.Topic == offsetsTopic {
						tm.offsetParts[pi] = true
					} else {
						tm.partitions[topicPartition{vt.Topic, pi}] = true
					}
				}
			}
		})
		if err != nil {
			return fmt.Errorf("load %s-%d: %w", txnStateTopic, p.index, err)
		}
	}
	for _, tm := range tc.all() {
		tm.mu.Lock()
		var err error
		switch tm.state {
		case kmsg.TransactionStatePrepareCommit:
			err = tc.completeLocked(ctx, tm, true)
		case kmsg.TransactionStatePrepareAbort:
			err = tc.completeLocked(ctx, tm, false)
		}
		tm.mu.Unlock()
		if err != nil {
			return fmt.Errorf("complete transaction %q: %w", tm.id, err)
		}
	}
	return nil
}

// offsetPartsLocked is the set of __consumer_offsets partitions in tm's
// transaction. REQUIRES: tm.mu.
func (tc *txnCoordinator) offsetPartsLocked(tm *txnMeta) map[int32]bool {
	parts := make(map[int32]bool, len(tm.offsetParts)+len(tm.groups))
	for idx := range tm.offsetParts {
		parts[idx] = true
	}
	for g := range tm.groups {
		parts[tc.b.groups.partitionFor(g)] = true
	}
	return parts
}

// readLog calls fn for every record of p's log, skipping control batches.
func readLog(p *partition, fn func(offset int64, r records.Record)) error {
	return readBatches(p, func(info records.BatchInfo, batch []byte) error {
		if info.Control {
			return nil
		}
		return records.Records(batch, func(o int64, r records.Record) error {
			fn(o, r)
			return nil
		})
	})
}

// readBatches calls fn for every batch of p's log.
func readBatches(p *partition, fn func(info records.BatchInfo, batch []byte) error) error {
	for off := p.log.StartOffset(); off < p.log.EndOffset(); {
		s, err := p.log.Read(off, 1<<20)
		if err != nil {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		data, err := s.Bytes()
		s.Release()
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		err = records.EachBatch(data, func(info records.BatchInfo, batch []byte) error {
			off = info.BaseOffset + int64(int32(uint32(batch[23])<<24|uint32(batch[24])<<16|uint32(batch[25])<<8|uint32(batch[26]))) + 1
			return fn(info, batch)
		})
		if err != nil {
			return fmt.Errorf("near offset %d: %w", off, err)
		}
	}
	return nil
}
