package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/internal/records"
)

// The transaction APIs run on the connection's writer goroutine (in
// reply.complete): they wait for __transaction_state writes and, for
// EndTxn, for the markers on every partition to be fsynced.

func code(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// handleAddPartitionsToTxn answers AddPartitionsToTxn (key 24), v0-v3.
func handleAddPartitionsToTxn(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.resp.(*kmsg.AddPartitionsToTxnResponse)
	b := c.b
	txnDenied := !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID)
	topicDenied := deniedTopics(c, kmsg.ACLOperationWrite, req.Topics, func(t kmsg.AddPartitionsToTxnRequestTopic) string { return t.Topic })
	r.complete = func(ctx context.Context) {
		tm := b.txns.get(req.TransactionalID)
		var failure *kerr.Error
		if txnDenied {
			failure = kerr.TransactionalIDAuthorizationFailed
		} else if tm == nil {
			failure = kerr.InvalidProducerIDMapping
		} else {
			tm.mu.Lock()
			defer tm.mu.Unlock()
			failure = checkProducerLocked(tm, req.ProducerID, req.ProducerEpoch)
		}
		// Every partition must exist and be writable, or none is added.
		if failure == nil {
			for _, rt := range req.Topics {
				for _, p := range rt.Partitions {
					if topicDenied[rt.Topic] || b.topics.partition(rt.Topic, p) == nil {
						failure = kerr.OperationNotAttempted
					}
				}
			}
		}
		var persistErr error
		if failure == nil {
			for _, rt := range req.Topics {
				for _, p := range rt.Partitions {
					tm.partitions[topicPartition{rt.Topic, p}] = true
				}
			}
			tm.beginLocked()
			persistErr = b.txns.persistLocked(ctx, tm)
		}
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition = p
				switch {
				case failure == kerr.OperationNotAttempted && topicDenied[rt.Topic]:
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case failure == kerr.OperationNotAttempted && b.topics.partition(rt.Topic, p) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case failure != nil:
					sp.ErrorCode = failure.Code
				case persistErr != nil:
					sp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
}

// handleAddOffsetsToTxn answers AddOffsetsToTxn (key 25), v0-v3.
func handleAddOffsetsToTxn(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.resp.(*kmsg.AddOffsetsToTxnResponse)
	b := c.b
	switch {
	case !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return
	case !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	r.complete = func(ctx context.Context) {
		tm := b.txns.get(req.TransactionalID)
		if tm == nil {
			resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
			return
		}
		tm.mu.Lock()
		defer tm.mu.Unlock()
		if e := checkProducerLocked(tm, req.ProducerID, req.ProducerEpoch); e != nil {
			resp.ErrorCode = e.Code
			return
		}
		if req.Group == "" {
			resp.ErrorCode = kerr.InvalidGroupID.Code
			return
		}
		tm.groups[req.Group] = true
		tm.beginLocked()
		if err := b.txns.persistLocked(ctx, tm); err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
	}
}

// handleEndTxn answers EndTxn (key 26), v0-v3: the transaction is
// committed or aborted on every partition before the answer.
func handleEndTxn(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := r.resp.(*kmsg.EndTxnResponse)
	b := c.b
	if !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return
	}
	r.complete = func(ctx context.Context) {
		tm := b.txns.get(req.TransactionalID)
		if tm == nil {
			resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
			return
		}
		tm.mu.Lock()
		defer tm.mu.Unlock()
		if e := checkProducerLocked(tm, req.ProducerID, req.ProducerEpoch); e != nil {
			resp.ErrorCode = e.Code
			return
		}
		switch tm.state {
		case kmsg.TransactionStateOngoing:
		case kmsg.TransactionStateCompleteCommit:
			if !req.Commit {
				resp.ErrorCode = kerr.InvalidTxnState.Code
			}
			return // a retried commit
		case kmsg.TransactionStateCompleteAbort:
			if req.Commit {
				resp.ErrorCode = kerr.InvalidTxnState.Code
			}
			return // a retried abort
		default:
			resp.ErrorCode = kerr.InvalidTxnState.Code
			return
		}
		if err := b.txns.completeLocked(ctx, tm, req.Commit); err != nil {
			c.log.Error("end transaction", "transactional_id", tm.id, "commit", req.Commit, "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
	}
}

// handleTxnOffsetCommit answers TxnOffsetCommit (key 28), v0-v3: offsets
// are written to __consumer_offsets inside the producer's transaction and
// take effect when it commits.
func handleTxnOffsetCommit(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := r.resp.(*kmsg.TxnOffsetCommitResponse)
	b := c.b
	var authFailure int16
	switch {
	case !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		authFailure = kerr.TransactionalIDAuthorizationFailed.Code
	case !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		authFailure = kerr.GroupAuthorizationFailed.Code
	}
	topicDenied := deniedTopics(c, kmsg.ACLOperationRead, req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) string { return t.Topic })
	r.complete = func(ctx context.Context) {
		var failure int16
		tm := b.txns.get(req.TransactionalID)
		if authFailure != 0 {
			failure = authFailure
		} else if tm == nil {
			failure = kerr.InvalidProducerIDMapping.Code
		} else {
			tm.mu.Lock()
			defer tm.mu.Unlock()
			if e := checkProducerLocked(tm, req.ProducerID, req.ProducerEpoch); e != nil {
				failure = e.Code
			} else if !tm.groups[req.Group] {
				failure = kerr.InvalidTxnState.Code // AddOffsetsToTxn first
			}
		}
		var g *group
		if failure == 0 {
			g = b.groups.get(req.Group, true)
			g.mu.Lock()
			defer g.mu.Unlock()
			if req.Version >= 3 && req.Generation >= 0 {
				failure = g.offsetCommitCheckLocked(req.Generation, req.MemberID, req.InstanceID)
			}
		}
		type pendingCommit struct {
			tp  topicPartition
			off committedOffset
		}
		var commits []pendingCommit
		now := time.Now().UnixMilli()
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				switch {
				case failure != 0:
					sp.ErrorCode = failure
				case topicDenied[rt.Topic]:
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case b.topics.partition(rt.Topic, rp.Partition) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.Metadata != nil && len(*rp.Metadata) > maxOffsetMetadataBytes:
					sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				default:
					o := committedOffset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, timestamp: now}
					if rp.Metadata != nil {
						o.metadata = *rp.Metadata
					}
					commits = append(commits, pendingCommit{topicPartition{rt.Topic, rp.Partition}, o})
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if len(commits) == 0 {
			return
		}
		recs := make([]records.Record, len(commits))
		for i, pc := range commits {
			recs[i] = records.Record{Key: offsetKey(req.Group, pc.tp), Value: offsetValue(pc.off)}
		}
		p, err := b.groups.offsetsPartition(req.Group)
		var end int64
		if err == nil {
			end, err = p.appendTxnRecords(req.ProducerID, req.ProducerEpoch, recs...)
		}
		if err == nil {
			err = p.log.SyncTo(ctx, end)
		}
		if err != nil {
			c.log.Error("transactional offset commit not stored", "group", req.Group, "err", err)
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if resp.Topics[i].Partitions[j].ErrorCode == 0 {
						resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownServerError.Code
					}
				}
			}
			return
		}
		for _, pc := range commits {
			g.addPendingTxnLocked(req.ProducerID, pc.tp, pc.off)
		}
	}
}

// handleListTransactions answers ListTransactions (key 66), v0-v1.
func handleListTransactions(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := r.resp.(*kmsg.ListTransactionsResponse)
	r.complete = func(context.Context) {
		for _, tm := range c.b.txns.all() {
			tm.mu.Lock()
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = tm.id, tm.producerID, tm.state.String()
			tm.mu.Unlock()
			if !stateMatches(req.StateFilters, st.TransactionState) || !producerMatches(req.ProducerIDFilters, st.ProducerID) ||
				!c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, st.TransactionalID) {
				continue
			}
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
}

func producerMatches(filter []int64, pid int64) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if f == pid {
			return true
		}
	}
	return false
}

// handleDescribeTransactions answers DescribeTransactions (key 65), v0.
func handleDescribeTransactions(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := r.resp.(*kmsg.DescribeTransactionsResponse)
	r.complete = func(context.Context) {
		for _, id := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID = id
			if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
				st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				resp.TransactionStates = append(resp.TransactionStates, st)
				continue
			}
			tm := c.b.txns.get(id)
			if tm == nil {
				st.ErrorCode = kerr.TransactionalIDNotFound.Code
				resp.TransactionStates = append(resp.TransactionStates, st)
				continue
			}
			tm.mu.Lock()
			st.State = tm.state.String()
			st.TimeoutMillis = int32(tm.timeout / time.Millisecond)
			st.StartTimestamp = -1
			if !tm.started.IsZero() {
				st.StartTimestamp = tm.started.UnixMilli()
			}
			st.ProducerID, st.ProducerEpoch = tm.producerID, tm.epoch
			byTopic := map[string][]int32{}
			for tp := range tm.partitions {
				byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
			}
			for idx := range c.b.txns.offsetPartsLocked(tm) {
				byTopic[offsetsTopic] = append(byTopic[offsetsTopic], idx)
			}
			tm.mu.Unlock()
			for t, ps := range byTopic {
				st.Topics = append(st.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: t, Partitions: ps})
			}
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
}

// handleDescribeProducers answers DescribeProducers (key 61), v0: the
// idempotent and transactional producers of partitions.
func handleDescribeProducers(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := r.resp.(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, idx := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = idx
			if !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p := c.b.topics.partition(rt.Topic, idx)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			ps := &p.producers
			ps.mu.Lock()
			for pid, e := range ps.producers {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pid, int32(e.Epoch)
				ap.LastSequence, ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, -1, -1, -1
				if n := len(e.Batches); n > 0 {
					ap.LastSequence = e.Batches[n-1].LastSeq
				}
				if first, ok := ps.ongoing[pid]; ok {
					ap.CurrentTxnStartOffset = first
				}
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			ps.mu.Unlock()
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
