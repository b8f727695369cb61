package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streams/eddy/internal/kafkahash"
	"github.com/eddy-streams/eddy/internal/kafkasec"
)

// WorkerConfig configures a Worker. Zero values mean Kafka Connect's
// defaults; field comments name the worker setting each one mirrors.
type WorkerConfig struct {
	// Brokers to bootstrap from (bootstrap.servers). Required.
	Brokers []string
	// WorkerID names this worker in statuses; default "eddy-worker" (eddy
	// connect sets the REST address, as Kafka derives it from
	// rest.advertised.host.name and port).
	WorkerID string
	// ConfigTopic, OffsetsTopic, StatusTopic (config.storage.topic,
	// offset.storage.topic, status.storage.topic). Defaults connect-configs,
	// connect-offsets, connect-status.
	ConfigTopic, OffsetsTopic, StatusTopic string
	// OffsetsPartitions and StatusPartitions (offset.storage.partitions,
	// status.storage.partitions). Defaults 25 and 5.
	OffsetsPartitions, StatusPartitions int32
	// ConfigReplicationFactor, OffsetsReplicationFactor and
	// StatusReplicationFactor are the replication factors of those topics
	// when the worker creates them (config.storage.replication.factor,
	// offset.storage.replication.factor,
	// status.storage.replication.factor): a positive number, or -1 for
	// the broker's default.replication.factor (KIP-464). Zero means -1,
	// which an Eddy broker (one broker) takes as 1; Kafka Connect's
	// default is 3, which a single broker refuses. Topics that exist are
	// used as they are.
	ConfigReplicationFactor, OffsetsReplicationFactor, StatusReplicationFactor int16
	// OffsetFlushInterval is how often source offsets are written and sink
	// tasks are flushed and their offsets committed
	// (offset.flush.interval.ms). Default 60s.
	OffsetFlushInterval time.Duration
	// KeyConverter and ValueConverter are the converter classes used when
	// a connector does not name its own (key.converter, value.converter),
	// configured by KeyConverterProps/ValueConverterProps
	// (key.converter.*, value.converter.*). Default JsonConverter.
	KeyConverter, ValueConverter           string
	KeyConverterProps, ValueConverterProps map[string]string
	// GroupID, when set, runs the worker in distributed mode (group.id):
	// the workers of one group share the connectors' tasks, rebalancing
	// when a worker joins or leaves. Empty means standalone: this worker
	// runs every task itself.
	GroupID string
	// RESTURL is where the other workers of the group reach this worker's
	// REST API, as http://host:port (Kafka: rest.advertised.host.name,
	// rest.advertised.port, rest.advertised.listener). In distributed mode
	// a request that changes connectors, arriving at a worker that is not
	// the group's leader, is forwarded to the leader's URL, as Kafka
	// Connect does; the leader then orders concurrent changes (two
	// creations of one name: one 201, one 409). Empty: this worker's
	// requests are not forwarded to, and it handles what it receives
	// itself.
	RESTURL string
	// ScheduledRebalanceMaxDelay is how long, in distributed mode, the
	// tasks of a worker that left the group (closed, restarting, cut off)
	// wait for it to come back before the leader reassigns them to the
	// other workers (scheduled.rebalance.max.delay.ms, KIP-415). A worker
	// coming back in time (same WorkerID) gets them back. Zero: 5 minutes,
	// Kafka Connect's default; negative: reassign at once (the worker
	// property's 0). The leader's setting applies.
	ScheduledRebalanceMaxDelay time.Duration
	// Plugins to offer; DefaultPlugins() when nil.
	Plugins *Plugins
	// Security are the worker's TLS and SASL settings towards the brokers
	// (Kafka's security.protocol, sasl.*, ssl.*). Zero: PLAINTEXT.
	Security Security
	// ProducerSecurity, ConsumerSecurity and AdminSecurity, when set,
	// replace Security for one kind of client, as Kafka Connect's
	// producer.*, consumer.* and admin.* worker settings do (for example
	// producer.security.protocol, consumer.sasl.jaas.config,
	// admin.ssl.truststore.location): the producers of source tasks, the
	// consumers of sink tasks, and the admin client the worker manages
	// sink connectors' consumer groups with (their offsets). Nil: Security.
	// The worker's own clients (its topics, its group, creating its
	// topics) always use Security, as Kafka Connect's do.
	ProducerSecurity, ConsumerSecurity, AdminSecurity *Security
	// ProducerCompression compresses the records of source tasks
	// (producer.compression.type): none, gzip, snappy, lz4 or zstd.
	// Empty: none.
	ProducerCompression string
	// ProducerLinger is how long a source task's producer waits for more
	// records before it sends a batch (producer.linger.ms). Zero: it
	// sends at once.
	ProducerLinger time.Duration
	// ConsumerMaxPollRecords bounds the records handed to one
	// SinkTask.Put (consumer.max.poll.records). Zero: 1000.
	ConsumerMaxPollRecords int
	// ConsumerFetchMinBytes is how many bytes a sink task's fetch waits
	// for (consumer.fetch.min.bytes), at most ConsumerFetchMaxWait
	// (consumer.fetch.max.wait.ms). Zero: 1 byte, 250ms.
	ConsumerFetchMinBytes int32
	ConsumerFetchMaxWait  time.Duration
	// ConsumerMaxPartitionFetchBytes is how many bytes a sink task's
	// fetch asks for per partition (consumer.max.partition.fetch.bytes);
	// a larger record batch is still fetched whole. Zero: 1 MiB.
	ConsumerMaxPartitionFetchBytes int32
	// Sarama, when set, adjusts the configuration of every client
	// (version, timeouts, anything the fields above do not cover) after
	// the fields above are applied, before the client connects.
	Sarama func(*sarama.Config)
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, also gets the worker's Prometheus metrics
	// (they are always served at GET /metrics of Handler). Close
	// unregisters them. Several workers in one registry need a label each:
	// prometheus.WrapRegistererWith(prometheus.Labels{"worker": id}, reg).
	Registerer prometheus.Registerer

	// applySecurity applies Security, or the kind's override, by
	// clientKind; set by fill.
	applySecurity [numClientKinds]func(*sarama.Config)
}

// clientKind is what a Kafka client is for, which decides the settings it
// gets (WorkerConfig.Security or one of its overrides).
type clientKind int

const (
	workerClient   clientKind = iota // the worker's own: its topics and group
	producerClient                   // source tasks' producers (producer.*)
	consumerClient                   // sink tasks' consumers (consumer.*)
	adminClient                      // the admin client for connectors (admin.*)
	numClientKinds
)

// security returns the settings for a kind of client.
func (c *WorkerConfig) security(k clientKind) (Security, string) {
	var o *Security
	switch k {
	case producerClient:
		o = c.ProducerSecurity
	case consumerClient:
		o = c.ConsumerSecurity
	case adminClient:
		o = c.AdminSecurity
	}
	if o == nil {
		return c.Security, "Security"
	}
	return *o, [...]string{"", "ProducerSecurity", "ConsumerSecurity", "AdminSecurity"}[k]
}

// producerOverridden reports whether source tasks' producers differ
// from the worker's own, so that each task needs its own.
func (c *WorkerConfig) producerOverridden() bool {
	return c.ProducerSecurity != nil || c.ProducerCompression != "" || c.ProducerLinger > 0
}

// compressionCodecs are producer.compression.type's values.
var compressionCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

// Security are a worker's client-side TLS and SASL settings. The zero
// value connects in PLAINTEXT.
type Security struct {
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	// (security.protocol). Empty: derived from the other fields (SSL when
	// a TLS field is set, SASL_PLAINTEXT when Mechanism is, SASL_SSL both).
	Protocol string
	// Mechanism is the SASL mechanism (sasl.mechanism): PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512; User and Password the credentials
	// (sasl.jaas.config's username and password).
	Mechanism      string
	User, Password string
	// CAFile is a PEM file of the CAs that sign the brokers' certificates
	// (ssl.truststore.location with ssl.truststore.type=PEM); empty: the
	// system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mTLS
	// (ssl.keystore.location, ssl.key.location); KeyFile empty: the key
	// is in CertFile.
	CertFile, KeyFile string
	// InsecureSkipVerify does not verify the brokers' certificates
	// (testing only).
	InsecureSkipVerify bool
}

func (c *WorkerConfig) fill() error {
	if len(c.Brokers) == 0 {
		return errors.New("connectors: WorkerConfig.Brokers is empty")
	}
	for k := range numClientKinds {
		sec, field := c.security(k)
		apply, err := kafkasec.Settings(sec).Sarama()
		if err != nil {
			return fmt.Errorf("connectors: WorkerConfig.%s: %w", field, err)
		}
		c.applySecurity[k] = apply
	}
	if _, ok := compressionCodecs[strings.ToLower(c.ProducerCompression)]; !ok && c.ProducerCompression != "" {
		return fmt.Errorf("connectors: WorkerConfig.ProducerCompression is %q: want none, gzip, snappy, lz4 or zstd", c.ProducerCompression)
	}
	if c.ProducerLinger < 0 || c.ConsumerMaxPollRecords < 0 || c.ConsumerFetchMinBytes < 0 ||
		c.ConsumerFetchMaxWait < 0 || c.ConsumerMaxPartitionFetchBytes < 0 {
		return errors.New("connectors: WorkerConfig: negative producer or consumer setting")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.ConfigTopic, "connect-configs")
	def(&c.OffsetsTopic, "connect-offsets")
	def(&c.StatusTopic, "connect-status")
	def(&c.KeyConverter, JSONConverterClass)
	def(&c.ValueConverter, JSONConverterClass)
	def(&c.WorkerID, "eddy-worker")
	if c.OffsetsPartitions <= 0 {
		c.OffsetsPartitions = 25
	}
	if c.StatusPartitions <= 0 {
		c.StatusPartitions = 5
	}
	if c.ScheduledRebalanceMaxDelay == 0 {
		c.ScheduledRebalanceMaxDelay = 5 * time.Minute
	}
	for _, rf := range []struct {
		v    *int16
		name string
	}{{&c.ConfigReplicationFactor, "ConfigReplicationFactor"}, {&c.OffsetsReplicationFactor, "OffsetsReplicationFactor"},
		{&c.StatusReplicationFactor, "StatusReplicationFactor"}} {
		if *rf.v == 0 {
			*rf.v = -1
		}
		if *rf.v < -1 {
			return fmt.Errorf("connectors: WorkerConfig.%s is %d: want a positive number, or -1 for the broker's default", rf.name, *rf.v)
		}
	}
	if c.OffsetFlushInterval <= 0 {
		c.OffsetFlushInterval = time.Minute
	}
	if c.Plugins == nil {
		c.Plugins = DefaultPlugins()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Connector and task states, as the status endpoints report them.
const (
	StateUnassigned = "UNASSIGNED"
	StateRunning    = "RUNNING"
	StatePaused     = "PAUSED"
	StateFailed     = "FAILED"
	StateStopped    = "STOPPED"
	StateRestarting = "RESTARTING"
)

// Target states kept in the configs topic.
const (
	targetStarted = "STARTED"
	targetPaused  = "PAUSED"
	targetStopped = "STOPPED"
)

// Worker runs connectors and their tasks in this process (Kafka Connect's
// standalone mode, with its state kept in topics as distributed mode keeps
// it). Its methods are safe for concurrent use; the REST API (Handler)
// calls them.
//
// Lock order: Worker.mu, then connectorRun.mu / taskRun.mu, then offMu.
type Worker struct {
	cfg      WorkerConfig
	client   sarama.Client
	admin    sarama.ClusterAdmin
	producer sarama.SyncProducer // records, offsets, configs and dead letters
	logger   *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	// mu guards the following.
	mu         sync.Mutex
	connectors map[string]*connectorRun
	creating   map[string]bool // distributed: names being created here, not yet applied
	closed     bool

	// offMu guards offsets: connector → JSON key of the source partition.
	offMu   sync.Mutex
	offsets map[string]map[string]sourceOffset

	statusMu sync.Mutex // serializes status writes, so they stay ordered

	dist *distributed // nil in standalone mode

	metrics *workerMetrics
	logs    *loggerLevels // levels per logger, set through /admin/loggers
}

type sourceOffset struct {
	partition map[string]any
	offset    map[string]any
}

// connectorRun is one configured connector and its running parts.
type connectorRun struct {
	name   string
	config map[string]string
	plugin *Plugin
	target string

	mu    sync.Mutex // guards state, trace, conn, tasks, taskConfigs
	state string
	trace string
	conn  Connector
	tasks []*taskRun
	// taskConfigs are the configs the tasks were started with.
	taskConfigs []map[string]string
}

// taskRun is one running task.
type taskRun struct {
	id     int
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards state and trace
	state  string
	trace  string
	pauseC chan bool // true: pause, false: resume; read by the task loop
	m      *taskMetrics
}

func (t *taskRun) setState(state, trace string) {
	t.mu.Lock()
	t.state, t.trace = state, trace
	t.mu.Unlock()
}

func (t *taskRun) status() (string, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.trace
}

// NewWorker connects to the brokers, creates the worker's topics when they
// are missing, reads the connector configurations stored there and starts
// those connectors. Close stops it.
func NewWorker(ctx context.Context, cfg WorkerConfig) (*Worker, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	sc := saramaConfig(cfg, workerClient, func(sc *sarama.Config) {
		// This client's consumers only read topics to their end
		// (readTopic); short long-polls keep opening and closing them
		// quick.
		sc.Consumer.MaxWaitTime = 20 * time.Millisecond
	})
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connectors: connecting to %v: %w", cfg.Brokers, err)
	}
	// The worker creates its topics with its own settings; connectors'
	// consumer groups are managed with the admin.* ones.
	workerAdmin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	admin := workerAdmin
	if cfg.AdminSecurity != nil {
		admin, err = sarama.NewClusterAdmin(cfg.Brokers, saramaConfig(cfg, adminClient, func(sc *sarama.Config) {
			sc.ClientID = "eddy-connect-admin"
		}))
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("connectors: connecting the admin client (admin.*) to %v: %w", cfg.Brokers, err)
		}
	}
	closeAdmin := func() {
		if admin != workerAdmin {
			admin.Close()
		}
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		closeAdmin()
		client.Close()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	logs := newLoggerLevels(cfg.Logger.Handler())
	w := &Worker{
		cfg: cfg, client: client, admin: admin, producer: producer, logs: logs,
		logger: slog.New(logs.handler(LoggerRuntime)),
		ctx:    wctx, cancel: cancel,
		connectors: map[string]*connectorRun{},
		creating:   map[string]bool{},
		offsets:    map[string]map[string]sourceOffset{},
	}
	if w.metrics, err = newWorkerMetrics(w, cfg.Registerer); err != nil {
		cancel()
		producer.Close()
		closeAdmin()
		client.Close()
		return nil, err
	}
	fail := func(err error) (*Worker, error) {
		cancel()
		w.metrics.close()
		producer.Close()
		closeAdmin()
		client.Close()
		return nil, err
	}
	for _, t := range []internalTopic{
		{cfg.ConfigTopic, 1, cfg.ConfigReplicationFactor, "config.storage.replication.factor"},
		{cfg.OffsetsTopic, cfg.OffsetsPartitions, cfg.OffsetsReplicationFactor, "offset.storage.replication.factor"},
		{cfg.StatusTopic, cfg.StatusPartitions, cfg.StatusReplicationFactor, "status.storage.replication.factor"},
	} {
		if err := ensureTopic(workerAdmin, t); err != nil {
			return fail(fmt.Errorf("connectors: %w", err))
		}
	}
	if err := w.restoreOffsets(ctx); err != nil {
		return fail(err)
	}
	configsEnd, err := client.GetOffset(cfg.ConfigTopic, 0, sarama.OffsetNewest)
	if err != nil {
		return fail(fmt.Errorf("connectors: %w", err))
	}
	configs, targets, err := w.restoreConfigs(ctx)
	if err != nil {
		return fail(err)
	}
	if cfg.GroupID != "" {
		w.dist = newDistributed(w)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range sortedKeys(configs) {
		props := configs[name]
		plugin, _ := cfg.Plugins.Lookup(props[ConfigConnectorClass])
		if plugin == nil {
			w.logger.Error("stored connector names an unknown plugin; skipping it", "connector", name, "class", props[ConfigConnectorClass])
			continue
		}
		target := targets[name]
		if target == "" {
			target = targetStarted
		}
		cr := &connectorRun{name: name, config: props, plugin: plugin, target: target}
		w.connectors[name] = cr
		w.startConnectorLocked(cr)
	}
	if w.dist != nil {
		if err := w.dist.start(configsEnd); err != nil {
			return fail(err)
		}
	}
	w.logger.Info("connect worker started", "worker", cfg.WorkerID, "connectors", len(w.connectors), "group", cfg.GroupID)
	return w, nil
}

// saramaConfig returns the configuration of a client of kind k: Eddy's
// defaults, the kind's security settings, then defaults, the settings
// the WorkerConfig fields give the kind, and last WorkerConfig.Sarama.
func saramaConfig(cfg WorkerConfig, k clientKind, defaults ...func(*sarama.Config)) *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = "eddy-connect"
	sc.Version = sarama.V2_8_0_0
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Idempotent = false
	sc.Producer.Partitioner = kafkahash.NewPartitioner // murmur2, as Kafka and Eddy streams place keys
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Flush.Messages = 0
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Return.Errors = false
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	if apply := cfg.applySecurity[k]; apply != nil {
		apply(sc)
	}
	for _, f := range defaults {
		f(sc)
	}
	switch k {
	case producerClient:
		if cfg.ProducerCompression != "" {
			sc.Producer.Compression = compressionCodecs[strings.ToLower(cfg.ProducerCompression)]
		}
		if cfg.ProducerLinger > 0 {
			sc.Producer.Flush.Frequency = cfg.ProducerLinger
		}
	case consumerClient:
		if cfg.ConsumerFetchMinBytes > 0 {
			sc.Consumer.Fetch.Min = cfg.ConsumerFetchMinBytes
		}
		if cfg.ConsumerFetchMaxWait > 0 {
			sc.Consumer.MaxWaitTime = cfg.ConsumerFetchMaxWait
		}
		if cfg.ConsumerMaxPartitionFetchBytes > 0 {
			sc.Consumer.Fetch.Default = cfg.ConsumerMaxPartitionFetchBytes
		}
	}
	if cfg.Sarama != nil {
		cfg.Sarama(sc)
	}
	return sc
}

// Close stops every task (sink tasks flush and commit first, source tasks
// write their offsets) and connector, then disconnects.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	if w.dist != nil {
		w.dist.stop() // leaves the group, so the others take the tasks over
	}
	w.mu.Lock()
	runs := make([]*connectorRun, 0, len(w.connectors))
	for _, cr := range w.connectors {
		runs = append(runs, cr)
	}
	w.mu.Unlock()
	for _, cr := range runs {
		w.stopConnector(cr, "")
	}
	w.cancel()
	w.metrics.close()
	w.producer.Close()
	if w.admin != nil && w.cfg.AdminSecurity != nil {
		w.admin.Close() // its own client; otherwise it shares w.client
	}
	return w.client.Close()
}

// taskProducer returns the producer for a task's records (a source
// task's, a sink task's dead letters): the worker's, or when producer
// settings are overridden one of the task's own, named clientID, which
// close closes.
func (w *Worker) taskProducer(clientID string) (p sarama.SyncProducer, close func(), err error) {
	if !w.cfg.producerOverridden() {
		return w.producer, func() {}, nil
	}
	p, err = sarama.NewSyncProducer(w.cfg.Brokers, saramaConfig(w.cfg, producerClient, func(sc *sarama.Config) {
		sc.ClientID = clientID
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting the task's producer (producer.*): %w", err)
	}
	return p, func() { p.Close() }, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// restoreOffsets reads the offsets topic into memory.
func (w *Worker) restoreOffsets(ctx context.Context) error {
	return readTopic(ctx, w.client, w.cfg.OffsetsTopic, func(key, value []byte) {
		var k []json.RawMessage
		if err := json.Unmarshal(key, &k); err != nil || len(k) != 2 {
			return
		}
		var name string
		var part map[string]any
		if json.Unmarshal(k[0], &name) != nil || json.Unmarshal(k[1], &part) != nil {
			return
		}
		w.offMu.Lock()
		defer w.offMu.Unlock()
		m := w.offsets[name]
		if m == nil {
			m = map[string]sourceOffset{}
			w.offsets[name] = m
		}
		pk := string(mustJSON(part))
		if value == nil {
			delete(m, pk)
			return
		}
		v, err := decodeJSON(value)
		off, _ := v.(map[string]any)
		if err != nil || off == nil {
			return
		}
		m[pk] = sourceOffset{partition: part, offset: off}
	})
}

// restoreConfigs reads the configs topic: the latest config and target
// state of every connector not deleted.
func (w *Worker) restoreConfigs(ctx context.Context) (map[string]map[string]string, map[string]string, error) {
	configs := map[string]map[string]string{}
	targets := map[string]string{}
	err := readTopic(ctx, w.client, w.cfg.ConfigTopic, func(key, value []byte) {
		k := string(key)
		switch {
		case strings.HasPrefix(k, "connector-"):
			name := strings.TrimPrefix(k, "connector-")
			if value == nil {
				delete(configs, name)
				delete(targets, name)
				return
			}
			var v struct {
				Properties map[string]string `json:"properties"`
			}
			if json.Unmarshal(value, &v) == nil && v.Properties != nil {
				configs[name] = v.Properties
			}
		case strings.HasPrefix(k, loggerRecordPrefix):
			w.applyLoggerRecord(strings.TrimPrefix(k, loggerRecordPrefix), value, nil)
		case strings.HasPrefix(k, "target-state-"):
			name := strings.TrimPrefix(k, "target-state-")
			var v struct {
				State string `json:"state"`
			}
			if value != nil && json.Unmarshal(value, &v) == nil {
				targets[name] = v.State
			}
		}
	})
	return configs, targets, err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// writeStatus records a state change in the status topic. Failures are
// logged: the status topic is informative, the worker's memory is
// authoritative for the REST API.
func (w *Worker) writeStatus(key, state, trace string) {
	v := map[string]any{"state": state, "trace": nil, "worker_id": w.cfg.WorkerID, "generation": 0}
	if trace != "" {
		v["trace"] = trace
	}
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	if err := write(w.producer, w.cfg.StatusTopic, key, mustJSON(v)); err != nil {
		w.logger.Warn("writing status", "key", key, "err", err)
	}
}

func (w *Worker) setConnectorState(cr *connectorRun, state, trace string) {
	cr.mu.Lock()
	cr.state, cr.trace = state, trace
	cr.mu.Unlock()
	w.writeStatus("status-connector-"+cr.name, state, trace)
}

func (w *Worker) setTaskState(cr *connectorRun, t *taskRun, state, trace string) {
	t.setState(state, trace)
	w.writeStatus(fmt.Sprintf("status-task-%s-%d", cr.name, t.id), state, trace)
}

// parseConnectorConfig validates props against the plugin's definition
// merged with the settings every connector has, and builds its converters
// and transforms to check them too.
func (w *Worker) parseConnectorConfig(p *Plugin, props map[string]string) (Config, error) {
	cfg, err := commonDef(p.Type).Merge(p.Config).Parse(props)
	if err != nil {
		return cfg, err
	}
	var problems []string
	if p.Type == TypeSink {
		if len(cfg.List(ConfigTopics)) == 0 && cfg.String(ConfigTopicsRegex) == "" {
			problems = append(problems, "Must configure one of topics or topics.regex")
		}
		if len(cfg.List(ConfigTopics)) > 0 && cfg.String(ConfigTopicsRegex) != "" {
			problems = append(problems, "topics and topics.regex are mutually exclusive options, but both are set.")
		}
	}
	if _, err := newChain(props); err != nil {
		problems = append(problems, err.Error())
	}
	if _, _, err := w.converters(props); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Config{}, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// converters builds the key and value converters for a connector's props.
func (w *Worker) converters(props map[string]string) (key, value Converter, err error) {
	kc, kp := w.cfg.KeyConverter, w.cfg.KeyConverterProps
	if c := strings.TrimSpace(props[ConfigKeyConverter]); c != "" {
		kc, kp = c, WithPrefix(props, ConfigKeyConverter+".")
	}
	vc, vp := w.cfg.ValueConverter, w.cfg.ValueConverterProps
	if c := strings.TrimSpace(props[ConfigValueConverter]); c != "" {
		vc, vp = c, WithPrefix(props, ConfigValueConverter+".")
	}
	if key, err = NewConverter(kc, kp, true); err != nil {
		return nil, nil, err
	}
	if value, err = NewConverter(vc, vp, false); err != nil {
		return nil, nil, err
	}
	return key, value, nil
}

// startConnectorLocked starts cr's connector and tasks as its target state
// says. REQUIRES: w.mu.
func (w *Worker) startConnectorLocked(cr *connectorRun) {
	if cr.target == targetStopped {
		w.setConnectorState(cr, StateStopped, "")
		return
	}
	cfg, err := w.parseConnectorConfig(cr.plugin, cr.config)
	if err != nil {
		w.setConnectorState(cr, StateFailed, err.Error())
		return
	}
	conn := cr.plugin.NewConnector()
	if err := conn.Start(w.ctx, cfg); err != nil {
		w.setConnectorState(cr, StateFailed, err.Error())
		return
	}
	taskProps, err := conn.TaskConfigs(cfg.Int(ConfigTasksMax))
	if err != nil {
		_ = conn.Stop()
		w.setConnectorState(cr, StateFailed, err.Error())
		return
	}
	if len(taskProps) > cfg.Int(ConfigTasksMax) {
		taskProps = taskProps[:cfg.Int(ConfigTasksMax)]
	}
	cr.mu.Lock()
	cr.conn = conn
	cr.taskConfigs = nil
	for _, tp := range taskProps {
		merged := make(map[string]string, len(cr.config)+len(tp))
		for k, v := range cr.config {
			merged[k] = v
		}
		for k, v := range tp {
			merged[k] = v
		}
		cr.taskConfigs = append(cr.taskConfigs, merged)
	}
	cr.mu.Unlock()
	for i, tc := range cr.taskConfigs {
		if w.dist != nil {
			break
		}
		if err := write(w.producer, w.cfg.ConfigTopic, fmt.Sprintf("task-%s-%d", cr.name, i),
			mustJSON(map[string]any{"properties": tc})); err != nil {
			w.logger.Warn("writing task config", "connector", cr.name, "task", i, "err", err)
		}
	}
	if w.dist == nil {
		_ = write(w.producer, w.cfg.ConfigTopic, "commit-"+cr.name, mustJSON(map[string]any{"tasks": len(cr.taskConfigs)}))
	}
	state := StateRunning
	if cr.target == targetPaused {
		state = StatePaused
	}
	w.setConnectorState(cr, state, "")
	cr.mu.Lock()
	cr.tasks = nil
	n := len(cr.taskConfigs)
	cr.mu.Unlock()
	if w.dist != nil {
		w.dist.requestRejoin() // the group's assignment says which tasks run here
		return
	}
	for i := range n {
		w.startLocalTask(cr, i)
	}
}

// startLocalTask starts task id of cr in this worker.
func (w *Worker) startLocalTask(cr *connectorRun, id int) {
	t := &taskRun{id: id, state: StateUnassigned, pauseC: make(chan bool, 1)}
	cr.mu.Lock()
	if id >= len(cr.taskConfigs) {
		cr.mu.Unlock()
		return
	}
	cr.tasks = append(cr.tasks, t)
	cr.mu.Unlock()
	w.startTask(cr, t)
}

// startTask starts t's goroutine.
func (w *Worker) startTask(cr *connectorRun, t *taskRun) {
	cr.mu.Lock()
	props := cr.taskConfigs[t.id]
	paused := cr.target == targetPaused
	cr.mu.Unlock()
	ctx, cancel := context.WithCancel(w.ctx)
	t.cancel = cancel
	t.done = make(chan struct{})
	t.m = w.metrics.task(cr.name, t.id, cr.plugin.Type)
	logger := slog.New(w.logs.handler(connectorLogger(cr.name))).With("connector", cr.name, "task", t.id)
	go func() {
		defer close(t.done)
		var err error
		if cr.plugin.Type == TypeSource {
			err = w.runSource(ctx, cr, t, props, paused, logger)
		} else {
			err = w.runSink(ctx, cr, t, props, paused, logger)
		}
		if err != nil && ctx.Err() == nil {
			logger.Error("task failed", "err", err)
			t.m.failures.Inc()
			w.setTaskState(cr, t, StateFailed, err.Error())
			return
		}
		if st, _ := t.status(); st != StateFailed {
			if w.dist != nil {
				t.setState(StateUnassigned, "") // the next owner reports its state
			} else {
				w.setTaskState(cr, t, StateUnassigned, "")
			}
		}
	}()
}

// stopTask cancels t and waits for it to finish its final flush.
func (w *Worker) stopTask(t *taskRun) {
	if t.cancel != nil {
		t.cancel()
		<-t.done
	}
}

// stopConnector stops cr's tasks and connector; newState, when set, is
// recorded as the connector's state afterwards.
func (w *Worker) stopConnector(cr *connectorRun, newState string) {
	cr.mu.Lock()
	tasks, conn := cr.tasks, cr.conn
	cr.tasks, cr.conn = nil, nil
	cr.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() { defer wg.Done(); w.stopTask(t) }()
	}
	wg.Wait()
	if conn != nil {
		if err := conn.Stop(); err != nil {
			w.logger.Warn("stopping connector", "connector", cr.name, "err", err)
		}
	}
	if newState != "" {
		w.setConnectorState(cr, newState, "")
	}
}

// ConnectorInfo is GET /connectors/{name}'s answer.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   Type              `json:"type"`
}

// TaskID names a task.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// CreateConnector validates and stores config under name and starts the
// connector. With replace it updates an existing connector (PUT
// /connectors/{name}/config), reporting whether it was created.
func (w *Worker) CreateConnector(name string, config map[string]string, replace bool) (ConnectorInfo, bool, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return ConnectorInfo{}, false, newAPIError(ErrBadConfig, "Connector name is required")
	}
	props := make(map[string]string, len(config)+1)
	for k, v := range config {
		props[k] = v
	}
	if n, ok := props[ConfigName]; ok && n != name {
		return ConnectorInfo{}, false, newAPIError(ErrBadConfig, "Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
	}
	props[ConfigName] = name
	class := strings.TrimSpace(props[ConfigConnectorClass])
	if class == "" {
		return ConnectorInfo{}, false, newAPIError(ErrBadConfig, "Connector config %v contains no connector type", props)
	}
	plugin, ok := w.cfg.Plugins.Lookup(class)
	if !ok {
		return ConnectorInfo{}, false, newAPIError(ErrBadConfig,
			"Failed to find any class that implements Connector and which name matches %s, available connectors are: %s", class, w.pluginNames())
	}
	if _, err := w.parseConnectorConfig(plugin, props); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return ConnectorInfo{}, false, newAPIError(ErrBadConfig, "%s\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`", ce.Error())
		}
		return ConnectorInfo{}, false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ConnectorInfo{}, false, ErrClosed
	}
	old, exists := w.connectors[name]
	if (exists || w.creating[name]) && !replace {
		return ConnectorInfo{}, false, newAPIError(ErrAlreadyExists, "Connector %s already exists", name)
	}
	if err := write(w.producer, w.cfg.ConfigTopic, "connector-"+name, mustJSON(map[string]any{"properties": props})); err != nil {
		return ConnectorInfo{}, false, fmt.Errorf("storing config of %s: %w", name, err)
	}
	if w.dist != nil {
		// Every worker, this one included, applies it from the configs
		// topic; until then a second creation of the name here is refused.
		if !exists {
			w.creating[name] = true
		}
		w.mu.Unlock()
		err := w.dist.awaitApplied(func() bool {
			cr, ok := w.connectors[name]
			return ok && equalProps(cr.config, props)
		})
		w.mu.Lock()
		delete(w.creating, name)
		if err != nil {
			return ConnectorInfo{}, false, err
		}
		return w.infoLocked(w.connectors[name]), !exists, nil
	}
	target := targetStarted
	if exists {
		target = old.target
		w.stopConnector(old, "")
	}
	cr := &connectorRun{name: name, config: props, plugin: plugin, target: target}
	w.connectors[name] = cr
	w.startConnectorLocked(cr)
	return w.infoLocked(cr), !exists, nil
}

// PatchConfig changes some settings of an existing connector (PATCH
// /connectors/{name}/config, KIP-477): set overrides or adds settings,
// remove drops them; the rest of the config stays. The result is
// validated and applied as a PUT of the whole config would be.
func (w *Worker) PatchConfig(name string, set map[string]string, remove []string) (ConnectorInfo, error) {
	w.mu.Lock()
	cr, err := w.lookupLocked(name)
	var merged map[string]string
	if err == nil {
		merged = make(map[string]string, len(cr.config)+len(set))
		for k, v := range cr.config {
			merged[k] = v
		}
	}
	w.mu.Unlock()
	if err != nil {
		return ConnectorInfo{}, err
	}
	for _, k := range remove {
		if k == ConfigName {
			return ConnectorInfo{}, newAPIError(ErrBadConfig, "Connector name configuration cannot be removed")
		}
		delete(merged, k)
	}
	for k, v := range set {
		merged[k] = v
	}
	info, _, err := w.CreateConnector(name, merged, true)
	return info, err
}

func (w *Worker) pluginNames() string {
	var names []string
	for _, p := range w.cfg.Plugins.List() {
		names = append(names, p.Class)
	}
	return strings.Join(names, ", ")
}

func (w *Worker) infoLocked(cr *connectorRun) ConnectorInfo {
	info := ConnectorInfo{Name: cr.name, Config: cr.config, Type: cr.plugin.Type, Tasks: []TaskID{}}
	cr.mu.Lock()
	for i := range cr.taskConfigs {
		info.Tasks = append(info.Tasks, TaskID{cr.name, i})
	}
	cr.mu.Unlock()
	return info
}

func (w *Worker) lookupLocked(name string) (*connectorRun, error) {
	cr, ok := w.connectors[name]
	if !ok {
		return nil, newAPIError(ErrNotFound, "Connector %s not found", name)
	}
	return cr, nil
}

// Connectors lists the connector names, sorted.
func (w *Worker) Connectors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedKeys(w.connectors)
}

// Connector returns a connector's info.
func (w *Worker) Connector(name string) (ConnectorInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return ConnectorInfo{}, err
	}
	return w.infoLocked(cr), nil
}

// DeleteConnector stops a connector and removes its config (a tombstone
// in the configs topic). Its source offsets stay, as in Kafka Connect.
func (w *Worker) DeleteConnector(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return err
	}
	if err := write(w.producer, w.cfg.ConfigTopic, "connector-"+name, nil); err != nil {
		return err
	}
	_ = write(w.producer, w.cfg.ConfigTopic, "target-state-"+name, nil)
	if w.dist != nil {
		w.mu.Unlock()
		err := w.dist.awaitApplied(func() bool { _, ok := w.connectors[name]; return !ok })
		w.mu.Lock()
		return err
	}
	delete(w.connectors, name)
	w.stopConnector(cr, "")
	w.metrics.forget(name)
	w.writeStatus("status-connector-"+name, StateUnassigned, "")
	return nil
}

// StateInfo is a connector's or a task's state.
type StateInfo struct {
	ID       *int   `json:"id,omitempty"`
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// ConnectorStatus is GET /connectors/{name}/status's answer.
type ConnectorStatus struct {
	Name      string      `json:"name"`
	Connector StateInfo   `json:"connector"`
	Tasks     []StateInfo `json:"tasks"`
	Type      Type        `json:"type"`
}

// Status returns a connector's state and its tasks'.
func (w *Worker) Status(name string) (ConnectorStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	st := ConnectorStatus{Name: name, Type: cr.plugin.Type, Tasks: []StateInfo{},
		Connector: StateInfo{State: cr.state, WorkerID: w.cfg.WorkerID, Trace: cr.trace}}
	if w.dist != nil {
		return w.dist.statusLocked(cr, st), nil
	}
	for _, t := range cr.tasks {
		s, trace := t.status()
		id := t.id
		st.Tasks = append(st.Tasks, StateInfo{ID: &id, State: s, WorkerID: w.cfg.WorkerID, Trace: trace})
	}
	return st, nil
}

// TaskStatus returns one task's state.
func (w *Worker) TaskStatus(name string, task int) (StateInfo, error) {
	st, err := w.Status(name)
	if err != nil {
		return StateInfo{}, err
	}
	for _, t := range st.Tasks {
		if *t.ID == task {
			return t, nil
		}
	}
	return StateInfo{}, newAPIError(ErrNotFound, "Task %s-%d not found", name, task)
}

// TaskInfo is one element of GET /connectors/{name}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// Tasks returns the connector's task configurations.
func (w *Worker) Tasks(name string) ([]TaskInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	out := []TaskInfo{}
	for i, c := range cr.taskConfigs {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: c})
	}
	return out, nil
}

// setTarget records a new target state and applies it.
func (w *Worker) setTarget(name, target string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return err
	}
	if err := write(w.producer, w.cfg.ConfigTopic, "target-state-"+name, mustJSON(map[string]string{"state": target})); err != nil {
		return err
	}
	if w.dist != nil {
		w.mu.Unlock()
		err := w.dist.awaitApplied(func() bool { c, ok := w.connectors[name]; return !ok || c.target == target })
		w.mu.Lock()
		return err
	}
	w.applyTargetLocked(cr, target)
	return nil
}

// applyTargetLocked moves cr to a new target state. REQUIRES: w.mu.
func (w *Worker) applyTargetLocked(cr *connectorRun, target string) {
	prev := cr.target
	cr.target = target
	switch {
	case target == targetStopped:
		w.stopConnector(cr, StateStopped)
		cr.mu.Lock()
		cr.taskConfigs = nil
		cr.mu.Unlock()
	case prev == targetStopped:
		w.startConnectorLocked(cr)
	default:
		paused := target == targetPaused
		state := StateRunning
		if paused {
			state = StatePaused
		}
		if cs, _ := w.connectorState(cr); cs != StateFailed {
			w.setConnectorState(cr, state, "")
		}
		cr.mu.Lock()
		tasks := cr.tasks
		cr.mu.Unlock()
		for _, t := range tasks {
			select {
			case <-t.pauseC: // replace an unread request
			default:
			}
			t.pauseC <- paused
		}
	}
}

func (w *Worker) connectorState(cr *connectorRun) (string, string) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.state, cr.trace
}

// Pause pauses a connector's tasks: sources stop polling, sinks stop
// consuming; offsets stay committed.
func (w *Worker) Pause(name string) error { return w.setTarget(name, targetPaused) }

// Resume resumes a paused (or stopped) connector.
func (w *Worker) Resume(name string) error { return w.setTarget(name, targetStarted) }

// Stop stops a connector and its tasks, keeping its config (PUT /stop).
func (w *Worker) Stop(name string) error { return w.setTarget(name, targetStopped) }

// Restart restarts a connector; with includeTasks its tasks too, and with
// onlyFailed only the instances that have failed.
func (w *Worker) Restart(name string, includeTasks, onlyFailed bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return err
	}
	if w.dist != nil {
		// Every worker restarts its own instances (KIP-745's record).
		return write(w.producer, w.cfg.ConfigTopic, "restart-connector-"+name,
			mustJSON(map[string]bool{"include-tasks": includeTasks, "only-failed": onlyFailed}))
	}
	w.restartLocked(cr, includeTasks, onlyFailed)
	return nil
}

// restartLocked restarts this worker's instances of cr. REQUIRES: w.mu.
func (w *Worker) restartLocked(cr *connectorRun, includeTasks, onlyFailed bool) {
	cs, _ := w.connectorState(cr)
	if !includeTasks {
		if onlyFailed && cs != StateFailed {
			return
		}
		// Restart only the connector object: tasks keep running unless the
		// connector had failed (then it never started any).
		if cs == StateFailed {
			w.stopConnector(cr, "")
			w.startConnectorLocked(cr)
			return
		}
		cr.mu.Lock()
		conn := cr.conn
		cr.mu.Unlock()
		if conn != nil {
			_ = conn.Stop()
			cfg, err := w.parseConnectorConfig(cr.plugin, cr.config)
			if err == nil {
				err = conn.Start(w.ctx, cfg)
			}
			if err != nil {
				w.setConnectorState(cr, StateFailed, err.Error())
			}
		}
		return
	}
	if !onlyFailed || cs == StateFailed {
		w.stopConnector(cr, StateRestarting)
		w.startConnectorLocked(cr)
		return
	}
	cr.mu.Lock()
	tasks := cr.tasks
	cr.mu.Unlock()
	for _, t := range tasks {
		if s, _ := t.status(); s == StateFailed {
			w.stopTask(t)
			w.setTaskState(cr, t, StateRestarting, "")
			w.startTask(cr, t)
		}
	}
}

// RestartTask restarts one task.
func (w *Worker) RestartTask(name string, task int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return err
	}
	cr.mu.Lock()
	var t *taskRun
	for _, x := range cr.tasks {
		if x.id == task {
			t = x
		}
	}
	cr.mu.Unlock()
	if t == nil && w.dist != nil && task >= 0 && task < len(cr.taskConfigs) {
		// Running on another worker: it restarts it when it reads this.
		return write(w.producer, w.cfg.ConfigTopic, fmt.Sprintf("restart-task-%s-%d", name, task), []byte("{}"))
	}
	if t == nil {
		return newAPIError(ErrNotFound, "Task %s-%d not found", name, task)
	}
	w.stopTask(t)
	w.setTaskState(cr, t, StateRestarting, "")
	w.startTask(cr, t)
	return nil
}

// Offset is one element of GET /connectors/{name}/offsets. For sinks the
// partition is {"kafka_topic","kafka_partition"} and the offset
// {"kafka_offset"}, as in Kafka Connect.
type Offset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// Offsets returns a connector's committed offsets: a source's from the
// offsets topic, a sink's from its consumer group (connect-NAME).
func (w *Worker) Offsets(name string) ([]Offset, error) {
	w.mu.Lock()
	cr, err := w.lookupLocked(name)
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []Offset{}
	if cr.plugin.Type == TypeSource {
		w.offMu.Lock()
		defer w.offMu.Unlock()
		for _, k := range sortedKeys(w.offsets[name]) {
			o := w.offsets[name][k]
			out = append(out, Offset{Partition: o.partition, Offset: o.offset})
		}
		return out, nil
	}
	resp, err := w.admin.ListConsumerGroupOffsets(sinkGroup(name), nil)
	if err != nil {
		return nil, err
	}
	for _, topic := range sortedKeys(resp.Blocks) {
		parts := resp.Blocks[topic]
		ids := make([]int, 0, len(parts))
		for p := range parts {
			ids = append(ids, int(p))
		}
		sort.Ints(ids)
		for _, p := range ids {
			b := parts[int32(p)]
			if b.Offset < 0 {
				continue
			}
			out = append(out, Offset{
				Partition: map[string]any{"kafka_topic": topic, "kafka_partition": p},
				Offset:    map[string]any{"kafka_offset": b.Offset},
			})
		}
	}
	return out, nil
}

// sinkGroup is a sink connector's consumer group, as Kafka Connect names it.
func sinkGroup(connector string) string { return "connect-" + connector }

// Config returns a connector's configuration.
func (w *Worker) Config(name string) (map[string]string, error) {
	info, err := w.Connector(name)
	return info.Config, err
}

// ConnectorTopics returns the topics a connector has used: a sink's
// configured topics, a source's topics seen so far.
func (w *Worker) ConnectorTopics(name string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cr, err := w.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if cr.plugin.Type == TypeSink {
		return splitList(cr.config[ConfigTopics]), nil
	}
	if t := cr.config["topic"]; t != "" {
		return []string{t}, nil
	}
	return []string{}, nil
}

// offsetLookup returns the TaskContext.Offset function of connector name.
func (w *Worker) offsetLookup(name string) func(map[string]any) map[string]any {
	return func(part map[string]any) map[string]any {
		w.offMu.Lock()
		defer w.offMu.Unlock()
		o, ok := w.offsets[name][string(mustJSON(part))]
		if !ok {
			return nil
		}
		return o.offset
	}
}

// commitSourceOffsets writes the given offsets to the offsets topic and,
// once written, to memory.
func (w *Worker) commitSourceOffsets(name string, pending map[string]sourceOffset) error {
	if len(pending) == 0 {
		return nil
	}
	msgs := make([]*sarama.ProducerMessage, 0, len(pending))
	for _, o := range pending {
		key := mustJSON([]any{name, o.partition})
		msgs = append(msgs, &sarama.ProducerMessage{Topic: w.cfg.OffsetsTopic,
			Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(mustJSON(o.offset))})
	}
	if err := w.producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("committing source offsets: %w", err)
	}
	w.offMu.Lock()
	defer w.offMu.Unlock()
	m := w.offsets[name]
	if m == nil {
		m = map[string]sourceOffset{}
		w.offsets[name] = m
	}
	for k, o := range pending {
		m[k] = o
	}
	return nil
}
