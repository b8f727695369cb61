package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Type says which way a connector moves data: a source writes records to
// topics, a sink reads them from topics. The strings are Kafka Connect's.
type Type string

const (
	TypeSource Type = "source"
	TypeSink   Type = "sink"
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record as tasks and transforms see it: Key and Value are
// the converter's view of the bytes in Kafka (nil, bool, int64, float64,
// string, []byte, []any or map[string]any — JSON's data model plus bytes).
type Record struct {
	Topic string
	// Partition is the partition a sink record was read from. For source
	// records it is used only when SourceRecord.UsePartition is set;
	// otherwise the producer's partitioner picks one from the key.
	Partition int32
	// Offset is the sink record's offset in its partition; unused for sources.
	Offset    int64
	Key       any
	Value     any
	Headers   []Header
	Timestamp time.Time
}

// Header returns the value of the last header named key, and whether
// there is one.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// SourceRecord is a record a source task produced, with the position in
// the source system it came from. SourcePartition names a stream of the
// source (a file, a table); SourceOffset is how far along that stream the
// record is. Both must be JSON-encodable maps: the runtime stores the
// latest offset of each source partition in the offsets topic, once the
// record and everything before it has been acknowledged by the broker, and
// hands it back through TaskContext.Offset when the task starts again.
type SourceRecord struct {
	Record
	SourcePartition map[string]any
	SourceOffset    map[string]any
	// UsePartition sends the record to Record.Partition instead of letting
	// the partitioner choose.
	UsePartition bool
}

// Connector is the part of a plugin that runs once per configured
// connector: it checks its configuration and splits the work into tasks.
// Methods are called from one goroutine at a time.
type Connector interface {
	// Start receives the connector's validated configuration.
	Start(ctx context.Context, cfg Config) error
	// TaskConfigs returns the configuration of each task, at most maxTasks
	// of them. A task receives its map merged over the connector's config.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop releases what Start acquired.
	Stop() error
}

// SourceTask reads from an external system. The runtime calls its methods
// from one goroutine.
type SourceTask interface {
	// Start begins the task; tc.Offset gives the offsets committed by an
	// earlier run.
	Start(ctx context.Context, cfg Config, tc *TaskContext) error
	// Poll returns the next records. It should block for a while (up to a
	// second or so) when there are none, returning nil, nil, and must return
	// promptly when ctx is done. An error wrapped with Retriable is retried.
	Poll(ctx context.Context) ([]SourceRecord, error)
	// Stop releases the task's resources. It is called after Poll returned.
	Stop() error
}

// SourceAcker is implemented by source tasks that want to know when
// their records were acknowledged by the broker (Kafka Connect's
// commitRecord): Ack is called, from the task's goroutine, with the
// records of each Poll once all of them are stored, before the next Poll.
// The HTTP source uses it to answer a webhook only once its record is safe.
type SourceAcker interface {
	Ack(records []SourceRecord)
}

// SourceCommitter is implemented by source tasks that want to know when
// their offsets are durable (Kafka Connect's SourceTask.commit()): a task
// that must acknowledge its reads to the source system (a replication
// slot's confirmed position, a message queue's acks) does so in Commit,
// so the source never forgets what the offsets topic does not yet hold.
//
// Commit is called from the task's goroutine, between Polls (as Poll, so
// a task needs no locking for it), each time the runtime has written the
// task's source offsets to the offsets topic and the broker acknowledged
// them: after each offset flush that wrote offsets (every
// offset.flush.interval.ms, and when the task is paused), and, when the
// task stops cleanly, after the final flush (whether or not it had
// offsets to write) and before Stop, with a context of its own, as the
// task's is done by then. When Commit is called, the
// offsets of every record earlier Polls returned are in the offsets topic,
// and TaskContext.Offset returns them. A task that fails (Poll or
// producing returns an error) gets no Commit for its final flush.
//
// An error from Commit is logged; it does not fail the task, and Commit is
// called again after the next flush.
type SourceCommitter interface {
	Commit(ctx context.Context) error
}

// SinkTask writes to an external system. The runtime calls its methods
// from one goroutine.
type SinkTask interface {
	Start(ctx context.Context, cfg Config, tc *TaskContext) error
	// Put hands over a batch of records. The task may write them at once
	// or buffer them until Flush. An error wrapped with Retriable makes the
	// runtime retry the same batch with backoff.
	Put(ctx context.Context, records []Record) error
	// Flush makes every record of earlier Puts durable in the external
	// system. Only after it returns nil does the runtime commit the
	// records' offsets to the consumer group, so records whose Flush did
	// not complete are delivered again (at least once).
	Flush(ctx context.Context) error
	Stop() error
}

// Plugin describes a connector class: what the REST API lists under
// /connector-plugins and what a connector's connector.class names.
type Plugin struct {
	// Class is the fully qualified name, e.g.
	// "org.apache.kafka.connect.file.FileStreamSourceConnector".
	Class string
	// Aliases are other accepted names, e.g. "FileStreamSource".
	Aliases []string
	Type    Type
	Version string
	// Config defines the connector's own settings (those every connector
	// has, such as name and tasks.max, are added by the runtime).
	Config *ConfigDef
	// NewConnector makes a connector; NewSourceTask or NewSinkTask (the one
	// matching Type) makes a task.
	NewConnector  func() Connector
	NewSourceTask func() SourceTask
	NewSinkTask   func() SinkTask
}

// TaskContext is a task's view of the runtime.
type TaskContext struct {
	Connector string
	Task      int
	Logger    *slog.Logger

	offsets  func(partition map[string]any) map[string]any
	reporter func(ctx context.Context, r Record, err error) error
}

// Offset returns the last committed offset of a source partition, or nil.
func (tc *TaskContext) Offset(partition map[string]any) map[string]any {
	if tc == nil || tc.offsets == nil {
		return nil
	}
	return tc.offsets(partition)
}

// Report hands a sink record the task could not write to the runtime's
// error handling (Kafka Connect's ErrantRecordReporter): with
// errors.tolerance=all it goes to the dead-letter topic, if one is
// configured, and Report returns nil; with errors.tolerance=none Report
// returns an error the task should return to fail.
func (tc *TaskContext) Report(ctx context.Context, r Record, err error) error {
	if tc == nil || tc.reporter == nil {
		return err
	}
	return tc.reporter(ctx, r, err)
}

// NewTaskContext makes a TaskContext for tests of tasks, outside a worker.
// offsets may be nil.
func NewTaskContext(connector string, task int, offsets func(map[string]any) map[string]any) *TaskContext {
	return &TaskContext{Connector: connector, Task: task, Logger: slog.Default(), offsets: offsets}
}

// retriableError marks an error as transient.
type retriableError struct{ err error }

func (e retriableError) Error() string { return e.err.Error() }
func (e retriableError) Unwrap() error { return e.err }

// Retriable marks err as transient: the runtime retries the operation with
// backoff for as long as errors.retry.timeout allows.
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return retriableError{err}
}

// IsRetriable reports whether err, or an error it wraps, was marked with
// Retriable.
func IsRetriable(err error) bool {
	var r retriableError
	return errors.As(err, &r)
}

// Errors returned by Worker methods; the REST API maps them to HTTP status
// codes (404, 409, 400).
var (
	ErrNotFound      = errors.New("connectors: not found")
	ErrAlreadyExists = errors.New("connectors: already exists")
	ErrBadConfig     = errors.New("connectors: bad config")
	ErrClosed        = errors.New("connectors: worker closed")
)

// notFound returns an error wrapping ErrNotFound with Kafka Connect's text.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w", &apiError{ErrNotFound, fmt.Sprintf(format, args...)})
}

// apiError carries Kafka Connect's message for an error of a class.
type apiError struct {
	class error
	msg   string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.class }

func newAPIError(class error, format string, args ...any) error {
	return &apiError{class, fmt.Sprintf(format, args...)}
}
