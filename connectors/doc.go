// Package connectors is Eddy's connector runtime: Kafka Connect in Go. A
// connector moves data between Kafka topics and another system; a worker
// runs connectors, keeps their state in topics, and serves Kafka
// Connect's REST API, so Kafka Connect users' configs, scripts and habits
// carry over. The runtime talks to brokers only through the Kafka
// protocol (sarama), so it works with Eddy's embedded broker and with any
// Kafka cluster.
//
// # Writing a connector
//
// A Plugin names a connector class, its type (source or sink), its
// settings (a ConfigDef: typed, with defaults, required keys and
// validators) and constructors. Register it (built-in packages do so from
// init) or add it to a Plugins set given to the worker.
//
//   - Connector.Start gets the validated Config; TaskConfigs splits the
//     work into at most tasks.max task configurations.
//   - A SourceTask's Poll returns SourceRecords, each with a source
//     partition (which stream, e.g. {"filename": ...}) and a source offset
//     (how far, e.g. {"position": 1234}). On Start, TaskContext.Offset
//     gives back the last committed offset of a partition.
//   - A SinkTask gets batches through Put and makes them durable in Flush.
//
// Errors wrapped with Retriable are retried with exponential backoff
// (delays up to errors.retry.delay.max.ms) until they succeed, the task
// stops, or a positive errors.retry.timeout runs out; others fail the
// task, and the task's status carries the error as its trace.
//
// # Delivery guarantees
//
// Source: records are produced with acks=all; the offsets of acknowledged
// records are written to the offsets topic every offset.flush.interval.ms
// (WorkerConfig.OffsetFlushInterval) and when the task stops. After a
// crash a source resumes from the last written offset, so it may send
// some records again, never skip one. Sink: consumer-group offsets (group
// connect-NAME) are committed only after Flush returned, so after a crash
// the records since the last commit are delivered again. Both are at
// least once; a sink that upserts by key (the PostgreSQL sink with
// insert.mode=upsert) makes the end result exactly once.
//
// # The worker's topics
//
// As in Kafka Connect's distributed mode, and with the same record
// formats: connector configs and target states (paused, stopped) in
// connect-configs, source offsets in connect-offsets (key
// ["NAME",{partition}], value {offset}), statuses in connect-status. A
// worker started on the same topics brings back every connector with its
// state. All three are created compacted when missing.
//
// # Standalone and distributed mode
//
// Without WorkerConfig.GroupID a worker runs every connector and task
// itself. With it (Kafka's group.id) the workers of that group share the
// tasks: they join a group with their own assignment strategy and the
// leader balances the tasks. Rebalances are incremental and cooperative
// (Kafka's KIP-415): when a worker joins or leaves, only the tasks that
// move are stopped (committing their progress) and started on their new
// worker; the others keep running. REST calls work on any worker: changes
// go through the configs topic (forwarded to the leader when
// WorkerConfig.RESTURL is set), statuses are read back from the status
// topic. distributed.go explains the details.
//
// WorkerConfigFromProperties reads Kafka's worker properties
// (connect-standalone.properties, connect-distributed.properties).
//
// # Configuration
//
// Every connector takes Kafka Connect's common settings: name,
// connector.class (full class, simple name, or alias such as
// FileStreamSource), tasks.max, key.converter / value.converter (JSON —
// with schemas.enable, string, bytes, msgpack; Kafka's class names or the
// short names json, string, bytes, msgpack), transforms and predicates,
// errors.tolerance (none or all), errors.retry.*, errors.log.*; sinks also
// topics or topics.regex and errors.deadletterqueue.topic.name (records
// that fail conversion, transformation or that a task reports through
// TaskContext.Report go there, with __connect.errors.* headers when
// errors.deadletterqueue.context.headers.enable=true).
//
// Transforms use Kafka's class names (the org.apache.kafka.connect.transforms.
// prefix may be left out): InsertField, ReplaceField (include, exclude,
// renames), MaskField, ValueToKey, ExtractField, HoistField, Cast, Flatten,
// TimestampConverter, HeaderFrom (each $Key or $Value), TimestampRouter,
// RegexRouter, InsertHeader, DropHeaders and Filter; predicates
// TopicNameMatches, HasHeaderKey and RecordIsTombstone, attached with
// transforms.NAME.predicate and .negate.
//
// # Built-in connectors
//
// Sub-packages, each registering itself when imported: file
// (FileStreamSource, FileStreamSink), datagen (DatagenSource), http
// (HttpSource for webhooks, HttpSink) and postgres (PostgresSink).
//
// # REST API
//
// Worker.Handler serves Kafka Connect's paths and payloads, errors as
// {"error_code":N,"message":"..."}; see its doc for the list. Offsets can
// be read (GET /connectors/NAME/offsets) and, once the connector is
// stopped (PUT /connectors/NAME/stop), altered (PATCH) or reset (DELETE),
// as KIP-875 specifies. `eddy connect` runs a worker with it.
package connectors
