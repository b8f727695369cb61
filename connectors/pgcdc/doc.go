// Package pgcdc provides a PostgreSQL change-data-capture source
// connector: it reads row changes from PostgreSQL's logical replication
// stream (the built-in pgoutput plugin, through github.com/jackc/pglogrepl)
// and writes one record per inserted, updated or deleted row to a topic
// per table, in the shape of Debezium's PostgreSQL connector, whose
// setting names it uses:
//
//	connector.class=PostgresCdcSource        (or io.debezium.connector.postgresql.PostgresConnector)
//	database.hostname=127.0.0.1              required
//	database.port=5432
//	database.user=postgres                   required; needs the REPLICATION attribute (or superuser)
//	database.password=...
//	database.dbname=test                     required
//	database.sslmode=prefer                  disable | allow | prefer | require | verify-ca | verify-full
//	topic.prefix=shop                        required; records of table s.t go to topic shop.s.t
//	plugin.name=pgoutput                     the only decoder supported
//	slot.name=eddy                           the replication slot, created when absent
//	slot.drop.on.stop=false                  drop the slot when the task stops (for tests and demos)
//	publication.name=eddy_publication        the publication, created when absent
//	publication.autocreate.mode=all_tables   all_tables | filtered (FOR TABLE the tables the lists select) | disabled
//	table.include.list=public.orders,...     regular expressions matched against schema.table; empty: every table
//	table.exclude.list=...                   regular expressions of tables to leave out
//	snapshot.mode=initial                    initial: read every selected table first; no_data (or never): changes only
//	tombstones.on.delete=true                follow each delete with a record with a null value (for compaction)
//	decimal.handling.mode=string             numeric columns as strings (exact), double, or precise (Debezium's bytes)
//	unavailable.value.placeholder=__debezium_unavailable_value   for unchanged TOASTed values in updates
//	max.batch.size=2048                      the most records one poll returns
//	poll.interval.ms=500                     how long a poll waits for a change when there is none
//	status.update.interval.ms=10000          how often the position is reported to PostgreSQL when idle
//
// The database needs wal_level=logical (ALTER SYSTEM SET wal_level =
// logical, then a restart). The connector runs a single task.
//
// # Records
//
// A record's key is the row's primary key as a map of column name to value
// (nil for a table without a primary key); its value is Debezium's
// envelope:
//
//	{"before": {...} | null, "after": {...} | null, "op": "c" | "u" | "d" | "r",
//	 "source": {"version", "connector": "postgresql", "name": topic.prefix, "db", "schema", "table",
//	            "txId", "lsn", "ts_ms": commit time, "snapshot": "true" | "last" | "false"},
//	 "ts_ms": when the connector read the change}
//
// "r" marks rows read by the initial snapshot. An update's "before" holds
// the old row only when the table has REPLICA IDENTITY FULL; a delete's
// "before" holds the old row (FULL) or its key columns. With
// tombstones.on.delete a delete is followed by a record with the same key
// and a null value. Truncates are not captured (as Debezium by default).
// Each record's timestamp is its transaction's commit time.
//
// # Column values
//
// Column values are typed as Debezium's PostgreSQL connector types them
// with its default settings (time.precision.mode=adaptive, here with
// decimal.handling.mode=string; see below). The Go value is what a record
// holds, the JSON what the JSON converter writes:
//
//	PostgreSQL              Go value  JSON example                  Debezium schema type (name)
//	boolean                 bool      true                          boolean
//	smallint                int64     -32768                        int16
//	integer                 int64     -2147483648                   int32
//	bigint                  int64     -9223372036854775808          int64
//	real                    float64   1.5                           float32
//	double precision        float64   -2.25                         float64
//	numeric (string mode)   string    "-12.345"                     string
//	numeric (double mode)   float64   -12.345                       float64
//	numeric(p,s) (precise)  []byte    "z8c=" (-12345 at scale 3)    bytes (org.apache.kafka.connect.data.Decimal, scale=s)
//	numeric (precise)       map       {"scale":4,"value":"EtZE"}    struct (io.debezium.data.VariableScaleDecimal)
//	text, varchar, char     string    "ab "                         string
//	uuid                    string    "a0eebc99-9c0b-4ef8-..."      string (io.debezium.data.Uuid)
//	json, jsonb             string    "{\"a\": [1, 2.5]}"          string (io.debezium.data.Json)
//	date                    int64     19782: days since 1970-01-01  int32 (io.debezium.time.Date)
//	timestamp               int64     1709214330123456: µs since 1970-01-01 00:00
//	                                                                int64 (io.debezium.time.MicroTimestamp)
//	timestamptz             string    "2024-02-29T11:45:30.5Z": ISO-8601 in UTC
//	                                                                string (io.debezium.time.ZonedTimestamp)
//	time                    int64     86399999999: µs since midnight int64 (io.debezium.time.MicroTime)
//	bytea                   []byte    "3q2+7w==" (base64)           bytes
//	NULL                    nil       null                          (optional field)
//	any other type          string    its text form: "1 day 02:00:00" (interval), "{1,2}" (int[]), ...
//
// (oid columns are int64 too.) Values JSON cannot hold as numbers stay in
// their text form, as strings: NaN, Infinity and -Infinity of real, double
// precision and numeric (in precise mode too: Debezium's precise mode
// cannot carry them either), the dates and timestamps infinity and
// -infinity, and a timestamptz outside the years 0000 to 9999. Years BC
// count down from year 0 (1 BC), as in ISO-8601.
//
// decimal.handling.mode: Debezium's default is precise, Eddy's is string,
// which this package has used since before it had precise: it keeps the
// exact value, readable without a schema. precise writes the unscaled
// value's big-endian two's-complement bytes (Java's
// BigInteger.toByteArray, base64 in JSON) at the column's declared scale,
// or, for a numeric without a declared scale, the value's own scale with
// those bytes; double writes a float64 (rounding).
//
// The connector does not attach Connect schemas to its records: the
// values are plain maps, and the JSON converter with schemas.enable
// infers a schema from each value (integers as int64, floats as double,
// []byte as bytes, maps as structs), without the Debezium schema names
// and parameters above. A reader of precise numerics therefore takes the
// scale of a numeric(p,s) column from the table's definition.
//
// An unchanged TOASTed value, which PostgreSQL leaves out of an update
// (pgoutput's 'u'), is the string unavailable.value.placeholder
// (__debezium_unavailable_value), as in Debezium; with REPLICA IDENTITY
// FULL the "before" row has the value.
//
// The connector's connections set DateStyle=ISO, extra_float_digits=3 and
// bytea_output=hex, so that the text forms it reads do not depend on the
// server's or database's settings.
//
// # Offsets and restarts
//
// The source partition is {"server": topic.prefix}; the offset is
// {"lsn": N, "txId": X, "lsn_commit": C, "event": E}: lsn is where
// streaming resumes (the end of the last transaction whose records were
// all handed over), and a record in the middle of a transaction also
// names that transaction's commit LSN and how many of its changes are
// done, so that a task resuming there skips them. The replication slot's
// confirmed position (standby status updates) only ever moves to an offset
// the worker has committed to its offsets topic (the task confirms it when
// the worker calls its Commit, after each offset flush), so PostgreSQL
// keeps every change not yet safely in Kafka; a restarted task resumes at
// the stored offset, repeating at most changes whose offsets were not
// committed (at least once). When every record handed over is committed,
// the position also moves past transactions that produced no records
// (other tables), so an idle connector does not hold back WAL.
//
// The initial snapshot reads the selected tables in one REPEATABLE READ
// transaction: from the snapshot the new slot exported, when the task
// created the slot, so snapshot and stream meet exactly; otherwise (a slot
// that already exists) from a fresh snapshot, and streaming then starts at
// the slot's position, which may repeat changes the snapshot already shows.
// A task stopped during the snapshot does it again when it restarts.
//
// A replication connection that fails (or that PostgreSQL closes after
// wal_sender_timeout, as it does while the connector is paused and not
// polling) is opened again by the next poll, streaming from the last
// record handed over; the failed poll is retried with backoff.
//
// Importing the package registers the connector.
package pgcdc
