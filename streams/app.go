package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streams/eddy/state"
)

// Config configures an App.
type Config struct {
	// ApplicationID names the consumer group and prefixes internal topics
	// ("<id>-<store>-changelog", "<id>-<name>-repartition"). Required.
	ApplicationID string
	// Brokers are the bootstrap addresses. Required.
	Brokers []string
	// Sarama is the base client configuration (nil: sarama.NewConfig()).
	// The app copies it and sets what it relies on: manual offset commits,
	// oldest offsets for new groups, its own balance strategy, acks=all,
	// one request in flight per connection, Consumer.MaxWaitTime at most
	// 100ms. Records are produced by the app's own batching producer over
	// sarama's Broker.Produce (see App), so the Producer settings that
	// apply are RequiredAcks (forced to acks=all), Timeout, Retry.Max,
	// Retry.Backoff and MaxMessageBytes (the largest batch per partition).
	Sarama *sarama.Config
	// StateDir holds the stores, in StateDir/<application id>/<task>/<store>
	// (default: os.TempDir()/eddy-streams). Two instances of one app on one
	// machine need different directories.
	StateDir string
	// InMemoryStores keeps stores in memory; they are restored in full from
	// their changelogs whenever a task opens.
	InMemoryStores bool
	// CommitInterval is how often offsets are committed, after outputs and
	// changelog writes are acknowledged (default 1s).
	CommitInterval time.Duration
	// MaxTaskIdle is Kafka Streams' max.task.idle.ms: how long a task
	// reading several partitions waits when one of them has no buffered
	// record, instead of processing the others' records (which could then
	// be ahead in time of what that partition brings). 0, the default as in
	// Kafka, waits only for records the partition's high watermark says are
	// on the broker (being fetched, at most a few seconds), not for new
	// ones; a negative value never waits.
	MaxTaskIdle time.Duration
	// BufferedRecordsPerPartition bounds the records buffered per input
	// partition (Kafka's buffered.records.per.partition, default 1000):
	// fetching a partition pauses while its buffer is full.
	BufferedRecordsPerPartition int
	// ReplicationFactor of the internal topics the app creates (default 1).
	ReplicationFactor int16
	// OnDeserializationError and DeadLetterTopic: see ErrorPolicy.
	OnDeserializationError ErrorPolicy
	DeadLetterTopic        string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the app's Prometheus metrics (the Metric*
	// constants: records processed, process and commit latency,
	// restoration progress, late records dropped, suppression buffer
	// sizes, changelog records saved by store caches), labelled with
	// application_id and, where it applies, task and store. Nil: no
	// metrics. Instances of one app given the same Registerer share the
	// series.
	Registerer prometheus.Registerer
}

// maxFetchWait caps the consumer's Consumer.MaxWaitTime.
const maxFetchWait = 100 * time.Millisecond

// App runs a topology over Kafka through sarama, at least once: several
// instances with one ApplicationID share the input partitions through a
// consumer group.
//
// Tasks: one per (sub-topology, partition). The group's balance strategy
// (see BalanceStrategy) gives every instance whole tasks, keeping
// co-partitioned inputs together and tasks with their previous owner.
//
// Processing: each assigned input partition is consumed by its own
// goroutine, which buffers its records in the task's queue for that
// partition (fetching pauses while it is full); each task has a goroutine
// that processes the buffered record with the smallest timestamp across
// the task's partitions (waiting for an empty partition as MaxTaskIdle
// says), so that stream time advances in timestamp order across inputs.
// Outputs, repartition and changelog records are sent in batches,
// asynchronously.
//
// Commits: every CommitInterval, and before a rebalance or shutdown, all
// tasks pause; store caches are flushed; the app waits until every record
// produced so far is acknowledged; store checkpoints are written; then the
// offsets of the records processed are committed. A crash therefore loses
// nothing: records after the last commit are processed again.
type App struct {
	top *Topology
	cfg Config
	log *slog.Logger
	sc  *sarama.Config
	m   *appMetrics // nil without Config.Registerer

	client   sarama.Client
	pclient  sarama.Client // the producer's own connections
	producer *producer
	group    sarama.ConsumerGroup
	pub      *publisher
	globals  *globals

	// Set up by Run before consuming, read-only afterwards.
	refs       map[string]topicRef     // resolved topic -> ref
	subOf      map[string]*SubTopology // resolved source topic -> sub-topology
	subParts   map[int]int32           // sub-topology -> tasks (partitions)
	topicParts sync.Map                // resolved topic -> int32 partition count

	mu    sync.Mutex // guards the following
	tasks map[TaskID]*runningTask
	err   error

	processed atomic.Int64
	commits   atomic.Int64
	atCommit  atomic.Int64 // processed as of the last commit
	late      atomic.Int64 // records dropped by windowed operations
}

type runningTask struct {
	id TaskID
	mu sync.Mutex // held while the task processes a batch or commits
	// t is nil until the task's goroutine has opened it (restored its
	// stores); it is set under mu.
	t *task
	// streamTime is the stream time committed with the task's offsets, for
	// the task when it opens.
	streamTime time.Time
	// procTimes are the processors' observed stream times committed with
	// them (nil: the commit had none).
	procTimes map[string]time.Time
	offsets   map[topicPartition]int64 // next offset to commit
	dirty     bool

	// The input of the current generation (replaced by every Setup).
	in *taskInput
}

// taskInput is a task's input in one generation of the group: a queue per
// input partition, filled by ConsumeClaim, drained by the task's goroutine.
type taskInput struct {
	mu    sync.Mutex
	parts []*partitionQueue
	byTP  map[topicPartition]*partitionQueue
	wake  chan struct{} // capacity 1: records were buffered
	stop  chan struct{} // closed by Cleanup
	done  chan struct{} // closed when the task's goroutine has returned
}

// NewApp checks cfg and returns an App for t; Run starts it.
func NewApp(t *Topology, cfg Config) (*App, error) {
	if cfg.ApplicationID == "" {
		return nil, errors.New("streams: Config.ApplicationID is empty")
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("streams: Config.Brokers is empty")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "eddy-streams")
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.ReplicationFactor <= 0 {
		cfg.ReplicationFactor = 1
	}
	if cfg.BufferedRecordsPerPartition <= 0 {
		cfg.BufferedRecordsPerPartition = 1000
	}
	a := &App{top: t, cfg: cfg, log: cfg.Logger, tasks: map[TaskID]*runningTask{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	m, err := newAppMetrics(cfg.ApplicationID, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	a.m = m
	sc := sarama.NewConfig()
	if cfg.Sarama != nil {
		c := *cfg.Sarama
		sc = &c
	}
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{&assignor{a: a}}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Idempotent = false
	// Records of one partition must land in the order sent (changelogs
	// are replayed in order); with retries and no idempotence that takes
	// one request in flight (the producer sends one at a time anyway).
	sc.Net.MaxOpenRequests = 1
	// A partition resumed after a pause is fetched only once the fetch in
	// flight returns, which waits up to MaxWaitTime when the partitions it
	// asks for have nothing new: keep that short so that tasks do not
	// starve.
	if sc.Consumer.MaxWaitTime > maxFetchWait {
		sc.Consumer.MaxWaitTime = maxFetchWait
	}
	if sc.ClientID == "" || sc.ClientID == "sarama" {
		sc.ClientID = cfg.ApplicationID
	}
	a.sc = sc
	return a, nil
}

// Processed is the number of input records processed so far.
func (a *App) Processed() int64 { return a.processed.Load() }

// LateRecordsDropped counts the records that windowed aggregations and
// stream-stream joins dropped because they arrived after their window had
// closed (stream time past the window's end plus its grace period). Like
// Kafka Streams' dropped-records metric, a record of hopping or sliding
// windows counts once for each closed window it would have updated.
func (a *App) LateRecordsDropped() int64 { return a.late.Load() }

// Commits is the number of offset commits so far.
func (a *App) Commits() int64 { return a.commits.Load() }

// ProcessedAtCommit is Processed as of the last offset commit: a crash now
// would make the group reprocess at most Processed() - ProcessedAtCommit()
// of this instance's records.
func (a *App) ProcessedAtCommit() int64 { return a.atCommit.Load() }

func (a *App) fail(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

func (a *App) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Run creates the internal topics, joins the group and processes until ctx
// is done (then it commits, leaves the group and returns nil) or a failure
// (which it returns).
func (a *App) Run(ctx context.Context) error {
	client, err := sarama.NewClient(a.cfg.Brokers, a.sc)
	if err != nil {
		return fmt.Errorf("streams: connect: %w", err)
	}
	a.client = client
	defer client.Close()
	if err := a.setupTopics(ctx); err != nil {
		return err
	}
	// The producer has its own client: its requests must not queue behind
	// the consumer's long-polling fetches on a shared connection.
	a.pclient, err = sarama.NewClient(a.cfg.Brokers, a.sc)
	if err != nil {
		return fmt.Errorf("streams: connect: %w", err)
	}
	defer a.pclient.Close()
	a.producer, err = newProducer(a.pclient)
	if err != nil {
		return err
	}
	a.pub = newPublisher(a)
	a.pub.setup()
	go a.pub.run()
	defer a.pub.close() // before the clients close
	a.pub.request()
	group, err := sarama.NewConsumerGroupFromClient(a.cfg.ApplicationID, client)
	if err != nil {
		a.producer.close()
		return fmt.Errorf("streams: consumer group: %w", err)
	}
	a.group = group
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Global tables are loaded in full before any task processes.
	if a.globals, err = a.startGlobals(runCtx, cancel); err != nil {
		group.Close()
		a.producer.close()
		return err
	}
	defer a.globals.stop() // after the tasks have closed
	topics := make([]string, 0, len(a.subOf))
	for t := range a.subOf {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	h := &handler{a: a, cancel: cancel}
	for runCtx.Err() == nil {
		if err := group.Consume(runCtx, topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			a.log.Warn("streams: consume", "app", a.cfg.ApplicationID, "err", err)
			select {
			case <-runCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	gerr := group.Close()
	// Close the tasks: their stores were committed by the last Cleanup.
	a.mu.Lock()
	for id, rt := range a.tasks {
		if rt.t != nil {
			rt.t.close()
		}
		delete(a.tasks, id)
	}
	a.mu.Unlock()
	perr := a.producer.close()
	if err := a.failure(); err != nil {
		return err
	}
	if gerr != nil {
		return fmt.Errorf("streams: leave group: %w", gerr)
	}
	return perr
}

// setupTopics learns the partition counts of the input topics, derives the
// tasks of every sub-topology, and creates the internal topics.
func (a *App) setupTopics(ctx context.Context) error {
	app := a.cfg.ApplicationID
	a.refs = map[string]topicRef{}
	a.subOf = map[string]*SubTopology{}
	a.subParts = map[int]int32{}
	repParts := map[topicRef]int32{}
	for _, r := range a.top.repartitions {
		if r.partitions > 0 {
			repParts[r.ref] = r.partitions
		}
	}
	for _, st := range a.top.subs {
		for _, ref := range st.sources {
			name := ref.resolve(app)
			a.refs[name] = ref
			a.subOf[name] = st
			if ref.internal {
				continue
			}
			ps, err := a.client.Partitions(name)
			if err != nil {
				return fmt.Errorf("streams: input topic %s: %w", name, err)
			}
			n := int32(len(ps))
			if prev := a.subParts[st.ID]; prev != 0 && prev != n {
				return fmt.Errorf("streams: sub-topology %d reads topics of %d and %d partitions; they must be co-partitioned", st.ID, prev, n)
			}
			a.subParts[st.ID] = n
		}
	}
	// A repartition topic without an explicit count gets as many
	// partitions as its writer has tasks; its reader gets as many tasks.
	for changed := true; changed; {
		changed = false
		for _, st := range a.top.subs {
			n := a.subParts[st.ID]
			for _, ref := range st.sources {
				if p := repParts[ref]; p > n {
					n = p
				}
			}
			if n != a.subParts[st.ID] {
				a.subParts[st.ID], changed = n, true
			}
			if n == 0 {
				continue
			}
			for _, ref := range st.sinks {
				if ref.internal && repParts[ref] == 0 {
					repParts[ref], changed = n, true
				}
			}
		}
	}
	admin, err := sarama.NewClusterAdminFromClient(a.client)
	if err != nil {
		return fmt.Errorf("streams: admin: %w", err)
	}
	// Not admin.Close: it would close the shared client.
	compact := "compact"
	create := func(name string, partitions int32, configs map[string]*string) error {
		err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: a.cfg.ReplicationFactor, ConfigEntries: configs}, false)
		var te *sarama.TopicError
		if err != nil && !(errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists) && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("streams: create topic %s: %w", name, err)
		}
		return nil
	}
	var internal []string
	for _, r := range a.top.repartitions {
		if repParts[r.ref] == 0 {
			return fmt.Errorf("streams: cannot tell the partition count of %s", r.ref.name)
		}
		name := r.ref.resolve(app)
		if err := create(name, repParts[r.ref], nil); err != nil {
			return err
		}
		internal = append(internal, name)
	}
	for _, st := range a.top.subs {
		if a.subParts[st.ID] == 0 {
			return fmt.Errorf("streams: sub-topology %d has no partitions", st.ID)
		}
		for _, spec := range st.stores {
			name := changelogRef(spec.name).resolve(app)
			if err := create(name, a.subParts[st.ID], map[string]*string{"cleanup.policy": &compact}); err != nil {
				return err
			}
			internal = append(internal, name)
		}
	}
	// Wait until the metadata knows every internal topic.
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range internal {
		for {
			if err := a.client.RefreshMetadata(name); err == nil {
				if ps, err := a.client.Partitions(name); err == nil && len(ps) > 0 {
					break
				}
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("streams: internal topic %s does not appear", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// tasksFor lists the tasks of the topology for the subscribed topics'
// partitions, with the topic partitions each task consumes.
func (a *App) tasksFor(topics map[string][]int32) map[TaskID][]topicPartition {
	out := map[TaskID][]topicPartition{}
	for name, parts := range topics {
		st := a.subOf[name]
		if st == nil {
			continue
		}
		for _, p := range parts {
			id := TaskID{SubTopology: st.ID, Partition: p}
			out[id] = append(out[id], topicPartition{name, p})
		}
	}
	return out
}

// ownedTasks lists the tasks this instance has open.
func (a *App) ownedTasks() []TaskID {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]TaskID, 0, len(a.tasks))
	for id := range a.tasks {
		ids = append(ids, id)
	}
	return ids
}

// taskEnv of the runtime.

type appEnv struct{ a *App }

func (e appEnv) appID() string { return e.a.cfg.ApplicationID }

func (e appEnv) produce(topic string, partition int32, key, value []byte, ts time.Time, headers []Header) error {
	if partition < 0 {
		n, err := e.partitions(topic)
		if err != nil {
			return err
		}
		partition = DefaultPartition(key, n)
	}
	return e.a.producer.send(topic, partition, key, value, ts, headers)
}

func (e appEnv) partitions(topic string) (int32, error) {
	if n, ok := e.a.topicParts.Load(topic); ok {
		return n.(int32), nil
	}
	ps, err := e.a.client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("streams: partitions of %s: %w", topic, err)
	}
	n := int32(len(ps))
	e.a.topicParts.Store(topic, n)
	return n, nil
}

// restoreHook, if set (by tests only), is called before a task's store is
// opened and restored, with the restoration's context and the task's id
// ("1_0"). When it returns with the context done, the store is not opened.
var restoreHook func(ctx context.Context, task string)

func (e appEnv) openStore(ctx context.Context, t *task, spec *storeSpec) (*state.Store, error) {
	a := e.a
	if restoreHook != nil {
		restoreHook(ctx, t.id.String())
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	topic := changelogRef(spec.name).resolve(a.cfg.ApplicationID)
	return state.OpenStore(ctx, state.StoreOptions{
		Dir:       filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID, t.id.String(), spec.name),
		InMemory:  a.cfg.InMemoryStores,
		Topic:     topic,
		Partition: t.id.Partition,
		Writer:    &changelogWriter{p: a.producer, tp: topicPartition{topic, t.id.Partition}},
		Restorer: &state.Restorer{Client: a.client, Topic: topic, Partition: t.id.Partition, Logger: a.log,
			Progress: t.m.restoreProgress(spec.name)},
		Logger: a.log,
	})
}

func (e appEnv) deserializationError(t *task, r *rawRecord, err error) error {
	return handleDeserializationError(e.a.cfg.OnDeserializationError, e.a.cfg.DeadLetterTopic, e.a.log, t, r, err)
}

func (e appEnv) metrics() *appMetrics { return e.a.m }

func (e appEnv) globalStore(name string) (any, error) { return e.a.globals.get(name) }

func (e appEnv) lateRecord(t *task, op string, ts time.Time, attrs ...any) {
	e.a.late.Add(1)
	logLateRecord(e.a.log, t, op, ts, attrs)
}

// handler is the app's sarama.ConsumerGroupHandler.
type handler struct {
	a      *App
	cancel context.CancelFunc
	stop   chan struct{} // closed by Cleanup: stops the commit loop
	loop   sync.WaitGroup
}

// Setup closes the tasks that moved away and starts a goroutine per task of
// the new assignment, which opens the task if it is new here (restoring its
// stores), then processes the records its claims buffer. Tasks kept from
// the previous generation keep their open stores.
func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	a := h.a
	h.stop = make(chan struct{})
	want := a.tasksFor(sess.Claims())
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, rt := range a.tasks {
		if _, keep := want[id]; !keep {
			if rt.t != nil {
				rt.t.close()
			}
			delete(a.tasks, id)
		}
	}
	ids := make([]TaskID, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y TaskID) int {
		if x.SubTopology != y.SubTopology {
			return x.SubTopology - y.SubTopology
		}
		return int(x.Partition - y.Partition)
	})
	var fresh []TaskID
	freshParts := map[string][]int32{}
	for _, id := range ids {
		if a.tasks[id] != nil {
			continue
		}
		fresh = append(fresh, id)
		for _, tp := range want[id] {
			freshParts[tp.topic] = append(freshParts[tp.topic], tp.partition)
		}
	}
	// Tasks new here resume the stream time committed with their offsets.
	times, err := a.committedStreamTimes(freshParts)
	if err != nil {
		a.log.Warn("streams: cannot read the stream time committed with the offsets; new tasks start without one (records late before may be accepted)",
			"app", a.cfg.ApplicationID, "err", err)
	}
	// The tasks' goroutines open them: restoring stores here would hold up
	// the group (a rebalance waits for every member's Setup).
	for _, id := range fresh {
		rt := &runningTask{id: id, offsets: map[topicPartition]int64{}}
		for _, tp := range want[id] {
			c := times[tp]
			if c.stream.After(rt.streamTime) {
				rt.streamTime = c.stream
			}
			for name, ts := range c.procs {
				if rt.procTimes == nil {
					rt.procTimes = map[string]time.Time{}
				}
				if ts.After(rt.procTimes[name]) {
					rt.procTimes[name] = ts
				}
			}
			if c.procs != nil && rt.procTimes == nil {
				rt.procTimes = map[string]time.Time{}
			}
		}
		a.tasks[id] = rt
	}
	for _, id := range ids {
		rt := a.tasks[id]
		tps := want[id]
		slices.SortFunc(tps, func(x, y topicPartition) int {
			if x.topic < y.topic {
				return -1
			}
			if x.topic > y.topic {
				return 1
			}
			return int(x.partition - y.partition)
		})
		in := &taskInput{
			byTP: map[topicPartition]*partitionQueue{},
			wake: make(chan struct{}, 1),
			stop: make(chan struct{}),
			done: make(chan struct{}),
		}
		for _, tp := range tps {
			ref := a.refs[tp.topic]
			q := &partitionQueue{tp: tp, ref: ref, next: -1, start: -1}
			in.parts = append(in.parts, q)
			in.byTP[tp] = q
		}
		rt.in = in
		go h.runTask(rt, in)
	}
	a.pub.request()
	a.log.Debug("streams: assignment", "app", a.cfg.ApplicationID, "member", sess.MemberID(), "generation", sess.GenerationID(), "tasks", ids)
	h.loop.Add(1)
	go h.commitLoop(sess)
	return nil
}

// batchRecords is how many records a task processes under one hold of its
// lock (a commit waits for at most that many).
const batchRecords = 256

// runTask is a task's goroutine in one generation: it opens the task if it
// is not open yet, then processes the records of in, smallest timestamp
// first, until in.stop is closed.
func (h *handler) runTask(rt *runningTask, in *taskInput) {
	defer close(in.done)
	a := h.a
	if rt.t == nil && !h.openTask(rt, in) {
		return
	}
	for _, q := range in.parts {
		q.src = rt.t.sources[q.ref]
		q.prep = rt.t.prepares[q.ref]
	}
	idle := a.cfg.MaxTaskIdle
	high := a.cfg.BufferedRecordsPerPartition
	low := high / 2
	batch := make([]queued, 0, batchRecords)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-in.stop:
			return
		default:
		}
		in.mu.Lock()
		var wait time.Duration
		batch, wait = choose(in.parts, batch[:0], batchRecords, idle, time.Now())
		var resume map[string][]int32
		for _, q := range in.parts {
			if q.paused && q.len() < low {
				q.paused = false
				if resume == nil {
					resume = map[string][]int32{}
				}
				resume[q.tp.topic] = append(resume[q.tp.topic], q.tp.partition)
			}
		}
		in.mu.Unlock()
		if resume != nil {
			a.group.Resume(resume)
		}
		if len(batch) == 0 {
			var after <-chan time.Time
			if wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				after = timer.C
			}
			select {
			case <-in.stop:
				return
			case <-in.wake:
			case <-after:
			}
			continue
		}
		rt.mu.Lock()
		var err error
		n := 0
		began := time.Now()
		for i := range batch {
			b := &batch[i]
			if err = rt.t.processWith(b.q.src, &b.r); err != nil {
				break
			}
			rt.offsets[b.q.tp] = b.r.offset + 1
			n++
		}
		if n > 0 {
			rt.dirty = true
			rt.t.m.processedBatch(n, time.Since(began))
		}
		rt.mu.Unlock()
		a.processed.Add(int64(n))
		clear(batch)
		if err != nil {
			a.fail(err)
			h.cancel()
			return
		}
	}
}

// openTask opens rt's task, restoring its stores; closing in.stop cancels
// the restoration (the next generation that has the task here starts it
// again). It reports whether the task is open.
func (h *handler) openTask(rt *runningTask, in *taskInput) bool {
	a := h.a
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := make(chan struct{})
	defer close(opened)
	go func() {
		select {
		case <-in.stop:
			cancel()
		case <-opened:
		}
	}()
	t, err := newTask(ctx, rt.id, a.top.subs[rt.id.SubTopology], appEnv{a})
	if err != nil {
		select {
		case <-in.stop:
			a.log.Info("streams: task restoration interrupted by a rebalance", "app", a.cfg.ApplicationID, "task", rt.id.String(), "err", err)
		default:
			a.fail(err)
			h.cancel()
		}
		return false
	}
	t.resume(rt.streamTime, rt.procTimes)
	rt.mu.Lock()
	rt.t = t
	rt.mu.Unlock()
	return true
}

func (h *handler) commitLoop(sess sarama.ConsumerGroupSession) {
	defer h.loop.Done()
	a := h.a
	tick := time.NewTicker(min(a.cfg.CommitInterval, 100*time.Millisecond))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-h.stop:
			return
		case now := <-tick.C:
			if err := a.punctuateAll(now); err != nil {
				a.fail(err)
				h.cancel()
				return
			}
			if now.Sub(last) >= a.cfg.CommitInterval {
				last = now
				if err := a.commit(sess); err != nil {
					a.fail(err)
					h.cancel()
					return
				}
			}
		}
	}
}

func (a *App) punctuateAll(now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rt := range a.tasks {
		rt.mu.Lock()
		open := rt.t != nil && len(rt.t.puncts) > 0
		rt.mu.Unlock()
		if !open {
			continue
		}
		rt.mu.Lock()
		err := rt.t.punctuate(WallClockTime, now)
		rt.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// commit pauses every task, waits until everything they produced is
// acknowledged, checkpoints their stores and commits their offsets.
func (a *App) commit(sess sarama.ConsumerGroupSession) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	rts := make([]*runningTask, 0, len(a.tasks))
	for _, rt := range a.tasks {
		rt.mu.Lock()
		rts = append(rts, rt)
	}
	defer func() {
		for _, rt := range rts {
			rt.mu.Unlock()
		}
	}()
	ctx := context.Background()
	began := time.Now()
	processed := a.processed.Load() // no task runs: exact
	dirty := false
	for _, rt := range rts {
		if !rt.dirty {
			continue
		}
		dirty = true
		for _, s := range rt.t.stores {
			if c := s.store.Cache(); c != nil {
				if err := c.Flush(); err != nil {
					return fmt.Errorf("streams: task %s: flush store %s: %w", rt.t.id, s.spec.name, err)
				}
			}
		}
	}
	if !dirty {
		return nil
	}
	if err := a.producer.flush(ctx); err != nil {
		return err
	}
	for _, rt := range rts {
		if !rt.dirty {
			continue
		}
		for _, s := range rt.t.stores {
			if err := s.store.Commit(ctx); err != nil {
				return fmt.Errorf("streams: task %s: commit store %s: %w", rt.t.id, s.spec.name, err)
			}
		}
		md := encodeStreamTime(rt.t.streamTime, rt.t.observedTimes())
		for tp, off := range rt.offsets {
			sess.MarkOffset(tp.topic, tp.partition, off, md)
		}
		rt.dirty = false
		rt.t.m.cacheSaved(rt.t)
	}
	sess.Commit()
	a.m.committed(time.Since(began))
	a.commits.Add(1)
	a.atCommit.Store(processed)
	return nil
}

// ConsumeClaim buffers one input partition's records in its task's queue,
// and pauses fetching the partition while the queue is full.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	a := h.a
	topic, part := claim.Topic(), claim.Partition()
	st := a.subOf[topic]
	a.mu.Lock()
	rt := a.tasks[TaskID{SubTopology: st.ID, Partition: part}]
	var in *taskInput
	if rt != nil {
		in = rt.in
	}
	a.mu.Unlock()
	if in == nil || in.byTP[topicPartition{topic, part}] == nil {
		return fmt.Errorf("streams: no task for %s/%d", topic, part)
	}
	tp := topicPartition{topic, part}
	q := in.byTP[tp]
	start := claim.InitialOffset()
	switch start {
	case sarama.OffsetNewest:
		start = claim.HighWaterMarkOffset()
	case sarama.OffsetOldest:
		if off, err := a.client.GetOffset(topic, part, sarama.OffsetOldest); err == nil {
			start = off
		} else {
			start = -1
		}
	}
	in.mu.Lock()
	q.claim, q.start = claim, start
	in.mu.Unlock()
	high := a.cfg.BufferedRecordsPerPartition
	msgs := claim.Messages()
	for m := range msgs {
		// A new chunk each time: the queue keeps it.
		buf := make([]rawRecord, 1, 1+min(len(msgs), 255))
		buf[0] = toRaw(m)
		// Take what else has arrived, without waiting.
	more:
		for len(buf) < cap(buf) {
			select {
			case m, ok := <-msgs:
				if !ok {
					break more
				}
				buf = append(buf, toRaw(m))
			default:
				break more
			}
		}
		in.mu.Lock()
		q.push(buf)
		pause := !q.paused && q.len() >= high
		if pause {
			q.paused = true
		}
		in.mu.Unlock()
		select {
		case in.wake <- struct{}{}:
		default:
		}
		if pause {
			a.group.Pause(map[string][]int32{topic: {part}})
		}
	}
	return nil
}

func toRaw(m *sarama.ConsumerMessage) rawRecord {
	r := rawRecord{topic: m.Topic, partition: m.Partition, offset: m.Offset, key: m.Key, value: m.Value, timestamp: m.Timestamp}
	if len(m.Headers) > 0 {
		r.headers = make([]Header, len(m.Headers))
		for i, hd := range m.Headers {
			r.headers[i] = Header{Key: string(hd.Key), Value: hd.Value}
		}
	}
	return r
}

// Cleanup stops the tasks' goroutines and commits what they processed in
// this generation; records buffered and not processed are dropped (the
// next generation fetches them again from the committed offsets). The
// tasks stay open until the next Setup shows whether they stay here.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	a := h.a
	if h.stop != nil {
		select {
		case <-h.stop:
		default:
			close(h.stop)
		}
	}
	h.loop.Wait()
	a.mu.Lock()
	var ins []*taskInput
	for _, rt := range a.tasks {
		if rt.in != nil {
			ins = append(ins, rt.in)
			close(rt.in.stop)
			rt.in = nil
		}
	}
	a.mu.Unlock()
	for _, in := range ins {
		<-in.done
	}
	if a.failure() != nil {
		return nil
	}
	if err := a.commit(sess); err != nil {
		a.fail(err)
		h.cancel()
		return err
	}
	return nil
}
