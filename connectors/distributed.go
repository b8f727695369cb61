package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Distributed mode (WorkerConfig.GroupID set): the workers of a group
// share the connectors' tasks.
//
//   - Every worker tails the configs topic and applies each record to its
//     own view of the connectors; REST calls on any worker write there and
//     wait until their own worker has applied the change. Every worker
//     prepares every connector (Start, TaskConfigs), so task
//     configurations must be deterministic functions of the connector's
//     config, as they are for the built-in connectors.
//   - The workers are members of a group (GroupID) subscribed to the
//     configs topic, with their own assignment strategy ("eddy-connect"):
//     the leader spreads connectors and tasks round-robin over the members
//     ordered by worker id and sends each member its share in the
//     assignment's user data.
//   - Rebalances are incremental and cooperative, like Kafka Connect's
//     default protocol since 2.3 (KIP-415): a worker keeps running its
//     tasks through a rebalance and tells the leader which ones it runs
//     (in its subscription's user data). The leader balances the tasks
//     sticky: a task stays with the worker running it unless that worker
//     has more than its share. A task that moves is first revoked: in that
//     generation nobody gets it, the worker running it stops it (sink
//     tasks flush and commit, source tasks write their offsets) and asks
//     for another rebalance, in which it reports it no longer runs it and
//     the leader gives it to its new owner. So no task runs twice, and
//     the tasks that do not move are never interrupted.
//   - When a worker leaves the group (it is restarting, partitioned, or
//     closed: a graceful Close counts as leaving, as in Kafka Connect), its
//     tasks are not reassigned at once (KIP-415's scheduled rebalance
//     delay, WorkerConfig.ScheduledRebalanceMaxDelay): the leader holds
//     them back, given to nobody, until the delay ends, counted from the
//     rebalance that found the first of them lost. A worker that comes
//     back in time (the same worker id) gets them back; when the delay
//     ends the leader rejoins the group, and in that rebalance the tasks
//     still held are assigned like new ones, to the workers below their
//     share first (a worker that joined meanwhile is one). While tasks are
//     held the leader revokes none for balance. The leader's own tasks
//     cannot be held: a new leader does not know the last assignment, and
//     assigns every task that runs nowhere (Kafka Connect does the same).
//     Connectors run on every worker here, so only tasks are held; the
//     connector's owner in statuses moves at once.
//   - Statuses are read back from the status topic, so any worker answers
//     for tasks running elsewhere.
type distributed struct {
	w      *Worker
	group  sarama.ConsumerGroup
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	rejoin chan struct{} // buffered 1: a rejoin is wanted

	// mu guards the following.
	mu         sync.Mutex
	mine       assignment            // this worker's latest assignment
	plans      map[string]assignment // leader only: by member id, for AssignmentData
	remote     map[string]StateInfo  // status topic records, by key
	consumers  []sarama.PartitionConsumer
	tailClient sarama.Client
	// joining: a Consume call is joining the group (JoinGroup, SyncGroup:
	// requests the coordinator may hold up to the rebalance timeout);
	// stopping: stop was called.
	joining, stopping bool

	groupClient sarama.Client     // the group's own
	groupConns  map[net.Conn]bool // groupClient's connections

	// Leader only: the tasks' last assignment and those held back for
	// workers that left; lostTimer asks for the rebalance that ends the
	// delay.
	assignor  taskAssignor
	lostTimer *time.Timer
}

// assignment is one member's share, sent in the assignment's user data.
type assignment struct {
	Generation int32             `json:"generation"`
	Leader     string            `json:"leader"`
	Tasks      map[string][]int  `json:"tasks"`  // connector → task ids to run here
	Owners     map[string]string `json:"owners"` // connector → worker id running its Connector, for every connector
	LeaderURL  string            `json:"leader_url,omitempty"`
	// Held are the tasks (connector → ids) of workers that left, held back
	// for them until the scheduled rebalance delay ends: nobody runs them.
	Held map[string][]int `json:"held,omitempty"`
}

func newDistributed(w *Worker) *distributed {
	ctx, cancel := context.WithCancel(context.Background())
	return &distributed{w: w, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		rejoin: make(chan struct{}, 1), remote: map[string]StateInfo{},
		assignor: taskAssignor{delay: w.cfg.ScheduledRebalanceMaxDelay}}
}

// start tails the configs topic from configsEnd and the status topic from
// the beginning, and joins the group.
func (d *distributed) start(configsEnd int64) error {
	w := d.w
	sc := saramaConfig(w.cfg, workerClient)
	client, err := sarama.NewClient(w.cfg.Brokers, sc)
	if err != nil {
		return err
	}
	d.tailClient = client
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	pc, err := consumer.ConsumePartition(w.cfg.ConfigTopic, 0, configsEnd)
	if err != nil {
		return fmt.Errorf("connectors: tailing %s: %w", w.cfg.ConfigTopic, err)
	}
	d.consumers = append(d.consumers, pc)
	go d.tailConfigs(pc)
	parts, err := client.Partitions(w.cfg.StatusTopic)
	if err != nil {
		return err
	}
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(w.cfg.StatusTopic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("connectors: tailing %s: %w", w.cfg.StatusTopic, err)
		}
		d.consumers = append(d.consumers, pc)
		go d.tailStatus(pc)
	}

	gc := saramaConfig(w.cfg, workerClient, func(gc *sarama.Config) {
		gc.ClientID = "eddy-connect-worker"
		gc.Consumer.Group.Session.Timeout = 10 * time.Second
		gc.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		gc.Consumer.Group.Rebalance.Timeout = 60 * time.Second
		gc.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
		gc.Consumer.Offsets.Initial = sarama.OffsetNewest
	})
	gc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{d}
	// The group has a client of its own, whose connections stop can close
	// to end a join (see breakJoin).
	gd := &groupDialer{d: d, inner: &net.Dialer{Timeout: gc.Net.DialTimeout, KeepAlive: gc.Net.KeepAlive, LocalAddr: gc.Net.LocalAddr}}
	if gc.Net.Proxy.Enable {
		gd.inner = gc.Net.Proxy.Dialer
	}
	gc.Net.Proxy.Enable, gc.Net.Proxy.Dialer = true, gd
	groupClient, err := sarama.NewClient(w.cfg.Brokers, gc)
	if err != nil {
		return fmt.Errorf("connectors: joining group %s: %w", w.cfg.GroupID, err)
	}
	group, err := sarama.NewConsumerGroupFromClient(w.cfg.GroupID, groupClient)
	if err != nil {
		groupClient.Close()
		return fmt.Errorf("connectors: joining group %s: %w", w.cfg.GroupID, err)
	}
	d.groupClient, d.group = groupClient, group
	go d.run()
	return nil
}

// stop leaves the group and stops tailing. Local tasks are stopped by the
// membership loop on its way out.
//
// A join in progress is ended rather than waited for: sarama's JoinGroup
// and SyncGroup requests take no context, and the coordinator may hold
// them until the group's rebalance timeout (waiting for the other
// members to rejoin).
func (d *distributed) stop() {
	d.mu.Lock()
	d.cancel()
	d.stopping = true
	joining := d.joining
	if d.lostTimer != nil {
		d.lostTimer.Stop()
	}
	d.mu.Unlock()
	if joining {
		d.breakJoin()
	}
	<-d.done
	d.group.Close() // leaves the group: it reconnects to the coordinator
	d.groupClient.Close()
	// AsyncClose: a Close would wait out each consumer's long poll in turn.
	for _, pc := range d.consumers {
		pc.AsyncClose()
	}
	d.tailClient.Close()
}

// breakJoin closes the group client's connections under sarama (whose
// Broker.Close would wait for the request in flight): a JoinGroup or
// SyncGroup request waiting on one fails at once, as does one about to
// be sent. Until the join has ended the dialer refuses new connections,
// then it lets the group's Close connect again to leave the group.
func (d *distributed) breakJoin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.groupConns {
		_ = c.Close()
	}
	clear(d.groupConns)
}

// groupDialer connects the group's client, keeping its connections for
// breakJoin.
type groupDialer struct {
	d     *distributed
	inner interface {
		Dial(network, addr string) (net.Conn, error)
	}
}

// Dial implements sarama's proxy.Dialer.
func (g *groupDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := g.inner.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	d := g.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping && d.joining {
		c.Close()
		return nil, errors.New("connectors: the worker is stopping")
	}
	if d.groupConns == nil {
		d.groupConns = map[net.Conn]bool{}
	}
	d.groupConns[c] = true
	return &groupConn{Conn: c, d: d}, nil
}

// groupConn forgets itself when closed.
type groupConn struct {
	net.Conn
	d *distributed
}

// Close implements net.Conn.
func (c *groupConn) Close() error {
	c.d.mu.Lock()
	delete(c.d.groupConns, c.Conn)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

func (d *distributed) requestRejoin() {
	select {
	case d.rejoin <- struct{}{}:
	default:
	}
}

func (d *distributed) setJoining(joining bool) {
	d.mu.Lock()
	d.joining = joining
	d.mu.Unlock()
}

// run is the membership loop: one group session after another, stopping
// every local task between sessions.
func (d *distributed) run() {
	defer close(d.done)
	select {
	case <-d.rejoin: // asked for while the worker started; the first join covers it
	default:
	}
	for d.ctx.Err() == nil {
		sctx, cancel := context.WithCancel(d.ctx)
		go func() {
			select {
			case <-d.rejoin:
				cancel()
			case <-sctx.Done():
			}
		}()
		d.setJoining(true) // until Setup
		err := d.group.Consume(sctx, []string{d.w.cfg.ConfigTopic}, d)
		d.setJoining(false)
		rejoining := sctx.Err() != nil // we ended the session to rejoin (or are stopping)
		cancel()
		if err != nil && !rejoining && d.ctx.Err() == nil {
			// Out of the group (the coordinator is unreachable, the join
			// failed): the others may be given our tasks, so stop them.
			d.w.logger.Warn("group session ended; stopping this worker's tasks until it rejoins",
				"group", d.w.cfg.GroupID, "err", err)
			d.w.stopLocalTasks()
			_ = sleepCtx(d.ctx, 500*time.Millisecond)
		}
	}
	// Leaving: stop the tasks before the group hears of it (stop closes the
	// group after this), so that their next owners start after them.
	d.w.stopLocalTasks()
}

// stopLocalTasks stops every task running in this worker, side by side.
func (w *Worker) stopLocalTasks() {
	w.mu.Lock()
	var all []*taskRun
	for _, cr := range w.connectors {
		cr.mu.Lock()
		all = append(all, cr.tasks...)
		cr.tasks = nil
		cr.mu.Unlock()
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range all {
		wg.Add(1)
		go func() { defer wg.Done(); w.stopTask(t) }()
	}
	wg.Wait()
}

// Setup applies this worker's share of the new generation: it stops the
// tasks it runs that are not in it (revoked: asking for another rebalance,
// so their new owners get them) and starts those it does not run yet.
func (d *distributed) Setup(sess sarama.ConsumerGroupSession) error {
	d.mu.Lock()
	a := d.mine
	d.joining = false
	d.mu.Unlock()
	w := d.w
	// Source tasks start from the offsets their last owner wrote.
	if err := w.restoreOffsets(sess.Context()); err != nil {
		w.logger.Warn("re-reading source offsets", "err", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var revoked []*taskRun
	started := 0
	for _, name := range sortedKeys(w.connectors) {
		cr := w.connectors[name]
		assigned := map[int]bool{}
		if cr.target != targetStopped {
			for _, id := range a.Tasks[name] {
				assigned[id] = true
			}
		}
		cr.mu.Lock()
		running := map[int]bool{}
		kept := cr.tasks[:0]
		for _, t := range cr.tasks {
			if assigned[t.id] && !running[t.id] {
				running[t.id] = true
				kept = append(kept, t)
			} else {
				revoked = append(revoked, t)
			}
		}
		cr.tasks = kept
		cr.mu.Unlock()
		for _, id := range a.Tasks[name] {
			if assigned[id] && !running[id] {
				w.startLocalTask(cr, id)
				started++
			}
		}
	}
	var wg sync.WaitGroup
	for _, t := range revoked {
		wg.Add(1)
		go func() { defer wg.Done(); w.stopTask(t) }()
	}
	wg.Wait()
	w.logger.Info("group assignment", "generation", sess.GenerationID(), "leader", a.Leader,
		"started", started, "revoked", len(revoked))
	if len(revoked) > 0 {
		d.requestRejoin() // the leader hands them on once we no longer claim them
	}
	return nil
}

func (d *distributed) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim drains the configs topic partition the member may be
// given; the configs are read by tailConfigs.
func (d *distributed) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case _, ok := <-claim.Messages():
			if !ok {
				return nil
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// Name is the strategy's protocol name in JoinGroup.
func (d *distributed) Name() string { return "eddy-connect" }

// memberData is a member's subscription user data.
type memberData struct {
	WorkerID string           `json:"worker_id"`
	URL      string           `json:"url,omitempty"`
	Running  map[string][]int `json:"running,omitempty"` // connector → task ids running here now
}

// SubscriptionUserData tells the leader this member's worker id, REST URL
// and the tasks it runs.
func (d *distributed) SubscriptionUserData([]string) ([]byte, error) {
	w := d.w
	md := memberData{WorkerID: w.cfg.WorkerID, URL: w.cfg.RESTURL, Running: map[string][]int{}}
	w.mu.Lock()
	for name, cr := range w.connectors {
		cr.mu.Lock()
		for _, t := range cr.tasks {
			md.Running[name] = append(md.Running[name], t.id)
		}
		cr.mu.Unlock()
	}
	w.mu.Unlock()
	return json.Marshal(md)
}

// leader returns the leader's REST URL ("" when unknown or when it has
// none) and whether this worker is the leader.
func (d *distributed) leader() (url string, self bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mine.Leader == "" {
		return "", false
	}
	return d.mine.LeaderURL, d.mine.Leader == d.w.cfg.WorkerID
}

// Plan runs on the leader: connectors round-robin over the members
// ordered by worker id (for statuses), tasks balanced sticky, those of
// workers that left held back during the scheduled rebalance delay (see
// taskAssignor).
func (d *distributed) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	ms := make([]planMember, 0, len(members))
	for id, meta := range members {
		var md memberData
		_ = json.Unmarshal(meta.UserData, &md)
		ms = append(ms, planMember{id: id, worker: md.WorkerID, running: md.Running})
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].worker != ms[j].worker {
			return ms[i].worker < ms[j].worker
		}
		return ms[i].id < ms[j].id
	})
	w := d.w
	w.mu.Lock()
	var conns []planConnector
	for _, name := range sortedKeys(w.connectors) {
		cr := w.connectors[name]
		cr.mu.Lock()
		conns = append(conns, planConnector{name, len(cr.taskConfigs)})
		cr.mu.Unlock()
	}
	w.mu.Unlock()

	owners := map[string]string{}
	for i, c := range conns {
		owners[c.name] = ms[i%len(ms)].worker
	}
	now := time.Now()
	d.mu.Lock()
	tasks, held := d.assignor.assign(ms, conns, now)
	deadline := d.assignor.deadline
	if d.lostTimer != nil {
		d.lostTimer.Stop()
		d.lostTimer = nil
	}
	if len(held) > 0 && !d.stopping {
		// Nothing else may happen in the group until then: rejoin when the
		// delay ends, so that a rebalance reassigns the tasks still held.
		d.lostTimer = time.AfterFunc(deadline.Sub(now), d.requestRejoin)
		w.logger.Info("holding back the tasks of workers that left until the scheduled rebalance delay ends",
			"tasks", len(d.assignor.lost), "until", deadline.Format(time.RFC3339))
	}
	d.mu.Unlock()
	plans := make(map[string]assignment, len(ms))
	for _, m := range ms {
		plans[m.id] = assignment{Leader: w.cfg.WorkerID, LeaderURL: w.cfg.RESTURL, Tasks: tasks[m.id], Owners: owners, Held: held}
	}
	plan := sarama.BalanceStrategyPlan{}
	for i, m := range ms {
		plan[m.id] = map[string][]int32{}
		if i == 0 {
			for topic, parts := range topics {
				plan.Add(m.id, topic, parts...)
			}
		}
	}
	d.mu.Lock()
	d.plans = plans
	d.mu.Unlock()
	return plan, nil
}

// taskAssignor is the leader's memory between plans, for the scheduled
// rebalance delay (Kafka Connect's scheduled.rebalance.max.delay.ms,
// KIP-415): a task assigned to a worker that is no longer in the group,
// and running nowhere, is lost; it is held back (given to nobody) until
// the delay, counted from the plan that found the first lost task, ends,
// unless its worker (the same worker id) comes back first and gets it
// again. Tasks lost while others are held wait for the same deadline.
// When the deadline has passed, the plan assigns the held tasks like new
// ones. delay <= 0: lost tasks are assigned at once.
type taskAssignor struct {
	delay    time.Duration
	prev     map[taskKey]string // task → worker id it was assigned to by the last plan
	lost     map[taskKey]string // held back: task → the worker that left with it
	deadline time.Time          // when the held tasks are reassigned; zero when none are
}

// assign plans the tasks of members ms (sorted) at time now: each
// member's tasks (by member id), and the tasks held back, by connector.
// It remembers this plan for the next.
func (a *taskAssignor) assign(ms []planMember, conns []planConnector, now time.Time) (map[string]map[string][]int, map[string][]int) {
	exists := map[taskKey]bool{}
	for _, c := range conns {
		for t := range c.tasks {
			exists[taskKey{c.name, t}] = true
		}
	}
	present := map[string]int{} // worker id → index of its first member
	running := map[taskKey]bool{}
	for i := len(ms) - 1; i >= 0; i-- {
		present[ms[i].worker] = i
		for name, ids := range ms[i].running {
			for _, id := range ids {
				running[taskKey{name, id}] = true
			}
		}
	}
	if a.delay > 0 {
		for k, worker := range a.prev {
			if _, here := present[worker]; !here && exists[k] && !running[k] {
				if _, held := a.lost[k]; !held {
					if a.lost == nil {
						a.lost = map[taskKey]string{}
					}
					a.lost[k] = worker
				}
			}
		}
	}
	reclaim := map[taskKey]int{}
	for k, worker := range a.lost {
		if !exists[k] || running[k] {
			delete(a.lost, k)
		} else if i, back := present[worker]; back {
			reclaim[k] = i
			delete(a.lost, k)
		}
	}
	switch {
	case len(a.lost) == 0:
		a.deadline = time.Time{}
	case a.deadline.IsZero():
		a.deadline = now.Add(a.delay)
	case !now.Before(a.deadline): // the delay is over: assign them
		clear(a.lost)
		a.deadline = time.Time{}
	}
	hold := map[taskKey]bool{}
	held := map[string][]int{}
	for _, c := range conns { // in order, for stable ids
		for t := range c.tasks {
			if k := (taskKey{c.name, t}); a.lost[k] != "" {
				hold[k] = true
				held[k.connector] = append(held[k.connector], k.id)
			}
		}
	}
	tasks := balanceTasks(ms, conns, hold, reclaim)
	a.prev = map[taskKey]string{}
	for _, m := range ms {
		for name, ids := range tasks[m.id] {
			for _, id := range ids {
				a.prev[taskKey{name, id}] = m.worker
			}
		}
	}
	if len(held) == 0 {
		held = nil
	}
	return tasks, held
}

type planMember struct {
	id, worker string
	running    map[string][]int
}

type planConnector struct {
	name  string
	tasks int
}

type taskKey struct {
	connector string
	id        int
}

// balanceTasks gives each member (sorted) its tasks for this generation:
// every member gets its share (the task count divided by the members,
// the remainder going to the members running the most), keeping the tasks
// it runs, then those it reclaims, up to its share; the other tasks go to
// members below their share, in member order. A task that must move but
// still runs on another member is given to nobody this time: that member
// stops it and asks for another rebalance, after which it is free.
//
// Tasks in hold are given to nobody but count in the shares; while there
// are any, no member's share is below what it runs (no task is revoked
// for balance). reclaim maps tasks that run nowhere to the member that
// should have them back, within its share.
func balanceTasks(ms []planMember, conns []planConnector, hold map[taskKey]bool, reclaim map[taskKey]int) map[string]map[string][]int {
	var all []taskKey
	exists := map[taskKey]bool{}
	for _, c := range conns {
		for t := range c.tasks {
			k := taskKey{c.name, t}
			all = append(all, k)
			exists[k] = true
		}
	}
	claimant := map[taskKey]int{} // task → index of the first member running it
	claims := make([]int, len(ms))
	for i, m := range ms {
		for name, ids := range m.running {
			for _, id := range ids {
				k := taskKey{name, id}
				if _, dup := claimant[k]; !dup && exists[k] {
					claimant[k] = i
					claims[i]++
				}
			}
		}
	}
	share := make([]int, len(ms))
	order := make([]int, len(ms))
	for i := range ms {
		share[i] = len(all) / len(ms)
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return claims[order[a]] > claims[order[b]] })
	for _, i := range order[:len(all)%len(ms)] {
		share[i]++
	}
	if len(hold) > 0 {
		for i := range share {
			share[i] = max(share[i], claims[i])
		}
	}
	owner := map[taskKey]int{}
	load := make([]int, len(ms))
	var pool []taskKey
	for _, k := range all {
		if hold[k] {
			continue
		}
		if i, ok := claimant[k]; ok && load[i] < share[i] {
			owner[k] = i
			load[i]++
		} else if i, ok := reclaim[k]; ok && load[i] < share[i] && !isClaimed(claimant, k) {
			owner[k] = i
			load[i]++
		} else {
			pool = append(pool, k)
		}
	}
	next := 0
	for _, k := range pool {
		for load[next] >= share[next] {
			next++
		}
		owner[k] = next
		load[next]++
	}
	out := make(map[string]map[string][]int, len(ms))
	for _, m := range ms {
		out[m.id] = map[string][]int{}
	}
	for _, k := range all {
		i, ok := owner[k]
		if !ok {
			continue // held
		}
		if c, running := claimant[k]; running && c != i {
			continue // revoked from c this generation; i gets it in the next
		}
		out[ms[i].id][k.connector] = append(out[ms[i].id][k.connector], k.id)
	}
	return out
}

func isClaimed(claimant map[taskKey]int, k taskKey) bool {
	_, ok := claimant[k]
	return ok
}

// AssignmentData runs on the leader after Plan: each member's share.
func (d *distributed) AssignmentData(memberID string, _ map[string][]int32, generation int32) ([]byte, error) {
	d.mu.Lock()
	a := d.plans[memberID]
	d.mu.Unlock()
	a.Generation = generation
	return json.Marshal(a)
}

// OnAssignment receives this member's share before Setup.
func (d *distributed) OnAssignment(ma *sarama.ConsumerGroupMemberAssignment, generation int32) {
	var a assignment
	if err := json.Unmarshal(ma.UserData, &a); err != nil {
		d.w.logger.Error("undecodable group assignment", "err", err)
		return
	}
	d.mu.Lock()
	d.mine = a
	if a.Leader != d.w.cfg.WorkerID {
		// Another worker leads: should this one lead again, its memory of
		// the assignment would be stale.
		d.assignor = taskAssignor{delay: d.assignor.delay}
		if d.lostTimer != nil {
			d.lostTimer.Stop()
			d.lostTimer = nil
		}
	}
	d.mu.Unlock()
}

// tailConfigs applies configs-topic records written after start, by any
// worker, and asks for a rebalance when the set of tasks may have changed.
func (d *distributed) tailConfigs(pc sarama.PartitionConsumer) {
	for m := range pc.Messages() {
		w := d.w
		w.mu.Lock()
		changed := w.applyConfigRecordLocked(string(m.Key), m.Value)
		w.mu.Unlock()
		if changed {
			d.requestRejoin()
		}
	}
}

// applyConfigRecordLocked applies one configs-topic record and reports
// whether connectors or tasks changed. REQUIRES: w.mu.
func (w *Worker) applyConfigRecordLocked(key string, value []byte) bool {
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		old, exists := w.connectors[name]
		if value == nil {
			if !exists {
				return false
			}
			delete(w.connectors, name)
			w.stopConnector(old, "")
			w.metrics.forget(name)
			return true
		}
		var v struct {
			Properties map[string]string `json:"properties"`
		}
		if json.Unmarshal(value, &v) != nil || v.Properties == nil {
			return false
		}
		if exists && equalProps(old.config, v.Properties) {
			return false
		}
		plugin, ok := w.cfg.Plugins.Lookup(v.Properties[ConfigConnectorClass])
		if !ok {
			w.logger.Error("connector names an unknown plugin; skipping it", "connector", name, "class", v.Properties[ConfigConnectorClass])
			return false
		}
		target := targetStarted
		if exists {
			target = old.target
			w.stopConnector(old, "")
		}
		cr := &connectorRun{name: name, config: v.Properties, plugin: plugin, target: target}
		w.connectors[name] = cr
		w.startConnectorLocked(cr)
		return true
	case strings.HasPrefix(key, "restart-connector-"):
		cr, ok := w.connectors[strings.TrimPrefix(key, "restart-connector-")]
		var v struct {
			IncludeTasks bool `json:"include-tasks"`
			OnlyFailed   bool `json:"only-failed"`
		}
		if ok && value != nil && json.Unmarshal(value, &v) == nil {
			w.restartLocked(cr, v.IncludeTasks, v.OnlyFailed)
		}
		return false
	case strings.HasPrefix(key, "restart-task-"):
		rest := strings.TrimPrefix(key, "restart-task-")
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			return false
		}
		cr, ok := w.connectors[rest[:i]]
		id, err := strconv.Atoi(rest[i+1:])
		if !ok || err != nil {
			return false
		}
		cr.mu.Lock()
		var t *taskRun
		for _, x := range cr.tasks {
			if x.id == id {
				t = x
			}
		}
		cr.mu.Unlock()
		if t != nil {
			w.stopTask(t)
			w.setTaskState(cr, t, StateRestarting, "")
			w.startTask(cr, t)
		}
		return false
	case strings.HasPrefix(key, loggerRecordPrefix):
		w.applyLoggerRecord(strings.TrimPrefix(key, loggerRecordPrefix), value, w.knownLoggersLocked())
		return false
	case strings.HasPrefix(key, "target-state-"):
		cr, ok := w.connectors[strings.TrimPrefix(key, "target-state-")]
		var v struct {
			State string `json:"state"`
		}
		if !ok || value == nil || json.Unmarshal(value, &v) != nil || v.State == cr.target {
			return false
		}
		prev := cr.target
		w.applyTargetLocked(cr, v.State)
		return prev == targetStopped || v.State == targetStopped
	}
	return false
}

func equalProps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// tailStatus keeps the latest status record of every connector and task.
func (d *distributed) tailStatus(pc sarama.PartitionConsumer) {
	for m := range pc.Messages() {
		var v struct {
			State    string  `json:"state"`
			Trace    *string `json:"trace"`
			WorkerID string  `json:"worker_id"`
		}
		if m.Value == nil || json.Unmarshal(m.Value, &v) != nil {
			continue
		}
		si := StateInfo{State: v.State, WorkerID: v.WorkerID}
		if v.Trace != nil {
			si.Trace = *v.Trace
		}
		d.mu.Lock()
		d.remote[string(m.Key)] = si
		d.mu.Unlock()
	}
}

// awaitApplied waits until cond, checked under w.mu, holds: until this
// worker has applied a record it wrote to the configs topic.
func (d *distributed) awaitApplied(cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		d.w.mu.Lock()
		ok := cond()
		d.w.mu.Unlock()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connectors: the configs topic did not deliver the change within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// statusLocked fills in the tasks of a connector across the group: local
// tasks from memory, the others from the status topic.
// REQUIRES: w.mu and cr.mu.
func (d *distributed) statusLocked(cr *connectorRun, st ConnectorStatus) ConnectorStatus {
	local := map[int]*taskRun{}
	for _, t := range cr.tasks {
		local[t.id] = t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if owner := d.mine.Owners[cr.name]; owner != "" {
		st.Connector.WorkerID = owner
	}
	held := map[int]bool{}
	for _, id := range d.mine.Held[cr.name] {
		held[id] = true
	}
	for id := range cr.taskConfigs {
		si := StateInfo{State: StateUnassigned}
		if t, ok := local[id]; ok {
			si.State, si.Trace = t.status()
			si.WorkerID = d.w.cfg.WorkerID
		} else if r, ok := d.remote[fmt.Sprintf("status-task-%s-%d", cr.name, id)]; ok && r.WorkerID != d.w.cfg.WorkerID {
			si = r
			if held[id] {
				// Its worker left (its last status may say RUNNING): the
				// task waits for it, or for the delay to end.
				si.State, si.Trace = StateUnassigned, ""
			}
		}
		si.ID = &id
		st.Tasks = append(st.Tasks, si)
	}
	return st
}
