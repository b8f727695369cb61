// Package streams is Eddy's stream-processing library: a typed DSL in the
// style of Kafka Streams, compiled into a topology, run by a runtime that
// talks to any Kafka-compatible broker through github.com/IBM/sarama (Eddy's
// embedded broker or a Kafka cluster), and tested in memory with
// package streams/streamstest.
//
// # The DSL
//
// A Builder collects streams and tables:
//
//	b := streams.NewBuilder()
//	lines := streams.From(b, "text", streams.Consumed[string, string]{})
//	words := streams.FlatMapValues(lines, func(_, line string) []string { return strings.Fields(line) })
//	counts := streams.GroupBy(words, func(_, w string) string { return w }, streams.Grouped[string, string]{Name: "words"}).
//		Count(streams.Materialized[string, int64]{Name: "counts"})
//	counts.ToStream().To("word-counts", streams.Produced[string, int64]{})
//	topology, err := b.Build()
//
// Stream[K, V] is a record stream, Table[K, V] the latest value per key.
// Go methods cannot have type parameters of their own, so the rule is:
// operations that keep the key and value types are methods (Filter,
// FilterNot, Peek, Foreach, Merge, Split, To, Repartition, GroupByKey,
// Count, Reduce, ToStream, table Filter and To); operations that change a
// type are package functions named after the Kafka Streams operation, with
// the stream or table first (Map, MapValues, FlatMap, FlatMapValues,
// SelectKey, GroupBy, Aggregate, Join, LeftJoin, Process); table variants
// carry "Table" in their name (MapTableValues, JoinTables, LeftJoinTables,
// OuterJoinTables). Options are plain structs whose zero value means the
// default (Consumed, Produced, Grouped, Materialized, Repartitioned,
// StreamJoined, BufferConfig).
//
// Serdes are state.Serde values. Where none is given, DefaultSerde picks
// one from the type: strings, bytes, int64 and float64 have their own
// order-preserving encodings, everything else is msgpack.
//
// # Topologies and tasks
//
// Build splits the graph into sub-topologies: nodes connected by records,
// by a join with a table, or by a shared store belong together; repartition
// topics separate them. A task is a sub-topology run over one partition
// number of its input topics, with its own instances of the sub-topology's
// stores. Inputs of one sub-topology must be co-partitioned: same partition
// count and the same key-to-partition mapping (DefaultPartition, Kafka's
// murmur2, is what the runtime uses for repartition topics and To).
//
// An operation that may change keys (Map, SelectKey, FlatMap, Process)
// marks the stream; grouping or joining a marked stream first writes it to
// a repartition topic keyed by the new key and reads it back, so that equal
// keys meet in one task. Repartition does the same explicitly.
// Topology.Describe prints sub-topologies, nodes, stores and internal
// topics like Kafka Streams' TopologyDescription.
//
// GroupTableBy re-groups a table by a new key into a GroupedTable, whose
// Count, Reduce and AggregateTable keep aggregates with an adder and a
// subtractor: an update takes the old value out of its group and puts the
// new one into its (possibly other) group, as Kafka Streams' KGroupedTable.
//
// GlobalTableFrom reads a topic into a GlobalTable: every instance of an
// app loads all of its partitions into a store before it processes
// anything, then follows the topic's updates. JoinGlobal and LeftJoinGlobal
// join a stream with it on a key computed from each record, with no
// repartitioning and no co-partitioning.
//
// Tables materialized by a source or an aggregation live in state stores
// (package state): LevelDB by default, in memory on request, each with a
// compacted changelog topic "<application id>-<store>-changelog" holding
// its content. Tables derived by Filter, MapTableValues or joins are not
// stored; looking them up computes the value from their parents.
//
// # The runtime
//
// NewApp and App.Run run a topology at least once. The application id
// names the consumer group and the internal topics, which Run creates with
// the right partition counts. Every instance of an app joins the group with
// the "eddy-streams" balance strategy, which assigns whole tasks (keeping
// co-partitioned inputs together and tasks with the instance that already
// has their stores open). Before a task processes anything its stores are
// restored from their changelogs, from the local checkpoint when there is
// one. Restoration runs in the task's own goroutine after the rebalance has
// completed, so a long one holds up neither the group nor the instance's
// other tasks; a rebalance in the middle of it cancels it, and the task
// restores again (from its checkpoint, or in full) wherever it is assigned
// next.
//
// Each input partition of a task has a buffer (Config.BufferedRecordsPerPartition
// records, Kafka's buffered.records.per.partition; fetching the partition
// pauses while it is full), and the task processes, one at a time, the
// buffered record with the smallest timestamp across its partitions, as
// Kafka Streams does: a task reading two topics, a join say, sees their
// records in timestamp order even while it catches up on a backlog in
// which one topic was written long before the other. When one of its
// partitions has nothing buffered, the task waits as Config.MaxTaskIdle
// (Kafka's max.task.idle.ms) says: by default only for records the
// partition's high watermark says are on the broker, not for new ones.
//
// Outputs, repartition and changelog records are produced asynchronously,
// in batches, and at every commit the app waits for all of them to be
// acknowledged, writes store checkpoints, then commits the input offsets
// of the records processed. After a crash, records since the last commit
// are processed again: counts may exceed the truth by those records, never
// fall short. Exactly-once (transactions) is not there yet.
//
// A record that cannot be decoded goes to the ErrorPolicy of the app:
// fail, log and continue, or a dead-letter topic.
//
// Given a Config.Registerer, an app exports Prometheus metrics (the
// Metric* constants): records processed and process latency, commits and
// commit latency, restoration progress, late records dropped, suppression
// buffer sizes and the changelog records saved by store caches, labelled
// with application_id and task and store where they apply. When it starts
// and after every rebalance, an app publishes its AppDescription (its
// topology as Topology.Description gives it, with the number of
// instances) to the compacted topic StreamsAppsTopic, keyed by application
// id, for consoles to list and draw.
//
// # Windows
//
// Windowed aggregations group by key and window of event time: the
// record's Kafka timestamp, or what Consumed.Timestamp extracts. Windowing
// changes the key type to Windowed[K] (the key with its window's Start and
// End), so it is done by functions: WindowedBy (TimeWindows: tumbling, or
// hopping with an Advance), WindowedBySliding (SlidingWindows) and
// WindowedBySession (SessionWindows). The windowed streams have Count and
// Reduce methods and the functions AggregateWindowed and AggregateSessions:
//
//	perMinute := streams.WindowedBy(views.GroupByKey(streams.Grouped[string, View]{}),
//		streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}).
//		Count(streams.Materialized[string, int64]{Name: "views-per-minute"})
//	perMinute.Suppress(streams.UntilWindowCloses(streams.BufferConfig{})).
//		ToStream().To("views-per-minute", streams.Produced[streams.Windowed[string], int64]{})
//
// Stream time is per task, as in Kafka Streams: the largest (extracted)
// timestamp the task has processed (records are processed in timestamp
// order across the task's partitions, see above); it drives stream-time
// punctuations. Windowed operations (windowed and session aggregations,
// suppression, stream-stream joins) each go by the stream time they
// observe, as Kafka Streams' observedStreamTime: the largest timestamp of
// the records that operation has seen, so that a merged or branched stream
// far ahead of theirs does not close their windows. Both are committed
// with the input offsets (in the commit metadata, as Kafka Streams does),
// so a task that restarts or moves resumes them. A window takes records
// until its operation's stream time passes its end
// plus its grace period; records out of order within that time update the
// windows they belong to, later ones are dropped, counted
// (App.LateRecordsDropped, streamstest.Driver.LateRecordsDropped) and
// logged at debug level. Windowed tables live in window stores (session
// stores for sessions) whose retention defaults to the window size plus the
// grace period (Materialized.Retention); every update of a window is passed
// on with the largest timestamp aggregated into it (a session's end for
// sessions). A session that a record merges into another is passed on as a
// deletion. TimeWindowedSerde and SessionWindowedSerde write windowed keys
// in Kafka Streams' byte layout, so Java consumers can read them.
//
// JoinStreams, LeftJoinStreams and OuterJoinStreams join two
// co-partitioned streams within JoinWindows: records of equal keys whose
// timestamps are at most Before apart one way and After the other. Left
// and outer joins pass on records that found no partner once their window
// has closed.
//
// Table.Suppress holds updates back: UntilWindowCloses emits exactly one
// final result per window, UntilTimeLimit at most one update per key per
// time limit. Its buffer is bounded by a BufferConfig, which says whether a
// full buffer fails the app (ShutDownWhenFull, the default) or emits its
// oldest updates early (EmitEarlyWhenFull, not for UntilWindowCloses).
//
// # Processor API
//
// Process runs a custom Processor over a stream, with named key-value
// stores (AddStore, GetStore) and punctuations on stream time or wall-clock
// time (ProcessorContext.Schedule).
//
// # Testing
//
// streams/streamstest runs a Topology in memory, one task per
// sub-topology, with input and output topics typed by their serdes; see the
// package example.
package streams
