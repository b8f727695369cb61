package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// Stages named in dead-letter headers, as Kafka Connect names them.
const (
	stageKeyConverter   = "KEY_CONVERTER"
	stageValueConverter = "VALUE_CONVERTER"
	stageTransformation = "TRANSFORMATION"
	stageTask           = "TASK_PUT"
	stageTaskPoll       = "TASK_POLL"
	stageProducer       = "KAFKA_PRODUCE"
)

// Dead-letter context headers (errors.deadletterqueue.context.headers.enable).
const (
	HeaderErrTopic      = "__connect.errors.topic"
	HeaderErrPartition  = "__connect.errors.partition"
	HeaderErrOffset     = "__connect.errors.offset"
	HeaderErrConnector  = "__connect.errors.connector.name"
	HeaderErrTask       = "__connect.errors.task.id"
	HeaderErrStage      = "__connect.errors.stage"
	HeaderErrClass      = "__connect.errors.class.name"
	HeaderErrExcClass   = "__connect.errors.exception.class.name"
	HeaderErrExcMessage = "__connect.errors.exception.message"
	HeaderErrExcTrace   = "__connect.errors.exception.stacktrace"
)

// errorHandler applies a connector's errors.* settings: retries of
// retriable failures with exponential backoff, then tolerance (fail the
// task or skip the record), logging and the dead-letter topic.
type errorHandler struct {
	connector    string
	task         int
	retryTimeout time.Duration // 0: no retries; <0: forever
	maxDelay     time.Duration
	tolerateAll  bool
	logErrors    bool
	logMessages  bool
	dlqTopic     string
	dlqHeaders   bool
	producer     sarama.SyncProducer
	logger       *slog.Logger
	m            *taskMetrics
	// sleep waits between retries; tests may replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func newErrorHandler(cfg Config, connector string, task int, producer sarama.SyncProducer, logger *slog.Logger, m *taskMetrics) *errorHandler {
	h := &errorHandler{
		m:            m,
		connector:    connector,
		task:         task,
		retryTimeout: cfg.Millis(ConfigErrorsRetryTimeout),
		maxDelay:     cfg.Millis(ConfigErrorsRetryDelayMax),
		tolerateAll:  cfg.String(ConfigErrorsTolerance) == "all",
		logErrors:    cfg.Bool(ConfigErrorsLogEnable),
		logMessages:  cfg.Bool(ConfigErrorsLogMessages),
		dlqTopic:     cfg.String(ConfigDLQTopic),
		dlqHeaders:   cfg.Bool(ConfigDLQContextHeaders),
		producer:     producer,
		logger:       logger,
		sleep:        sleepCtx,
	}
	if h.maxDelay <= 0 {
		h.maxDelay = time.Minute
	}
	return h
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry runs op, retrying it while it fails with a retriable error and
// errors.retry.timeout allows. Delays start at 300ms and double up to
// errors.retry.delay.max.ms.
func (h *errorHandler) retry(ctx context.Context, stage string, op func() error) error {
	start := time.Now()
	delay := 300 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !IsRetriable(err) || h.retryTimeout == 0 {
			return err
		}
		if h.retryTimeout > 0 {
			left := h.retryTimeout - time.Since(start)
			if left <= 0 {
				return fmt.Errorf("retries exhausted after %d attempts in %s: %w", attempt, stage, err)
			}
			delay = min(delay, left)
		}
		h.m.retries.Inc()
		h.logger.Warn("retriable error; retrying", "connector", h.connector, "task", h.task,
			"stage", stage, "attempt", attempt, "delay", delay, "err", err)
		if serr := h.sleep(ctx, delay); serr != nil {
			return err
		}
		delay = min(2*delay, h.maxDelay)
	}
}

// retryTask runs a task operation (Poll, Put, Flush). As in Kafka
// Connect, an error the task marks retriable is retried until it succeeds
// or the task stops, even with errors.retry.timeout=0; a positive timeout
// bounds the retries.
func (h *errorHandler) retryTask(ctx context.Context, stage string, op func() error) error {
	hh := *h
	if hh.retryTimeout == 0 {
		hh.retryTimeout = -1
	}
	return hh.retry(ctx, stage, op)
}

// failed is a record-level failure handed to tolerate.
type failed struct {
	stage      string
	class      string // the converter, transform or task that failed
	err        error
	topic      string
	partition  int32
	offset     int64
	key, value []byte // the record as read from Kafka (sinks) or converted (sources)
	headers    []Header
}

// ToleranceExceeded is the message of a task failure caused by a record
// error under errors.tolerance=none (Kafka Connect's wording).
const ToleranceExceeded = "Tolerance exceeded in error handler"

// tolerate decides what a record failure does: nil means skip the record
// (errors.tolerance=all, after logging and the dead-letter topic), an
// error means fail the task.
func (h *errorHandler) tolerate(ctx context.Context, f failed) error {
	h.m.errs.Inc()
	if h.logErrors || !h.tolerateAll {
		args := []any{"connector", h.connector, "task", h.task, "stage", f.stage, "class", f.class, "err", f.err}
		if f.topic != "" {
			args = append(args, "topic", f.topic, "partition", f.partition, "offset", f.offset)
		}
		if h.logMessages {
			args = append(args, "key", string(f.key), "value", string(f.value))
		}
		h.logger.Error("error processing record", args...)
	}
	if !h.tolerateAll {
		return fmt.Errorf("%s: %s stage (%s): %w", ToleranceExceeded, f.stage, f.class, f.err)
	}
	h.m.skipped.Inc()
	if h.dlqTopic == "" || h.producer == nil {
		return nil
	}
	msg := &sarama.ProducerMessage{Topic: h.dlqTopic}
	if f.key != nil {
		msg.Key = sarama.ByteEncoder(f.key)
	}
	if f.value != nil {
		msg.Value = sarama.ByteEncoder(f.value)
	}
	for _, hd := range f.headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(hd.Key), Value: hd.Value})
	}
	if h.dlqHeaders {
		add := func(k, v string) {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		if f.topic != "" {
			add(HeaderErrTopic, f.topic)
			add(HeaderErrPartition, strconv.Itoa(int(f.partition)))
			add(HeaderErrOffset, strconv.FormatInt(f.offset, 10))
		}
		add(HeaderErrConnector, h.connector)
		add(HeaderErrTask, strconv.Itoa(h.task))
		add(HeaderErrStage, f.stage)
		add(HeaderErrClass, f.class)
		add(HeaderErrExcClass, fmt.Sprintf("%T", f.err))
		add(HeaderErrExcMessage, f.err.Error())
		add(HeaderErrExcTrace, f.err.Error())
	}
	if _, _, err := h.producer.SendMessage(msg); err != nil {
		h.m.dlqFailures.Inc()
		return fmt.Errorf("writing to dead letter queue %s: %w", h.dlqTopic, err)
	}
	h.m.dlq.Inc()
	return nil
}
