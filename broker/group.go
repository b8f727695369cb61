package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the group coordinator of Kafka's classic group protocol:
// members join, the coordinator picks a leader and a protocol, the leader
// computes assignments and hands them over in SyncGroup, members heartbeat
// to stay in the group. The coordinator never looks inside protocol
// metadata or assignments, so eager and cooperative assignors both work.
//
// A group moves through Kafka's states:
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	   ▲                 ▲      │                                        │ leader's SyncGroup
//	   │                 │      └─ no members left ──▶ Empty             ▼
//	   └── last member ──┴────────── join, leave, session expiry ─── Stable
//
// Each group has its own mutex; timers (session expiry, rebalance
// deadline, initial delay) take it when they fire. Join and Sync wait for
// the rebalance without holding it: a waiting member has a channel that
// the completing step sends its response on.

type groupState int

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

// String returns Kafka's name for the state, as DescribeGroups and
// ListGroups report it.
func (s groupState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte

	// joinWait is set while the member waits for the rebalance to
	// complete; syncWait while it waits for the leader's assignment.
	joinWait chan *kmsg.JoinGroupResponse
	syncWait chan *kmsg.SyncGroupResponse
	// session expires the member unless a heartbeat, join or sync
	// resets it; nil while the member waits in JoinGroup (the
	// rebalance deadline covers it then).
	session *time.Timer
}

func (m *member) supports(protocol string) bool {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return true
		}
	}
	return false
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && string(x.Metadata) == string(y.Metadata)
	})
}

type topicPartition struct {
	topic     string
	partition int32
}

type committedOffset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	timestamp   int64
}

// group is one consumer group. mu guards every field.
type group struct {
	gc   *groupCoordinator
	name string

	mu           sync.Mutex
	state        groupState
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // group.instance.id → member id
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED
	offsets      map[topicPartition]committedOffset
	// pendingTxn holds offsets committed inside transactions, by
	// producer id, until the transaction's marker commits or aborts them.
	pendingTxn map[int64]map[topicPartition]committedOffset
	stateSince time.Time

	// rebalance fires when the members that have not rejoined are
	// given up on; initialDelay holds an empty group's first rebalance
	// open for more members (group.initial.rebalance.delay.ms).
	rebalance    *time.Timer
	initialDelay bool
}

func newGroup(gc *groupCoordinator, name string) *group {
	return &group{
		gc:         gc,
		name:       name,
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]time.Time),
		offsets:    make(map[topicPartition]committedOffset),
		stateSince: time.Now(),
	}
}

func (g *group) setStateLocked(s groupState) {
	if g.state != s {
		g.gc.log.Debug("group state", "group", g.name, "from", g.state, "to", s, "generation", g.generation)
	}
	g.state = s
	g.stateSince = time.Now()
}

func newMemberID(clientID string) string {
	var u [16]byte
	rand.Read(u[:])
	return clientID + "-" + hex.EncodeToString(u[:4]) + "-" + hex.EncodeToString(u[4:6]) + "-" +
		hex.EncodeToString(u[6:8]) + "-" + hex.EncodeToString(u[8:10]) + "-" + hex.EncodeToString(u[10:])
}

// joinResult is what a join returns right away: a response, or a channel
// that will carry one when the rebalance completes.
type joinResult struct {
	resp *kmsg.JoinGroupResponse
	wait chan *kmsg.JoinGroupResponse
}

func joinError(code int16, memberID string) joinResult {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = memberID
	return joinResult{resp: resp}
}

// join handles a JoinGroup request. REQUIRES: the caller validated the
// request's timeouts and protocols.
func (g *group) join(req *kmsg.JoinGroupRequest, clientID, clientHost string) joinResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupDead {
		return joinError(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	if g.state != groupEmpty || len(g.members) > 0 {
		if req.ProtocolType != g.protocolType || !g.anyCommonProtocolLocked(req.Protocols) {
			return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
		}
	}

	if req.MemberID == "" {
		id := newMemberID(clientID)
		if req.InstanceID != nil {
			if old, ok := g.static[*req.InstanceID]; ok {
				return g.replaceStaticLocked(old, id, req)
			}
			return g.addMemberLocked(id, req, clientID, clientHost)
		}
		if req.Version >= 4 {
			// KIP-394: hand out an id first, so a client that times out
			// and retries does not leave ghost members behind.
			g.pending[id] = time.Now().Add(time.Duration(req.SessionTimeoutMillis) * time.Millisecond)
			return joinError(kerr.MemberIDRequired.Code, id)
		}
		return g.addMemberLocked(id, req, clientID, clientHost)
	}

	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		return g.addMemberLocked(req.MemberID, req, clientID, clientHost)
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return joinError(kerr.UnknownMemberID.Code, req.MemberID)
	}
	if code := g.checkInstanceLocked(m, req.InstanceID); code != 0 {
		return joinError(code, req.MemberID)
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols = req.Protocols
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	m.rebalanceTimeout = rebalanceTimeout(req)
	switch g.state {
	case groupPreparingRebalance:
		return g.awaitJoinLocked(m)
	case groupCompletingRebalance:
		if !changed {
			// The member lost its join response; give it again.
			return joinResult{resp: g.joinResponseLocked(m)}
		}
	case groupStable:
		if !changed && m.id != g.leader {
			return joinResult{resp: g.joinResponseLocked(m)}
		}
	}
	res := g.awaitJoinLocked(m)
	g.prepareRebalanceLocked("member " + m.id + " rejoined with new metadata")
	return res
}

func rebalanceTimeout(req *kmsg.JoinGroupRequest) time.Duration {
	if req.Version == 0 {
		return time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	}
	return time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
}

// checkInstanceLocked fences a member id that no longer owns its static
// instance id.
func (g *group) checkInstanceLocked(m *member, instanceID *string) int16 {
	if instanceID == nil {
		return 0
	}
	if owner, ok := g.static[*instanceID]; ok && owner != m.id {
		return kerr.FencedInstanceID.Code
	}
	return 0
}

func (g *group) anyCommonProtocolLocked(ps []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (g *group) addMemberLocked(id string, req *kmsg.JoinGroupRequest, clientID, clientHost string) joinResult {
	if g.state == groupEmpty && len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         clientID,
		clientHost:       clientHost,
		sessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		rebalanceTimeout: rebalanceTimeout(req),
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
	}
	g.members[id] = m
	if req.InstanceID != nil {
		g.static[*req.InstanceID] = id
	}
	res := g.awaitJoinLocked(m)
	g.prepareRebalanceLocked("member " + id + " joined")
	return res
}

// replaceStaticLocked handles a static member coming back with a new
// member id (KIP-345): the old id is fenced and, if nothing else changed,
// the group keeps its assignment without a rebalance.
func (g *group) replaceStaticLocked(oldID, newID string, req *kmsg.JoinGroupRequest) joinResult {
	m := g.members[oldID]
	if m == nil {
		delete(g.static, *req.InstanceID)
		return g.addMemberLocked(newID, req, "", "")
	}
	// Answer the old incarnation's waits, if any, with FENCED_INSTANCE_ID.
	if m.joinWait != nil {
		m.joinWait <- joinError(kerr.FencedInstanceID.Code, oldID).resp
		m.joinWait = nil
	}
	if m.syncWait != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = kerr.FencedInstanceID.Code
		m.syncWait <- resp
		m.syncWait = nil
	}
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols = req.Protocols
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	m.rebalanceTimeout = rebalanceTimeout(req)
	if g.state == groupStable && !changed {
		g.resetSessionLocked(m)
		resp := g.joinResponseLocked(m)
		if req.Version >= 9 && m.id == g.leader {
			resp.SkipAssignment = true // KIP-814: the leader keeps the assignment it made
		}
		g.gc.persistGroupAsync(g)
		return joinResult{resp: resp}
	}
	res := g.awaitJoinLocked(m)
	g.prepareRebalanceLocked("static member " + *req.InstanceID + " rejoined")
	return res
}

func (g *group) awaitJoinLocked(m *member) joinResult {
	if m.joinWait != nil {
		// A retried join replaces the earlier one; that one gets an error.
		m.joinWait <- joinError(kerr.RebalanceInProgress.Code, m.id).resp
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.joinWait = ch
	if m.session != nil {
		m.session.Stop()
		m.session = nil
	}
	if g.state == groupPreparingRebalance {
		g.maybeCompleteJoinLocked()
	}
	return joinResult{wait: ch}
}

// prepareRebalanceLocked starts a rebalance: members waiting for an
// assignment are told to rejoin, and a deadline is set for everyone to
// rejoin.
func (g *group) prepareRebalanceLocked(reason string) {
	if g.state == groupPreparingRebalance {
		g.maybeCompleteJoinLocked()
		return
	}
	g.gc.log.Info("rebalancing group", "group", g.name, "reason", reason, "generation", g.generation, "members", len(g.members))
	if g.state == groupCompletingRebalance {
		for _, m := range g.members {
			if m.syncWait != nil {
				resp := kmsg.NewPtrSyncGroupResponse()
				resp.ErrorCode = kerr.RebalanceInProgress.Code
				m.syncWait <- resp
				m.syncWait = nil
			}
		}
	}
	wasEmpty := g.state == groupEmpty
	g.setStateLocked(groupPreparingRebalance)
	var deadline time.Duration
	for _, m := range g.members {
		deadline = max(deadline, m.rebalanceTimeout)
	}
	if wasEmpty && g.gc.initialDelay > 0 {
		// Let more members of a starting application arrive before the
		// first assignment, as Kafka does.
		deadline = min(g.gc.initialDelay, max(deadline, time.Millisecond))
		g.initialDelay = true
	}
	g.stopRebalanceTimerLocked()
	g.rebalance = time.AfterFunc(deadline, g.rebalanceDeadline)
	g.maybeCompleteJoinLocked()
}

func (g *group) stopRebalanceTimerLocked() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	g.initialDelay = false
}

// rebalanceDeadline runs when the rebalance (or the initial delay) is
// over: members that did not rejoin are removed and the join completes.
func (g *group) rebalanceDeadline() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != groupPreparingRebalance {
		return
	}
	g.rebalance = nil
	if g.initialDelay {
		g.initialDelay = false
		if !g.allJoinedLocked() {
			// Give the members that were there the rest of the usual deadline.
			var deadline time.Duration
			for _, m := range g.members {
				deadline = max(deadline, m.rebalanceTimeout)
			}
			g.rebalance = time.AfterFunc(deadline, g.rebalanceDeadline)
			return
		}
	}
	for id, m := range g.members {
		if m.joinWait == nil {
			g.gc.log.Info("removing member that did not rejoin in time", "group", g.name, "member", id)
			g.removeMemberLocked(m)
		}
	}
	g.completeJoinLocked()
}

func (g *group) allJoinedLocked() bool {
	for _, m := range g.members {
		if m.joinWait == nil {
			return false
		}
	}
	return true
}

func (g *group) maybeCompleteJoinLocked() {
	if g.state == groupPreparingRebalance && !g.initialDelay && g.allJoinedLocked() {
		g.completeJoinLocked()
	}
}

// completeJoinLocked ends the join phase: a new generation, a protocol,
// a leader, and a response to every waiting member.
func (g *group) completeJoinLocked() {
	g.stopRebalanceTimerLocked()
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setStateLocked(groupEmpty)
		g.gc.persistGroupAsync(g)
		return
	}
	g.protocol = g.selectProtocolLocked()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for id := range g.members {
			if g.leader == "" || id < g.leader {
				g.leader = id
			}
		}
	}
	for _, m := range g.members {
		m.assignment = nil
	}
	g.setStateLocked(groupCompletingRebalance)
	for _, m := range g.members {
		if m.joinWait != nil {
			m.joinWait <- g.joinResponseLocked(m)
			m.joinWait = nil
		}
		g.resetSessionLocked(m)
	}
	g.gc.log.Info("group rebalanced", "group", g.name, "generation", g.generation, "protocol", g.protocol, "leader", g.leader, "members", len(g.members))
}

// selectProtocolLocked picks the protocol every member supports that most
// members prefer, as Kafka does.
func (g *group) selectProtocolLocked() string {
	var candidates []string
	for _, m := range g.members {
		for _, p := range m.protocols {
			ok := true
			for _, o := range g.members {
				if !o.supports(p.Name) {
					ok = false
					break
				}
			}
			if ok && !slices.Contains(candidates, p.Name) {
				candidates = append(candidates, p.Name)
			}
		}
		break
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *group) joinResponseLocked(m *member) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.members {
			resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{
				MemberID: o.id, InstanceID: o.instanceID, ProtocolMetadata: o.metadataFor(g.protocol),
			})
		}
		slices.SortFunc(resp.Members, func(a, b kmsg.JoinGroupResponseMember) int {
			return compareStrings(a.MemberID, b.MemberID)
		})
	}
	return resp
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// resetSessionLocked restarts m's session timer.
func (g *group) resetSessionLocked(m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	id := m.id
	m.session = time.AfterFunc(m.sessionTimeout, func() { g.expire(id, m) })
}

// expire removes a member whose session timed out.
func (g *group) expire(id string, m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.members[id]; !ok || cur != m || m.joinWait != nil {
		return
	}
	g.gc.log.Info("member session expired", "group", g.name, "member", id, "session_timeout", m.sessionTimeout)
	g.removeMemberLocked(m)
	g.afterRemovalLocked("member " + id + " session expired")
}

// removeMemberLocked drops m, answering any wait it has.
func (g *group) removeMemberLocked(m *member) {
	if m.session != nil {
		m.session.Stop()
		m.session = nil
	}
	if m.joinWait != nil {
		m.joinWait <- joinError(kerr.UnknownMemberID.Code, m.id).resp
		m.joinWait = nil
	}
	if m.syncWait != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = kerr.UnknownMemberID.Code
		m.syncWait <- resp
		m.syncWait = nil
	}
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
}

func (g *group) afterRemovalLocked(reason string) {
	switch g.state {
	case groupStable, groupCompletingRebalance:
		g.prepareRebalanceLocked(reason)
	case groupPreparingRebalance:
		if len(g.members) == 0 {
			g.completeJoinLocked()
		} else {
			g.maybeCompleteJoinLocked()
		}
	}
}

// syncResult is SyncGroup's immediate answer or a channel for it.
type syncResult struct {
	resp    *kmsg.SyncGroupResponse
	wait    chan *kmsg.SyncGroupResponse
	persist bool // the leader's sync ended a rebalance: record the group
}

func syncError(code int16) syncResult {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = code
	return syncResult{resp: resp}
}

func (g *group) sync(req *kmsg.SyncGroupRequest) syncResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[req.MemberID]
	switch {
	case g.state == groupDead || !ok:
		return syncError(kerr.UnknownMemberID.Code)
	case g.checkInstanceLocked(m, req.InstanceID) != 0:
		return syncError(kerr.FencedInstanceID.Code)
	case req.Generation != g.generation:
		return syncError(kerr.IllegalGeneration.Code)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return syncError(kerr.InconsistentGroupProtocol.Code)
	}
	g.resetSessionLocked(m)
	switch g.state {
	case groupPreparingRebalance:
		return syncError(kerr.RebalanceInProgress.Code)
	case groupStable:
		if m.id == g.leader && len(req.GroupAssignment) > 0 {
			g.applyAssignmentsLocked(req.GroupAssignment)
		}
		return syncResult{resp: g.syncResponseLocked(m)}
	case groupCompletingRebalance:
		ch := make(chan *kmsg.SyncGroupResponse, 1)
		if m.syncWait != nil {
			m.syncWait <- syncError(kerr.RebalanceInProgress.Code).resp
		}
		m.syncWait = ch
		if m.id != g.leader {
			return syncResult{wait: ch}
		}
		g.applyAssignmentsLocked(req.GroupAssignment)
		g.setStateLocked(groupStable)
		for _, o := range g.members {
			if o.syncWait != nil {
				o.syncWait <- g.syncResponseLocked(o)
				o.syncWait = nil
			}
		}
		return syncResult{wait: ch, persist: true}
	}
	return syncError(kerr.UnknownMemberID.Code)
}

func (g *group) applyAssignmentsLocked(as []kmsg.SyncGroupRequestGroupAssignment) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range as {
		if m, ok := g.members[a.MemberID]; ok {
			m.assignment = a.MemberAssignment
		}
	}
}

func (g *group) syncResponseLocked(m *member) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (g *group) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[req.MemberID]
	switch {
	case g.state == groupDead || !ok:
		return kerr.UnknownMemberID.Code
	case g.checkInstanceLocked(m, req.InstanceID) != 0:
		return kerr.FencedInstanceID.Code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	if m.joinWait == nil {
		g.resetSessionLocked(m)
	}
	if g.state == groupPreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leave removes members by id or instance id; it returns a code per
// member in request order.
func (g *group) leave(ids []string, instances []*string) []int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	codes := make([]int16, len(ids))
	removed := 0
	for i, id := range ids {
		if instances[i] != nil {
			owner, ok := g.static[*instances[i]]
			switch {
			case !ok:
				codes[i] = kerr.UnknownMemberID.Code
				continue
			case id != "" && owner != id:
				codes[i] = kerr.FencedInstanceID.Code
				continue
			}
			id = owner
		}
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			continue
		}
		m, ok := g.members[id]
		if !ok {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		g.gc.log.Info("member left group", "group", g.name, "member", id)
		g.removeMemberLocked(m)
		removed++
	}
	if removed > 0 {
		g.afterRemovalLocked("member left")
	}
	return codes
}

// offsetCommitCheck validates a commit's member and generation. A
// generation of -1 with no member id is a "simple" commit, allowed while
// the group has no members.
func (g *group) offsetCommitCheckLocked(generation int32, memberID string, instanceID *string) int16 {
	if generation < 0 && memberID == "" {
		if len(g.members) == 0 {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	m, ok := g.members[memberID]
	switch {
	case !ok:
		return kerr.UnknownMemberID.Code
	case g.checkInstanceLocked(m, instanceID) != 0:
		return kerr.FencedInstanceID.Code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	case g.state == groupCompletingRebalance:
		return kerr.RebalanceInProgress.Code
	}
	if m.joinWait == nil {
		g.resetSessionLocked(m)
	}
	return 0
}

// waitJoin waits for a join's response, or for ctx.
func waitJoin(ctx context.Context, res joinResult) *kmsg.JoinGroupResponse {
	if res.resp != nil {
		return res.resp
	}
	select {
	case resp := <-res.wait:
		return resp
	case <-ctx.Done():
		return joinError(kerr.CoordinatorNotAvailable.Code, "").resp
	}
}

func waitSync(ctx context.Context, res syncResult) *kmsg.SyncGroupResponse {
	if res.resp != nil {
		return res.resp
	}
	select {
	case resp := <-res.wait:
		return resp
	case <-ctx.Done():
		return syncError(kerr.CoordinatorNotAvailable.Code).resp
	}
}

// stop cancels the group's timers (broker shutdown).
func (g *group) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopRebalanceTimerLocked()
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
			m.session = nil
		}
	}
	g.setStateLocked(groupDead)
}

func (g *group) addPendingTxnLocked(pid int64, tp topicPartition, o committedOffset) {
	if g.pendingTxn == nil {
		g.pendingTxn = make(map[int64]map[topicPartition]committedOffset)
	}
	if g.pendingTxn[pid] == nil {
		g.pendingTxn[pid] = make(map[topicPartition]committedOffset)
	}
	g.pendingTxn[pid][tp] = o
}
