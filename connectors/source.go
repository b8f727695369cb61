package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// runSource runs a source task until ctx is done or it fails:
// poll → transform → convert → produce (acks=all) → remember the offsets
// of acknowledged records → every offset.flush.interval.ms write them to
// the offsets topic. Offsets of records dropped by a transform or skipped
// under errors.tolerance=all advance too. Because offsets are written
// only after the records they cover were acknowledged, a crash can repeat
// records (at least once) but never lose one. A task that implements
// SourceCommitter has Commit called, on this goroutine, after each flush
// that wrote offsets and after the final flush of a clean stop.
func (w *Worker) runSource(ctx context.Context, cr *connectorRun, t *taskRun, props map[string]string, paused bool, logger *slog.Logger) (err error) {
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
	eh := newErrorHandler(cfg, cr.name, t.id, nil, logger, t.m)
	producer, closeProducer, err := w.taskProducer(fmt.Sprintf("connector-producer-%s-%d", cr.name, t.id))
	if err != nil {
		return err
	}
	defer closeProducer()
	task := cr.plugin.NewSourceTask()
	tc := &TaskContext{Connector: cr.name, Task: t.id, Logger: logger, offsets: w.offsetLookup(cr.name)}
	if err := task.Start(ctx, cfg, tc); err != nil {
		return fmt.Errorf("starting task: %w", err)
	}
	defer func() {
		if err := task.Stop(); err != nil {
			logger.Warn("stopping task", "err", err)
		}
	}()
	committer, _ := task.(SourceCommitter)
	// taskCommit tells the task its offsets are durable; its errors are
	// logged, as Kafka Connect does, and do not fail the task.
	taskCommit := func(ctx context.Context) {
		if committer == nil {
			return
		}
		if err := committer.Commit(ctx); err != nil {
			logger.Error("source task commit failed", "err", err)
		}
	}
	pending := map[string]sourceOffset{}
	lastCommit := time.Now()
	// flush writes the pending offsets; wrote says whether there were any.
	flush := func() (wrote bool, err error) {
		if len(pending) == 0 {
			return false, nil
		}
		start := time.Now()
		defer func() { t.m.commitTime.Observe(time.Since(start).Seconds()) }()
		if err := w.commitSourceOffsets(cr.name, pending); err != nil {
			t.m.commitsFailed.Inc()
			return false, err
		}
		t.m.commitsOK.Inc()
		clear(pending)
		lastCommit = time.Now()
		return true, nil
	}
	commit := func() error {
		wrote, err := flush()
		if wrote {
			taskCommit(ctx)
		}
		return err
	}
	// Offsets in pending cover acknowledged records only, so they are
	// written whatever way the loop ends. This runs before the deferred
	// Stop, so a clean stop's Commit comes before Stop.
	defer func() {
		if _, ferr := flush(); ferr != nil {
			logger.Warn("final offset commit", "err", ferr)
			return
		}
		if err == nil {
			// The task's context is done; Commit gets one of its own.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			taskCommit(cctx)
		}
	}()
	setRunning := func() {
		state := StateRunning
		if paused {
			state = StatePaused
		}
		w.setTaskState(cr, t, state, "")
	}
	setRunning()
	for {
		select {
		case paused = <-t.pauseC:
			setRunning()
			continue
		case <-ctx.Done():
			return nil
		default:
		}
		if paused {
			if err := commit(); err != nil {
				return err
			}
			select {
			case paused = <-t.pauseC:
				setRunning()
			case <-ctx.Done():
				return nil
			}
			continue
		}
		var recs []SourceRecord
		pollStart := time.Now()
		err := eh.retryTask(ctx, stageTaskPoll, func() error {
			var err error
			recs, err = task.Poll(ctx)
			return err
		})
		if err == nil && len(recs) > 0 {
			t.m.pollTime.Observe(time.Since(pollStart).Seconds())
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.m.polled.Add(float64(len(recs)))
		msgs := make([]*sarama.ProducerMessage, 0, len(recs))
		for i := range recs {
			msg, err := w.sourceMessage(ctx, eh, ch, kc, vc, &recs[i])
			if err != nil {
				return err
			}
			if msg != nil {
				msgs = append(msgs, msg)
			}
		}
		if len(msgs) > 0 {
			if err := producer.SendMessages(msgs); err != nil {
				return fmt.Errorf("producing records: %w", err)
			}
			t.m.written.Add(float64(len(msgs)))
		}
		if acker, ok := task.(SourceAcker); ok && len(recs) > 0 {
			acker.Ack(recs)
		}
		for i := range recs {
			if recs[i].SourcePartition != nil && recs[i].SourceOffset != nil {
				pending[string(mustJSON(recs[i].SourcePartition))] = sourceOffset{recs[i].SourcePartition, recs[i].SourceOffset}
			}
		}
		if time.Since(lastCommit) >= w.cfg.OffsetFlushInterval {
			if err := commit(); err != nil {
				return err
			}
		}
	}
}

// sourceMessage transforms and converts one source record; nil means the
// record was dropped or skipped.
func (w *Worker) sourceMessage(ctx context.Context, eh *errorHandler, ch chain, kc, vc Converter, sr *SourceRecord) (*sarama.ProducerMessage, error) {
	r := sr.Record
	out, err := ch.apply(&r)
	if err != nil {
		return nil, eh.tolerate(ctx, failed{stage: stageTransformation, class: "transform", err: err})
	}
	if out == nil {
		return nil, nil
	}
	key, err := kc.FromConnect(out.Topic, out.Key)
	if err != nil {
		return nil, eh.tolerate(ctx, failed{stage: stageKeyConverter, class: fmt.Sprintf("%T", kc), err: err})
	}
	value, err := vc.FromConnect(out.Topic, out.Value)
	if err != nil {
		return nil, eh.tolerate(ctx, failed{stage: stageValueConverter, class: fmt.Sprintf("%T", vc), err: err})
	}
	if out.Topic == "" {
		return nil, fmt.Errorf("source record has no topic")
	}
	msg := &sarama.ProducerMessage{Topic: out.Topic, Timestamp: out.Timestamp}
	if key != nil {
		msg.Key = sarama.ByteEncoder(key)
	}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	if sr.UsePartition {
		msg.Partition = out.Partition
	}
	for _, h := range out.Headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return msg, nil
}
