package broker

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker/internal/records"
)

// The group APIs run entirely on the connection's writer goroutine (in
// reply.complete): JoinGroup and SyncGroup wait for other members, and
// running every group API there keeps a connection's group requests in
// order with each other.

// handleFindCoordinator answers FindCoordinator (key 10), v0-v4: this
// broker coordinates every group and transactional id.
func handleFindCoordinator(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := r.resp.(*kmsg.FindCoordinatorResponse)
	b := c.b
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.NodeID, co.Host, co.Port = b.cfg.NodeID, c.lis.advHost, c.lis.advPort
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			co.ErrorCode = kerr.InvalidRequest.Code
			co.ErrorMessage = kmsg.StringPtr("coordinator type must be 0 (group) or 1 (transaction)")
		case req.CoordinatorType == 0 && key == "":
			co.ErrorCode = kerr.InvalidGroupID.Code
		case req.CoordinatorType == 0 && !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key):
			co.ErrorCode = kerr.GroupAuthorizationFailed.Code
		case req.CoordinatorType == 1 && !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key):
			co.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		}
		if co.ErrorCode != 0 {
			co.NodeID, co.Host, co.Port = -1, "", -1
		}
		resp.Coordinators = append(resp.Coordinators, co)
	}
	if req.Version < 4 && len(resp.Coordinators) == 1 {
		co := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = co.ErrorCode, co.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = co.NodeID, co.Host, co.Port
		resp.Coordinators = nil
	}
}

// clientHost is how Kafka shows a member's address: "/127.0.0.1".
func (c *conn) clientHost() string {
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return "/" + c.nc.RemoteAddr().String()
	}
	return "/" + host
}

// handleJoinGroup answers JoinGroup (key 11), v0-v9.
func handleJoinGroup(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.JoinGroupRequest)
	if !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp := r.resp.(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.GroupAuthorizationFailed.Code, -1, req.MemberID
		return
	}
	gc := c.b.groups
	clientID, clientHost := r.hdr.clientID, c.clientHost()
	r.complete = func(ctx context.Context) {
		var res joinResult
		session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
		switch {
		case req.Group == "":
			res = joinError(kerr.InvalidGroupID.Code, req.MemberID)
		case session < gc.minSession || session > gc.maxSession:
			res = joinError(kerr.InvalidSessionTimeout.Code, req.MemberID)
		case req.ProtocolType == "" || len(req.Protocols) == 0:
			res = joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
		default:
			res = gc.get(req.Group, true).join(req, clientID, clientHost)
		}
		resp := waitJoin(ctx, res)
		resp.SetVersion(req.Version)
		r.resp = resp
	}
}

// handleSyncGroup answers SyncGroup (key 14), v0-v5.
func handleSyncGroup(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.SyncGroupRequest)
	if !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		r.resp.(*kmsg.SyncGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	gc := c.b.groups
	r.complete = func(ctx context.Context) {
		var res syncResult
		g := gc.get(req.Group, false)
		if g == nil {
			res = syncError(kerr.UnknownMemberID.Code)
		} else {
			res = g.sync(req)
			if res.persist {
				g.mu.Lock()
				gc.persistGroupAsync(g)
				g.mu.Unlock()
			}
		}
		resp := waitSync(ctx, res)
		resp.SetVersion(req.Version)
		r.resp = resp
	}
}

// handleHeartbeat answers Heartbeat (key 12), v0-v4.
func handleHeartbeat(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := r.resp.(*kmsg.HeartbeatResponse)
	if !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	gc := c.b.groups
	r.complete = func(context.Context) {
		if g := gc.get(req.Group, false); g != nil {
			resp.ErrorCode = g.heartbeat(req)
		} else {
			resp.ErrorCode = kerr.UnknownMemberID.Code
		}
	}
}

// handleLeaveGroup answers LeaveGroup (key 13), v0-v5.
func handleLeaveGroup(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := r.resp.(*kmsg.LeaveGroupResponse)
	if !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	gc := c.b.groups
	r.complete = func(context.Context) {
		ids := []string{req.MemberID}
		instances := []*string{nil}
		if req.Version >= 3 {
			ids, instances = ids[:0], instances[:0]
			for _, m := range req.Members {
				ids = append(ids, m.MemberID)
				instances = append(instances, m.InstanceID)
			}
		}
		codes := make([]int16, len(ids))
		if g := gc.get(req.Group, false); g != nil {
			codes = g.leave(ids, instances)
		} else {
			for i := range codes {
				codes[i] = kerr.UnknownMemberID.Code
			}
		}
		if req.Version < 3 {
			resp.ErrorCode = codes[0]
			return
		}
		for i := range ids {
			resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{
				MemberID: ids[i], InstanceID: instances[i], ErrorCode: codes[i],
			})
		}
	}
}

// handleOffsetCommit answers OffsetCommit (key 8), v0-v8. Offsets are
// appended to __consumer_offsets and answered once fsynced.
func handleOffsetCommit(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := r.resp.(*kmsg.OffsetCommitResponse)
	b := c.b
	groupDenied := !c.authorized(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group)
	topicDenied := deniedTopics(c, kmsg.ACLOperationRead, req.Topics, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic })
	r.complete = func(ctx context.Context) {
		type pendingCommit struct {
			tp   topicPartition
			off  committedOffset
			code *int16
		}
		var commits []pendingCommit
		var groupCode int16
		var g *group
		if groupDenied {
			groupCode = kerr.GroupAuthorizationFailed.Code
		} else if req.Group == "" {
			groupCode = kerr.InvalidGroupID.Code
		} else {
			g = b.groups.get(req.Group, true)
			g.mu.Lock()
			defer func() {
				if g != nil {
					g.mu.Unlock()
				}
			}()
			groupCode = g.offsetCommitCheckLocked(req.Generation, req.MemberID, req.InstanceID)
		}
		now := time.Now().UnixMilli()
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
			resp.Topics = append(resp.Topics, st)
		}
		for i, rt := range req.Topics {
			for j, rp := range rt.Partitions {
				sp := &resp.Topics[i].Partitions[j]
				sp.Partition = rp.Partition
				switch {
				case groupCode != 0:
					sp.ErrorCode = groupCode
				case topicDenied[rt.Topic]:
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case b.topics.partition(rt.Topic, rp.Partition) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.Metadata != nil && len(*rp.Metadata) > maxOffsetMetadataBytes:
					sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				default:
					off := committedOffset{offset: rp.Offset, leaderEpoch: -1, timestamp: now}
					if req.Version >= 6 {
						off.leaderEpoch = rp.LeaderEpoch
					}
					if rp.Metadata != nil {
						off.metadata = *rp.Metadata
					}
					commits = append(commits, pendingCommit{tp: topicPartition{rt.Topic, rp.Partition}, off: off, code: &sp.ErrorCode})
				}
			}
		}
		if len(commits) == 0 {
			return
		}
		recs := make([]records.Record, len(commits))
		for i, pc := range commits {
			recs[i] = records.Record{Key: offsetKey(req.Group, pc.tp), Value: offsetValue(pc.off)}
		}
		p, end, err := b.groups.appendRecords(req.Group, recs...)
		if err == nil {
			for _, pc := range commits {
				g.offsets[pc.tp] = pc.off
			}
		}
		g.mu.Unlock()
		g = nil
		if err == nil {
			err = p.log.SyncTo(ctx, end)
		}
		if err != nil {
			c.log.Error("offset commit not stored", "group", req.Group, "err", err)
			for _, pc := range commits {
				*pc.code = kerr.UnknownServerError.Code
			}
		}
	}
}

// handleOffsetFetch answers OffsetFetch (key 9), v0-v8 (v8 asks for
// several groups at once).
func handleOffsetFetch(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := r.resp.(*kmsg.OffsetFetchResponse)
	gc := c.b.groups
	// Kafka checks DESCRIBE on the group, and on each topic: topics the
	// principal may not describe are left out of "all offsets" answers and
	// get TOPIC_AUTHORIZATION_FAILED when asked for by name.
	groupDenied := func(group string) bool {
		return !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, group)
	}
	topicDenied := func(topic string) bool {
		return !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
	}
	r.complete = func(context.Context) {
		if req.Version < 8 && groupDenied(req.Group) {
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.GroupAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return
		}
		if req.Version < 8 {
			var topics []offsetFetchTopic
			if req.Topics != nil {
				for _, t := range req.Topics {
					topics = append(topics, offsetFetchTopic{t.Topic, t.Partitions})
				}
			}
			for _, t := range gc.fetchOffsets(req.Group, topics, req.Topics == nil) {
				denied := topicDenied(t.topic)
				if denied && req.Topics == nil {
					continue
				}
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.topic
				for _, p := range t.parts {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.offset, p.leaderEpoch, kmsg.StringPtr(p.metadata)
					if denied {
						rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			if req.Group == "" && req.Version >= 2 {
				resp.ErrorCode = kerr.InvalidGroupID.Code
			}
			return
		}
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			if groupDenied(rg.Group) {
				g.ErrorCode = kerr.GroupAuthorizationFailed.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			var topics []offsetFetchTopic
			for _, t := range rg.Topics {
				topics = append(topics, offsetFetchTopic{t.Topic, t.Partitions})
			}
			for _, t := range gc.fetchOffsets(rg.Group, topics, rg.Topics == nil) {
				denied := topicDenied(t.topic)
				if denied && rg.Topics == nil {
					continue
				}
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = t.topic
				for _, p := range t.parts {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.offset, p.leaderEpoch, kmsg.StringPtr(p.metadata)
					if denied {
						rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
			if rg.Group == "" {
				g.ErrorCode = kerr.InvalidGroupID.Code
			}
			resp.Groups = append(resp.Groups, g)
		}
	}
}

type offsetFetchTopic struct {
	topic string
	parts []int32
}

type fetchedOffset struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
}

type fetchedTopic struct {
	topic string
	parts []fetchedOffset
}

// fetchOffsets returns a group's committed offsets for the asked
// partitions (-1 where nothing is committed), or for everything it has
// committed when all is set.
func (gc *groupCoordinator) fetchOffsets(group string, topics []offsetFetchTopic, all bool) []fetchedTopic {
	offs := map[topicPartition]committedOffset{}
	if g := gc.get(group, false); g != nil {
		g.mu.Lock()
		for tp, o := range g.offsets {
			offs[tp] = o
		}
		g.mu.Unlock()
	}
	if all {
		byTopic := map[string][]int32{}
		for tp := range offs {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		topics = topics[:0]
		for t, ps := range byTopic {
			topics = append(topics, offsetFetchTopic{t, ps})
		}
	}
	var out []fetchedTopic
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		for _, p := range t.parts {
			fo := fetchedOffset{partition: p, offset: -1, leaderEpoch: -1}
			if o, ok := offs[topicPartition{t.topic, p}]; ok {
				fo.offset, fo.leaderEpoch, fo.metadata = o.offset, o.leaderEpoch, o.metadata
			}
			ft.parts = append(ft.parts, fo)
		}
		out = append(out, ft)
	}
	return out
}

// handleDescribeGroups answers DescribeGroups (key 15), v0-v5. A group that
// does not exist is described as Dead, as Kafka does.
func handleDescribeGroups(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := r.resp.(*kmsg.DescribeGroupsResponse)
	gc := c.b.groups
	r.complete = func(context.Context) {
		for _, name := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group = name
			dg.AuthorizedOperations = authorizedOperationsOmitted
			if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
				dg.ErrorCode = kerr.GroupAuthorizationFailed.Code
				resp.Groups = append(resp.Groups, dg)
				continue
			}
			if req.IncludeAuthorizedOperations { // v3+
				dg.AuthorizedOperations = c.authorizedOperations(kmsg.ACLResourceTypeGroup, name)
			}
			g := gc.get(name, false)
			if g == nil {
				dg.State = groupDead.String()
				resp.Groups = append(resp.Groups, dg)
				continue
			}
			g.mu.Lock()
			dg.State = g.state.String()
			dg.ProtocolType = g.protocolType
			if g.state == groupStable {
				dg.Protocol = g.protocol
			}
			for _, m := range g.members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				if g.state == groupStable {
					dm.ProtocolMetadata = m.metadataFor(g.protocol)
					dm.MemberAssignment = m.assignment
				}
				dg.Members = append(dg.Members, dm)
			}
			g.mu.Unlock()
			resp.Groups = append(resp.Groups, dg)
		}
	}
}

// handleListGroups answers ListGroups (key 16), v0-v4.
func handleListGroups(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := r.resp.(*kmsg.ListGroupsResponse)
	gc := c.b.groups
	// DESCRIBE on the cluster lists every group; otherwise those the
	// principal may describe.
	all := c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource)
	r.complete = func(context.Context) {
		for _, g := range gc.all() {
			g.mu.Lock()
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState = g.name, g.protocolType, g.state.String()
			dead := g.state == groupDead
			g.mu.Unlock()
			if dead || !stateMatches(req.StatesFilter, lg.GroupState) ||
				(!all && !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, lg.Group)) {
				continue
			}
			resp.Groups = append(resp.Groups, lg)
		}
	}
}

func stateMatches(filter []string, state string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, state) {
			return true
		}
	}
	return false
}

// handleDeleteGroups answers DeleteGroups (key 42), v0-v2: only groups
// without members can be deleted; their offsets go with them.
func handleDeleteGroups(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := r.resp.(*kmsg.DeleteGroupsResponse)
	gc := c.b.groups
	denied := map[string]bool{}
	for _, name := range req.Groups {
		denied[name] = !c.authorized(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, name)
	}
	r.complete = func(ctx context.Context) {
		for _, name := range req.Groups {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group = name
			if denied[name] {
				dg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			} else {
				dg.ErrorCode = gc.deleteGroup(ctx, name)
			}
			resp.Groups = append(resp.Groups, dg)
		}
	}
}

func (gc *groupCoordinator) deleteGroup(ctx context.Context, name string) int16 {
	g := gc.get(name, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.mu.Lock()
	switch {
	case g.state == groupDead:
		g.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	case len(g.members) > 0 || g.state != groupEmpty:
		g.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	recs := []records.Record{{Key: groupKey(name)}}
	for tp := range g.offsets {
		recs = append(recs, records.Record{Key: offsetKey(name, tp)})
	}
	p, end, err := gc.appendRecords(name, recs...)
	if err == nil {
		g.stopRebalanceTimerLocked()
		g.setStateLocked(groupDead)
		g.offsets = map[topicPartition]committedOffset{}
		gc.mu.Lock()
		if gc.groups[name] == g {
			delete(gc.groups, name)
		}
		gc.mu.Unlock()
	}
	g.mu.Unlock()
	if err == nil {
		err = p.log.SyncTo(ctx, end)
	}
	if err != nil {
		gc.log.Error("delete group", "group", name, "err", err)
		return kerr.UnknownServerError.Code
	}
	gc.log.Info("group deleted", "group", name)
	return 0
}

// handleOffsetDelete answers OffsetDelete (key 47), v0: offsets of topics
// the group's members are subscribed to cannot be deleted.
func handleOffsetDelete(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := r.resp.(*kmsg.OffsetDeleteResponse)
	gc := c.b.groups
	if !c.authorized(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	topicDenied := deniedTopics(c, kmsg.ACLOperationRead, req.Topics, func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic })
	r.complete = func(ctx context.Context) {
		g := gc.get(req.Group, false)
		if g == nil {
			resp.ErrorCode = kerr.GroupIDNotFound.Code
			return
		}
		g.mu.Lock()
		subscribed := g.subscribedTopicsLocked()
		var recs []records.Record
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition = rp.Partition
				tp := topicPartition{rt.Topic, rp.Partition}
				switch {
				case topicDenied[rt.Topic]:
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case subscribed[rt.Topic]:
					sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
				case c.b.topics.partition(rt.Topic, rp.Partition) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					if _, ok := g.offsets[tp]; ok {
						delete(g.offsets, tp)
						recs = append(recs, records.Record{Key: offsetKey(req.Group, tp)})
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		var p *partition
		var end int64
		var err error
		if len(recs) > 0 {
			p, end, err = gc.appendRecords(req.Group, recs...)
		}
		g.mu.Unlock()
		if err == nil && p != nil {
			err = p.log.SyncTo(ctx, end)
		}
		if err != nil {
			resp.ErrorCode = kerr.UnknownServerError.Code
		}
	}
}

// subscribedTopicsLocked reads the topics a consumer group's members
// subscribe to from their protocol metadata (the consumer protocol's
// subscription). Other protocol types subscribe to nothing the broker can
// see. REQUIRES: g.mu.
func (g *group) subscribedTopicsLocked() map[string]bool {
	topics := map[string]bool{}
	if g.protocolType != "consumer" {
		return topics
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.metadataFor(g.protocol)) != nil {
			continue
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics
}
