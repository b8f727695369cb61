package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/internal/records"
)

// offsetsTopic is Kafka's internal topic for committed offsets and group
// metadata. Its records use Kafka's own key and value schemas, so tools
// that read __consumer_offsets understand them.
const offsetsTopic = "__consumer_offsets"

// Kafka's limits and defaults for groups.
const (
	defaultOffsetsTopicPartitions = 50
	defaultInitialRebalanceDelay  = 3 * time.Second
	defaultMinSessionTimeout      = 6 * time.Second
	defaultMaxSessionTimeout      = 30 * time.Minute
	maxOffsetMetadataBytes        = 4096 // offset.metadata.max.bytes
)

// groupCoordinator owns the consumer groups and their committed offsets.
type groupCoordinator struct {
	b            *Broker
	log          *slog.Logger
	partitions   int32
	initialDelay time.Duration
	minSession   time.Duration
	maxSession   time.Duration

	// mu guards groups.
	mu     sync.Mutex
	groups map[string]*group
}

func newGroupCoordinator(b *Broker) *groupCoordinator {
	return &groupCoordinator{
		b:            b,
		log:          b.log,
		partitions:   b.cfg.OffsetsTopicPartitions,
		initialDelay: b.cfg.GroupInitialRebalanceDelay,
		minSession:   b.cfg.GroupMinSessionTimeout,
		maxSession:   b.cfg.GroupMaxSessionTimeout,
		groups:       make(map[string]*group),
	}
}

// get returns the group, creating an empty one if create is set.
func (gc *groupCoordinator) get(name string, create bool) *group {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	g := gc.groups[name]
	if g == nil && create {
		g = newGroup(gc, name)
		gc.groups[name] = g
	}
	return g
}

func (gc *groupCoordinator) all() []*group {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gs := make([]*group, 0, len(gc.groups))
	for _, g := range gc.groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].name < gs[j].name })
	return gs
}

func (gc *groupCoordinator) stop() {
	for _, g := range gc.all() {
		g.stop()
	}
}

// javaStringHash is Java's String.hashCode, which Kafka uses to place a
// group on a partition of __consumer_offsets.
func javaStringHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

func (gc *groupCoordinator) partitionFor(group string) int32 {
	return (javaStringHash(group) & 0x7fffffff) % gc.partitions
}

// offsetsPartition returns the partition of __consumer_offsets holding
// group, creating the topic on first use, as Kafka does.
func (gc *groupCoordinator) offsetsPartition(group string) (*partition, error) {
	return gc.offsetsPartitionAt(gc.partitionFor(group))
}

func (gc *groupCoordinator) offsetsPartitionAt(idx int32) (*partition, error) {
	return gc.b.internalPartition(offsetsTopic, gc.partitions, idx)
}

// internalConfigs are the settings of the broker's internal topics, as
// Kafka gives them.
var internalConfigs = map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}

// internalPartition returns partition idx of an internal topic, creating
// the topic with n partitions on first use. Two first uses at once are
// common (groups and transactions starting together): the one that finds
// the topic being created waits for it.
func (b *Broker) internalPartition(topic string, n, idx int32) (*partition, error) {
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if p := b.topics.partition(topic, idx); p != nil {
			return p, nil
		}
		t, err := b.topics.create(topic, n, internalConfigs)
		switch {
		case err == nil, errors.Is(err, errTopicExists) && t != nil:
			if p := b.topics.partition(topic, idx); p != nil {
				return p, nil
			}
			return nil, fmt.Errorf("%s has no partition %d", topic, idx)
		case errors.Is(err, errTopicExists): // being created or deleted right now
			select {
			case <-time.After(wait):
			case <-b.ctx.Done():
				return nil, fmt.Errorf("create %s: %w", topic, b.ctx.Err())
			}
		default:
			return nil, fmt.Errorf("create %s: %w", topic, err)
		}
	}
}

// appendRecords appends recs to the group's partition of
// __consumer_offsets and returns what to wait on for durability. Callers
// hold the group's mutex, so a group's records reach the log in the order
// its state changed; they wait for the fsync after releasing it.
func (gc *groupCoordinator) appendRecords(group string, recs ...records.Record) (*partition, int64, error) {
	p, err := gc.offsetsPartition(group)
	if err != nil {
		return nil, 0, err
	}
	batch := records.AppendBatch(nil, time.Now().UnixMilli(), recs...)
	res, err := p.log.Append(batch)
	if err != nil {
		return nil, 0, fmt.Errorf("append to %s-%d: %w", offsetsTopic, p.index, err)
	}
	p.appended()
	return p, res.LastOffset + 1, nil
}

func offsetKey(group string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetValue(o committedOffset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.timestamp
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

// groupRecordLocked is the group-metadata record for g's current state, or
// a tombstone for an empty group without offsets. REQUIRES: g.mu.
func (g *group) groupRecordLocked() records.Record {
	if g.state == groupDead {
		return records.Record{Key: groupKey(g.name)}
	}
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	for _, m := range g.members {
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: int32(m.rebalanceTimeout / time.Millisecond),
			SessionTimeoutMillis:   int32(m.sessionTimeout / time.Millisecond),
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             m.assignment,
		})
	}
	return records.Record{Key: groupKey(g.name), Value: v.AppendTo(nil)}
}

// persistGroupAsync records g's metadata without making the caller wait:
// it runs from state transitions that hold g.mu, and from timers. The
// record is taken when the goroutine gets the mutex, so whatever order the
// goroutines run in, the last record written is the latest state. Losing
// it in a crash costs no more than a rebalance after the restart.
// REQUIRES: g.mu (it is released before the goroutine can proceed).
func (gc *groupCoordinator) persistGroupAsync(g *group) {
	gc.b.goTracked(func(ctx context.Context) {
		g.mu.Lock()
		rec := g.groupRecordLocked()
		p, end, err := gc.appendRecords(g.name, rec)
		g.mu.Unlock()
		if err == nil {
			err = p.log.SyncTo(ctx, end)
		}
		if err != nil && ctx.Err() == nil {
			gc.log.Warn("could not record group metadata", "group", g.name, "err", err)
		}
	})
}

// load replays __consumer_offsets into memory at start-up. Offsets
// committed inside a transaction stay pending until the transaction's
// marker in the same partition commits or aborts them.
func (gc *groupCoordinator) load() error {
	t := gc.b.topics.get(offsetsTopic)
	if t == nil {
		return nil
	}
	start := time.Now()
	var n int
	for _, p := range gc.b.topics.partitionsOf(t) {
		err := readBatches(p, func(info records.BatchInfo, batch []byte) error {
			if info.Control {
				if typ, ok := records.ControlType(batch); ok {
					gc.completeTxnOffsets(info.ProducerID, typ == records.ControlCommit)
				}
				return nil
			}
			pid := int64(-1)
			if info.Transactional {
				pid = info.ProducerID
			}
			return records.Records(batch, func(_ int64, r records.Record) error {
				n++
				gc.apply(r, pid)
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("read %s-%d: %w", offsetsTopic, p.index, err)
		}
	}
	if n > 0 {
		gc.log.Info("loaded consumer groups", "records", n, "groups", len(gc.all()), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// completeTxnOffsets applies (commit) or drops (abort) the offsets producer
// pid committed inside its transaction, in every group.
func (gc *groupCoordinator) completeTxnOffsets(pid int64, commit bool) {
	for _, g := range gc.all() {
		g.mu.Lock()
		if pending, ok := g.pendingTxn[pid]; ok {
			if commit {
				for tp, o := range pending {
					g.offsets[tp] = o
				}
			}
			delete(g.pendingTxn, pid)
		}
		g.mu.Unlock()
	}
}

// apply applies one record of __consumer_offsets. Unknown key versions are
// skipped, as Kafka skips them.
func (gc *groupCoordinator) apply(r records.Record, txnPID int64) {
	if len(r.Key) < 2 {
		return
	}
	switch version := int16(r.Key[0])<<8 | int16(r.Key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(r.Key) != nil {
			return
		}
		tp := topicPartition{k.Topic, k.Partition}
		if r.Value == nil {
			if g := gc.get(k.Group, false); g != nil {
				g.mu.Lock()
				delete(g.offsets, tp)
				g.mu.Unlock()
			}
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(r.Value) != nil {
			return
		}
		g := gc.get(k.Group, true)
		g.mu.Lock()
		o := committedOffset{offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata, timestamp: v.CommitTimestamp}
		if txnPID >= 0 {
			g.addPendingTxnLocked(txnPID, tp, o)
		} else {
			g.offsets[tp] = o
		}
		g.mu.Unlock()
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(r.Key) != nil {
			return
		}
		if r.Value == nil {
			gc.mu.Lock()
			delete(gc.groups, k.Group)
			gc.mu.Unlock()
			return
		}
		var v kmsg.GroupMetadataValue
		if v.ReadFrom(r.Value) != nil {
			return
		}
		g := gc.get(k.Group, true)
		g.mu.Lock()
		g.restoreLocked(&v)
		g.mu.Unlock()
	}
}

// restoreLocked rebuilds a group from its metadata record. Members come
// back with fresh sessions: if they are still alive they carry on without
// a rebalance, as after a Kafka coordinator failover.
func (g *group) restoreLocked(v *kmsg.GroupMetadataValue) {
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
		}
	}
	g.members = make(map[string]*member)
	g.static = make(map[string]string)
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		g.resetSessionLocked(m)
	}
	if len(g.members) > 0 {
		g.setStateLocked(groupStable)
	} else {
		g.setStateLocked(groupEmpty)
	}
}

// Lag is a group's position on one partition.
type Lag struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64 // -1 if nothing is committed
	End       int64 // the partition's end offset
	Lag       int64 // End - Committed, or End - start when nothing is committed
}

// GroupLag returns the lag of every partition a group has committed
// offsets for, sorted by topic and partition.
func (b *Broker) GroupLag(group string) []Lag {
	g := b.groups.get(group, false)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	offs := make(map[topicPartition]int64, len(g.offsets))
	for tp, o := range g.offsets {
		offs[tp] = o.offset
	}
	g.mu.Unlock()
	var lags []Lag
	for tp, committed := range offs {
		p := b.topics.partition(tp.topic, tp.partition)
		if p == nil {
			continue
		}
		end := p.log.EndOffset()
		from := committed
		if from < 0 {
			from = p.log.StartOffset()
		}
		lags = append(lags, Lag{Group: group, Topic: tp.topic, Partition: tp.partition, Committed: committed, End: end, Lag: max(end-from, 0)})
	}
	sort.Slice(lags, func(i, j int) bool {
		if lags[i].Topic != lags[j].Topic {
			return lags[i].Topic < lags[j].Topic
		}
		return lags[i].Partition < lags[j].Partition
	})
	return lags
}
