package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// sinkRunner drives one sink task from a consumer group (connect-NAME,
// shared by the connector's tasks, so they split the partitions). Sarama
// runs ConsumeClaim in a goroutine per partition; mu serializes their
// calls into the task. Offsets are committed only after Flush returned:
// records are delivered at least once.
type sinkRunner struct {
	w        *Worker
	cr       *connectorRun
	t        *taskRun
	task     SinkTask
	kc, vc   Converter
	chain    chain
	eh       *errorHandler
	logger   *slog.Logger
	interval time.Duration
	maxBatch int // records per Put
	cancel   context.CancelFunc
	paused   atomic.Bool

	// mu guards the following and serializes calls into task.
	mu        sync.Mutex
	pending   map[string]map[int32]int64 // next offset to commit, by topic and partition
	lastFlush time.Time
	err       error
}

// maxSinkBatch bounds the records handed to one Put, unless
// WorkerConfig.ConsumerMaxPollRecords does.
const maxSinkBatch = 1000

func (w *Worker) runSink(ctx context.Context, cr *connectorRun, t *taskRun, props map[string]string, paused bool, logger *slog.Logger) error {
	cfg, err := w.parseConnectorConfig(cr.plugin, props)
	if err != nil {
		return err
	}
	ch, err := newChain(props)
	if err != nil {
		return err
	}
	kc, vc, err := w.converters(props)
	if err != nil {
		return err
	}
	var topicsRe *regexp.Regexp
	if re := cfg.String(ConfigTopicsRegex); re != "" {
		if topicsRe, err = regexp.Compile("^(?:" + re + ")$"); err != nil {
			return fmt.Errorf("topics.regex: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &sinkRunner{w: w, cr: cr, t: t, kc: kc, vc: vc, chain: ch, logger: logger,
		interval: w.cfg.OffsetFlushInterval, maxBatch: maxSinkBatch, cancel: cancel,
		pending: map[string]map[int32]int64{}, lastFlush: time.Now()}
	if n := w.cfg.ConsumerMaxPollRecords; n > 0 {
		s.maxBatch = n
	}
	s.paused.Store(paused)
	dlq := w.producer
	if cfg.String(ConfigDLQTopic) != "" {
		p, closeP, err := w.taskProducer(fmt.Sprintf("connector-dlq-producer-%s-%d", cr.name, t.id))
		if err != nil {
			return err
		}
		defer closeP()
		dlq = p
	}
	s.eh = newErrorHandler(cfg, cr.name, t.id, dlq, logger, t.m)
	s.task = cr.plugin.NewSinkTask()
	tc := &TaskContext{Connector: cr.name, Task: t.id, Logger: logger, reporter: s.report}
	if err := s.task.Start(ctx, cfg, tc); err != nil {
		return fmt.Errorf("starting task: %w", err)
	}
	defer func() {
		if err := s.task.Stop(); err != nil {
			logger.Warn("stopping task", "err", err)
		}
	}()

	sc := saramaConfig(w.cfg, consumerClient, func(sc *sarama.Config) {
		sc.ClientID = fmt.Sprintf("connector-consumer-%s-%d", cr.name, t.id)
		sc.Consumer.Fetch.Default = 1 << 20
		sc.Consumer.MaxWaitTime = 250 * time.Millisecond
	})
	group, err := sarama.NewConsumerGroup(w.cfg.Brokers, sinkGroup(cr.name), sc)
	if err != nil {
		if w.cfg.ConsumerSecurity != nil {
			return fmt.Errorf("joining group %s with the consumer.* settings: %w", sinkGroup(cr.name), err)
		}
		return fmt.Errorf("joining group %s: %w", sinkGroup(cr.name), err)
	}
	defer group.Close()

	setState := func() {
		state := StateRunning
		if s.paused.Load() {
			state = StatePaused
		}
		w.setTaskState(cr, t, state, "")
	}
	setState()
	go func() {
		for {
			select {
			case p := <-t.pauseC:
				s.paused.Store(p)
				setState()
			case <-ctx.Done():
				return
			}
		}
	}()

	topics := cfg.List(ConfigTopics)
	for ctx.Err() == nil {
		if topicsRe != nil {
			_ = w.client.RefreshMetadata()
			all, err := w.client.Topics()
			if err != nil {
				return err
			}
			topics = topics[:0]
			for _, tp := range all {
				if topicsRe.MatchString(tp) {
					topics = append(topics, tp)
				}
			}
			if len(topics) == 0 {
				_ = sleepCtx(ctx, time.Second)
				continue
			}
		}
		err := group.Consume(ctx, topics, s)
		s.mu.Lock()
		ferr := s.err
		s.mu.Unlock()
		if ferr != nil {
			return ferr
		}
		if err != nil && ctx.Err() == nil {
			logger.Warn("consumer group session ended", "err", err)
			_ = sleepCtx(ctx, time.Second)
		}
	}
	return nil
}

func (s *sinkRunner) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup runs when a session ends (rebalance or stop), after every
// ConsumeClaim returned: flush and commit what was delivered, so the next
// owner of those partitions starts right after it.
func (s *sinkRunner) Cleanup(sess sarama.ConsumerGroupSession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.flushLocked(ctx, sess)
}

func (s *sinkRunner) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	tick := min(s.interval, time.Second)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		msgs := claim.Messages()
		if s.paused.Load() {
			msgs = nil // stop reading; the fetcher backs up
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			batch := []*sarama.ConsumerMessage{m}
		drain:
			for len(batch) < s.maxBatch {
				select {
				case m, ok := <-msgs:
					if !ok {
						break drain
					}
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := s.process(sess, batch); err != nil {
				return err
			}
		case <-ticker.C:
			s.mu.Lock()
			var err error
			if s.err == nil && time.Since(s.lastFlush) >= s.interval {
				err = s.flushLocked(sess.Context(), sess)
			}
			s.mu.Unlock()
			if err != nil {
				return err
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// process converts, transforms and Puts one batch of one partition.
func (s *sinkRunner) process(sess sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	ctx := sess.Context()
	s.t.m.read.Add(float64(len(batch)))
	recs := make([]Record, 0, len(batch))
	for _, m := range batch {
		r, err := s.convert(ctx, m)
		if err != nil {
			return s.failLocked(err)
		}
		if r != nil {
			recs = append(recs, *r)
		}
	}
	if len(recs) > 0 {
		start := time.Now()
		err := s.eh.retryTask(ctx, stageTask, func() error { return s.task.Put(ctx, recs) })
		if err == nil {
			s.t.m.putTime.Observe(time.Since(start).Seconds())
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // rebalance or stop during retries: redelivered later
			}
			return s.failLocked(fmt.Errorf("task threw an error in put: %w", err))
		}
		s.t.m.put.Add(float64(len(recs)))
	}
	last := batch[len(batch)-1]
	p := s.pending[last.Topic]
	if p == nil {
		p = map[int32]int64{}
		s.pending[last.Topic] = p
	}
	p[last.Partition] = last.Offset + 1
	if time.Since(s.lastFlush) >= s.interval {
		return s.flushLocked(ctx, sess)
	}
	return nil
}

// convert turns a consumed message into a record; nil means skipped.
func (s *sinkRunner) convert(ctx context.Context, m *sarama.ConsumerMessage) (*Record, error) {
	f := failed{topic: m.Topic, partition: m.Partition, offset: m.Offset, key: m.Key, value: m.Value}
	for _, h := range m.Headers {
		f.headers = append(f.headers, Header{Key: string(h.Key), Value: h.Value})
	}
	key, err := s.kc.ToConnect(m.Topic, m.Key)
	if err != nil {
		f.stage, f.class, f.err = stageKeyConverter, fmt.Sprintf("%T", s.kc), err
		return nil, s.eh.tolerate(ctx, f)
	}
	value, err := s.vc.ToConnect(m.Topic, m.Value)
	if err != nil {
		f.stage, f.class, f.err = stageValueConverter, fmt.Sprintf("%T", s.vc), err
		return nil, s.eh.tolerate(ctx, f)
	}
	r := &Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: key, Value: value,
		Headers: f.headers, Timestamp: m.Timestamp}
	out, err := s.chain.apply(r)
	if err != nil {
		f.stage, f.class, f.err = stageTransformation, "transform", err
		return nil, s.eh.tolerate(ctx, f)
	}
	return out, nil
}

// report is the task's TaskContext.Report: the record goes through the
// error handler as a failure of the task's put stage.
func (s *sinkRunner) report(ctx context.Context, r Record, err error) error {
	key, _ := s.kc.FromConnect(r.Topic, r.Key)
	value, _ := s.vc.FromConnect(r.Topic, r.Value)
	return s.eh.tolerate(ctx, failed{stage: stageTask, class: fmt.Sprintf("%T", s.task), err: err,
		topic: r.Topic, partition: r.Partition, offset: r.Offset, key: key, value: value, headers: r.Headers})
}

// flushLocked flushes the task and commits the offsets it covers.
// REQUIRES: s.mu.
func (s *sinkRunner) flushLocked(ctx context.Context, sess sarama.ConsumerGroupSession) error {
	s.lastFlush = time.Now()
	if len(s.pending) == 0 {
		return nil
	}
	start := time.Now()
	defer func() { s.t.m.commitTime.Observe(time.Since(start).Seconds()) }()
	if err := s.eh.retryTask(ctx, "TASK_FLUSH", func() error { return s.task.Flush(ctx) }); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		s.t.m.commitsFailed.Inc()
		return s.failLocked(fmt.Errorf("task threw an error in flush: %w", err))
	}
	for topic, ps := range s.pending {
		for p, off := range ps {
			sess.MarkOffset(topic, p, off, "")
		}
	}
	sess.Commit()
	s.t.m.commitsOK.Inc()
	clear(s.pending)
	return nil
}

// failLocked records the task's failure and ends its consumption.
// REQUIRES: s.mu.
func (s *sinkRunner) failLocked(err error) error {
	if s.err == nil {
		s.err = err
		s.cancel()
	}
	return err
}
