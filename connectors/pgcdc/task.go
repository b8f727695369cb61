package pgcdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/eddy-streams/eddy/connectors"
)

// position is a source offset (see the package comment).
type position struct {
	LSN      pglogrepl.LSN // where streaming resumes
	Commit   pglogrepl.LSN // commit LSN of a transaction partly handed over
	TxID     uint32
	Event    int64 // changes of that transaction handed over
	Snapshot bool  // the initial snapshot is not complete
}

func (p position) offset() map[string]any {
	m := map[string]any{"lsn": int64(p.LSN)}
	if p.TxID != 0 {
		m["txId"] = int64(p.TxID)
	}
	if p.Commit != 0 {
		m["lsn_commit"] = int64(p.Commit)
	}
	if p.Event != 0 {
		m["event"] = p.Event
	}
	if p.Snapshot {
		m["snapshot"] = true
	}
	return m
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), x == float64(int64(x))
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// parsePosition reads an offset; ok is false for nil or a malformed one.
func parsePosition(m map[string]any) (position, bool) {
	if m == nil {
		return position{}, false
	}
	lsn, ok := toInt64(m["lsn"])
	if !ok || lsn < 0 {
		return position{}, false
	}
	p := position{LSN: pglogrepl.LSN(lsn)}
	if v, ok := toInt64(m["txId"]); ok {
		p.TxID = uint32(v)
	}
	if v, ok := toInt64(m["lsn_commit"]); ok {
		p.Commit = pglogrepl.LSN(v)
	}
	if v, ok := toInt64(m["event"]); ok {
		p.Event = v
	}
	p.Snapshot, _ = m["snapshot"].(bool)
	return p, true
}

// relation is a table as the stream describes it.
type relation struct {
	schema, table string
	cols          []column
	key           []string // primary key columns
	selected      bool
}

type column struct {
	name   string
	oid    uint32
	typmod int32 // the type modifier (numeric's precision and scale), -1 for none
}

// txState is the transaction being received.
type txState struct {
	xid    uint32
	commit pglogrepl.LSN
	time   time.Time
	events int64 // insert/update/delete messages received
}

// snapshotState is the initial snapshot in progress.
type snapshotState struct {
	lsn    pglogrepl.LSN // where streaming starts after it
	tables []snapTable
	next   int  // index of the table being read
	open   bool // a cursor over tables[next] is open
	held   *connectors.SourceRecord
}

type snapTable struct {
	oid           uint32
	schema, table string
	key           []string
}

const snapshotCursor = "eddy_pgcdc_snapshot"

// Task streams changes from one replication slot.
type Task struct {
	s      settings
	tc     *connectors.TaskContext
	logger *slog.Logger

	db        *pgx.Conn      // catalog queries and the snapshot
	repl      *pgconn.PgConn // the replication connection, nil when closed
	streaming bool           // repl is streaming

	snap *snapshotState

	relations map[uint32]*relation
	tx        *txState
	resume    pglogrepl.LSN // the "lsn" of the next record's offset
	skip      position      // changes to skip after (re)starting mid-transaction
	received  pglogrepl.LSN // highest WAL position received
	processed pglogrepl.LSN // everything before it was handed over or produced nothing

	lastReturned   position // offset of the last record Poll returned
	committed      position // offset the worker last wrote to its offsets topic
	confirmed      pglogrepl.LSN
	lastStatus     time.Time
	replyRequested bool
}

var _ connectors.SourceCommitter = (*Task)(nil)

func (t *Task) partition() map[string]any { return map[string]any{"server": t.s.prefix} }

// Start connects, makes sure the publication and the slot exist, and
// begins the snapshot or the stream.
func (t *Task) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	t.s, t.tc, t.logger = s, tc, tc.Logger
	if t.logger == nil {
		t.logger = slog.Default()
	}
	t.db, err = pgx.Connect(ctx, s.connStr)
	if err != nil {
		return connectors.Retriable(fmt.Errorf("pgcdc: connecting to PostgreSQL: %w", err))
	}
	if err := t.setup(ctx); err != nil {
		t.Stop()
		return err
	}
	return nil
}

func (t *Task) setup(ctx context.Context) error {
	var level string
	if err := t.db.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return fmt.Errorf("pgcdc: reading wal_level: %w", err)
	}
	if level != "logical" {
		return fmt.Errorf("pgcdc: PostgreSQL's wal_level is %q; change data capture needs wal_level=logical "+
			"(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", level)
	}
	if err := t.ensurePublication(ctx); err != nil {
		return err
	}
	stored, hasStored := parsePosition(t.tc.Offset(t.partition()))
	t.lastReturned, t.committed = stored, stored
	snapshot := t.s.snapshot && (!hasStored || stored.Snapshot)

	slot, exists, err := t.slotInfo(ctx)
	if err != nil {
		return err
	}
	if exists && (slot.plugin != "pgoutput" || slot.database != t.s.dbname) {
		return fmt.Errorf("pgcdc: replication slot %q exists for plugin %q in database %q, not pgoutput in %q",
			t.s.slot, slot.plugin, slot.database, t.s.dbname)
	}
	if err := t.connectRepl(ctx); err != nil {
		return err
	}
	exported := ""
	var consistent pglogrepl.LSN
	if !exists {
		action := "NOEXPORT_SNAPSHOT"
		if snapshot {
			action = "EXPORT_SNAPSHOT"
		}
		res, err := pglogrepl.CreateReplicationSlot(ctx, t.repl, t.s.slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
		if err != nil {
			return fmt.Errorf("pgcdc: creating replication slot %q: %w", t.s.slot, err)
		}
		if consistent, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
			return fmt.Errorf("pgcdc: slot %q: consistent point %q: %w", t.s.slot, res.ConsistentPoint, err)
		}
		exported = res.SnapshotName
		t.logger.Info("created replication slot", "slot", t.s.slot, "consistent_point", consistent)
	} else {
		consistent = slot.confirmed
	}
	if snapshot {
		return t.beginSnapshot(ctx, exported, consistent)
	}
	// Poll starts the stream (and retries that when the slot is still
	// held by a walsender of an earlier run).
	return nil
}

func (t *Task) connectRepl(ctx context.Context) error {
	pc, err := pgconn.ParseConfig(t.s.connStr)
	if err != nil {
		return fmt.Errorf("pgcdc: %w", err)
	}
	pc.RuntimeParams["replication"] = "database"
	t.repl, err = pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return connectors.Retriable(fmt.Errorf("pgcdc: opening the replication connection: %w", err))
	}
	return nil
}

func (t *Task) ensurePublication(ctx context.Context) error {
	var n int
	if err := t.db.QueryRow(ctx, "SELECT count(*) FROM pg_publication WHERE pubname = $1", t.s.publication).Scan(&n); err != nil {
		return fmt.Errorf("pgcdc: looking up publication %q: %w", t.s.publication, err)
	}
	if n > 0 {
		return nil
	}
	pub := pgx.Identifier{t.s.publication}.Sanitize()
	switch t.s.pubMode {
	case "disabled":
		return fmt.Errorf("pgcdc: publication %q does not exist and publication.autocreate.mode=disabled", t.s.publication)
	case "filtered":
		rows, err := t.db.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
			ORDER BY 1, 2`)
		if err != nil {
			return fmt.Errorf("pgcdc: listing tables: %w", err)
		}
		var tables []string
		for rows.Next() {
			var schema, table string
			if err := rows.Scan(&schema, &table); err != nil {
				return fmt.Errorf("pgcdc: listing tables: %w", err)
			}
			if t.s.selected(schema, table) {
				tables = append(tables, pgx.Identifier{schema, table}.Sanitize())
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pgcdc: listing tables: %w", err)
		}
		if len(tables) == 0 {
			return fmt.Errorf("pgcdc: no table matches table.include.list %q, so publication %q cannot be created",
				strings.Join(t.s.includePatterns, ","), t.s.publication)
		}
		_, err = t.db.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+strings.Join(tables, ", "))
		if err != nil {
			return fmt.Errorf("pgcdc: creating publication %q: %w", t.s.publication, err)
		}
	default:
		if _, err := t.db.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR ALL TABLES"); err != nil {
			return fmt.Errorf("pgcdc: creating publication %q: %w", t.s.publication, err)
		}
	}
	t.logger.Info("created publication", "publication", t.s.publication, "mode", t.s.pubMode)
	return nil
}

type slotRow struct {
	plugin, database string
	confirmed        pglogrepl.LSN
}

func (t *Task) slotInfo(ctx context.Context) (slotRow, bool, error) {
	var r slotRow
	var plugin, database, confirmed *string
	err := t.db.QueryRow(ctx, `SELECT plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`,
		t.s.slot).Scan(&plugin, &database, &confirmed)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("pgcdc: looking up replication slot %q: %w", t.s.slot, err)
	}
	if plugin != nil {
		r.plugin = *plugin
	}
	if database != nil {
		r.database = *database
	}
	if confirmed != nil {
		r.confirmed, _ = pglogrepl.ParseLSN(*confirmed)
	}
	return r, true, nil
}

// startStream starts replication at p, skipping the changes p says were
// handed over already.
func (t *Task) startStream(ctx context.Context, p position) error {
	if t.repl == nil {
		if err := t.connectRepl(ctx); err != nil {
			return err
		}
	}
	slot, exists, err := t.slotInfo(ctx)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("pgcdc: replication slot %q no longer exists", t.s.slot)
	}
	args := []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(t.s.publication, "'", "''") + "'"}
	if err := pglogrepl.StartReplication(ctx, t.repl, t.s.slot, p.LSN,
		pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args}); err != nil {
		t.closeRepl()
		return connectors.Retriable(fmt.Errorf("pgcdc: starting replication from slot %q at %s: %w", t.s.slot, p.LSN, err))
	}
	t.streaming = true
	t.relations = map[uint32]*relation{}
	t.tx = nil
	t.resume = p.LSN
	t.skip = position{}
	if p.Commit != 0 && p.Event > 0 {
		t.skip = p
	}
	t.processed = max(p.LSN, slot.confirmed)
	t.received = t.processed
	t.confirmed = max(t.confirmed, slot.confirmed)
	t.lastStatus = time.Now()
	t.logger.Info("streaming changes", "slot", t.s.slot, "from", p.LSN, "slot_confirmed", slot.confirmed)
	return nil
}

func (t *Task) closeRepl() {
	if t.repl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.repl.Close(ctx)
	t.repl = nil
	t.streaming = false
}

// Poll returns the next snapshot rows or changes.
func (t *Task) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	if t.snap != nil {
		recs, err := t.pollSnapshot(ctx)
		if err == nil && len(recs) > 0 {
			t.lastReturned, _ = parsePosition(recs[len(recs)-1].SourceOffset)
		}
		if ctx.Err() != nil {
			return recs, nil
		}
		return recs, err
	}
	if !t.streaming {
		if err := t.startStream(ctx, t.lastReturned); err != nil {
			return nil, err
		}
	}
	recs, err := t.pollStream(ctx)
	if err != nil {
		t.closeRepl()
		if ctx.Err() != nil {
			return nil, nil
		}
		// The next Poll starts again after the last record returned.
		return nil, connectors.Retriable(err)
	}
	if len(recs) > 0 {
		t.lastReturned, _ = parsePosition(recs[len(recs)-1].SourceOffset)
	}
	return recs, nil
}

// Commit confirms to PostgreSQL the offset the worker has written to its
// offsets topic (connectors.SourceCommitter): the runtime calls it after
// each offset flush, so the slot's confirmed position follows the stored
// offsets without waiting for the next Poll.
func (t *Task) Commit(ctx context.Context) error {
	if p, ok := parsePosition(t.tc.Offset(t.partition())); ok {
		t.committed = p
	}
	if !t.streaming || t.repl == nil {
		return nil // the next stream confirms it
	}
	return t.sendStatus(ctx)
}

// sendStatus reports the confirmed position to PostgreSQL when it moved,
// when asked to, or every status.update.interval.ms. It confirms only
// offsets the worker committed (as Commit last learnt them), and, when
// every record handed over is committed and no transaction is open,
// everything processed since.
func (t *Task) sendStatus(ctx context.Context) error {
	target := t.confirmed
	committed := t.committed
	if !committed.Snapshot {
		target = max(target, committed.LSN)
	}
	if committed == t.lastReturned && t.tx == nil {
		target = max(target, t.processed)
	}
	interval := time.Duration(t.s.statusInterval) * time.Millisecond
	if target == t.confirmed && !t.replyRequested && time.Since(t.lastStatus) < interval {
		return nil
	}
	// The reply (a keepalive with the position decoding has reached)
	// lets an idle task confirm past changes to tables it does not capture.
	err := pglogrepl.SendStandbyStatusUpdate(ctx, t.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: target, WALFlushPosition: target, WALApplyPosition: target, ReplyRequested: true})
	if err != nil {
		return fmt.Errorf("pgcdc: sending standby status update: %w", err)
	}
	t.confirmed, t.replyRequested, t.lastStatus = target, false, time.Now()
	return nil
}

func (t *Task) pollStream(ctx context.Context) ([]connectors.SourceRecord, error) {
	var out []connectors.SourceRecord
	wait := time.Duration(t.s.pollInterval) * time.Millisecond
	for len(out) < t.s.maxBatch {
		if err := t.sendStatus(ctx); err != nil {
			return nil, err
		}
		if len(out) > 0 {
			// What arrives together goes together; then hand it over.
			wait = 5 * time.Millisecond
		}
		rctx, cancel := context.WithTimeout(ctx, wait)
		msg, err := t.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && pgconn.Timeout(err) {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("pgcdc: receiving from slot %q: %w", t.s.slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := t.handleCopyData(ctx, m.Data, &out); err != nil {
				return nil, err
			}
		case *pgproto3.ErrorResponse:
			return nil, fmt.Errorf("pgcdc: replication error: %w", pgconn.ErrorResponseToPgError(m))
		default:
			return nil, fmt.Errorf("pgcdc: unexpected replication message %T", msg)
		}
	}
	return out, nil
}

func (t *Task) handleCopyData(ctx context.Context, data []byte, out *[]connectors.SourceRecord) error {
	if len(data) == 0 {
		return errors.New("pgcdc: empty replication message")
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("pgcdc: %w", err)
		}
		t.received = max(t.received, pkm.ServerWALEnd)
		if t.tx == nil {
			t.processed = max(t.processed, pkm.ServerWALEnd)
		}
		if pkm.ReplyRequested {
			t.replyRequested = true
		}
		return nil
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("pgcdc: %w", err)
		}
		t.received = max(t.received, xld.WALStart)
		lm, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("pgcdc: decoding pgoutput message at %s: %w", xld.WALStart, err)
		}
		return t.handleLogical(ctx, xld.WALStart, lm, out)
	}
	return nil
}

func (t *Task) handleLogical(ctx context.Context, lsn pglogrepl.LSN, lm pglogrepl.Message, out *[]connectors.SourceRecord) error {
	switch m := lm.(type) {
	case *pglogrepl.RelationMessage:
		return t.addRelation(ctx, m)
	case *pglogrepl.BeginMessage:
		t.tx = &txState{xid: m.Xid, commit: m.FinalLSN, time: m.CommitTime}
	case *pglogrepl.CommitMessage:
		if t.tx == nil {
			return errors.New("pgcdc: commit without begin")
		}
		// The transaction's last records, if still in hand, get an offset
		// that needs no skipping: resume after this commit.
		done := position{LSN: m.TransactionEndLSN, TxID: t.tx.xid}
		recs := *out
		for i := len(recs) - 1; i >= 0; i-- {
			p, _ := parsePosition(recs[i].SourceOffset)
			if p.Commit != t.tx.commit || p.TxID != t.tx.xid || p.Event != t.tx.events {
				break
			}
			recs[i].SourceOffset = done.offset()
		}
		t.resume = m.TransactionEndLSN
		t.processed = max(t.processed, m.TransactionEndLSN)
		if t.skip.Commit == t.tx.commit {
			t.skip = position{}
		}
		t.tx = nil
	case *pglogrepl.InsertMessage:
		return t.change(lsn, m.RelationID, "c", nil, m.Tuple, 0, out)
	case *pglogrepl.UpdateMessage:
		return t.change(lsn, m.RelationID, "u", m.OldTuple, m.NewTuple, m.OldTupleType, out)
	case *pglogrepl.DeleteMessage:
		return t.change(lsn, m.RelationID, "d", m.OldTuple, nil, m.OldTupleType, out)
	}
	// Truncate, type, origin and logical decoding messages are not captured.
	return nil
}

func (t *Task) addRelation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	r := &relation{schema: m.Namespace, table: m.RelationName, selected: t.s.selected(m.Namespace, m.RelationName)}
	for _, c := range m.Columns {
		r.cols = append(r.cols, column{name: c.Name, oid: c.DataType, typmod: c.TypeModifier})
	}
	if r.selected {
		key, err := t.primaryKey(ctx, m.RelationID)
		if err != nil {
			return err
		}
		r.key = key
	}
	t.relations[m.RelationID] = r
	return nil
}

// primaryKey returns the primary key columns of the table with oid, in
// key order.
func (t *Task) primaryKey(ctx context.Context, oid uint32) ([]string, error) {
	rows, err := t.db.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`, oid)
	if err != nil {
		return nil, fmt.Errorf("pgcdc: reading the primary key of table %d: %w", oid, err)
	}
	key, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgcdc: reading the primary key of table %d: %w", oid, err)
	}
	return key, nil
}

// change turns one insert, update or delete into records.
func (t *Task) change(lsn pglogrepl.LSN, relID uint32, op string, oldTuple, newTuple *pglogrepl.TupleData, oldType uint8,
	out *[]connectors.SourceRecord) error {
	if t.tx == nil {
		return errors.New("pgcdc: change outside a transaction")
	}
	t.tx.events++
	if t.skip.Commit == t.tx.commit && t.skip.TxID == t.tx.xid && t.tx.events <= t.skip.Event {
		return nil // handed over before the restart
	}
	rel, ok := t.relations[relID]
	if !ok {
		return fmt.Errorf("pgcdc: change to relation %d before its description", relID)
	}
	if !rel.selected {
		return nil
	}
	var before, after map[string]any
	if oldTuple != nil && oldType != 0 {
		before = t.tupleMap(rel, oldTuple)
	}
	if newTuple != nil {
		after = t.tupleMap(rel, newTuple)
	}
	pos := position{LSN: t.resume, Commit: t.tx.commit, TxID: t.tx.xid, Event: t.tx.events}
	src := t.source(rel.schema, rel.table, "false", t.tx.time, int64(t.tx.xid), int64(lsn))
	add := func(op string, before, after map[string]any) {
		*out = append(*out, t.record(rel, op, before, after, src, pos, t.tx.time)...)
	}
	if op == "u" && before != nil && len(rel.key) > 0 {
		if oldKey, newKey := keyOf(rel.key, before), keyOf(rel.key, after); !sameKey(oldKey, newKey) {
			// As Debezium: a changed primary key is a delete of the old
			// key and a create of the new one.
			add("d", before, nil)
			add("c", nil, after)
			return nil
		}
	}
	if op == "u" && oldType == 'K' {
		before = nil // only the key columns, and the key did not change
	}
	add(op, before, after)
	return nil
}

func sameKey(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func keyOf(key []string, row map[string]any) map[string]any {
	if len(key) == 0 || row == nil {
		return nil
	}
	k := make(map[string]any, len(key))
	for _, c := range key {
		k[c] = row[c]
	}
	return k
}

func (t *Task) tupleMap(rel *relation, tuple *pglogrepl.TupleData) map[string]any {
	row := make(map[string]any, len(tuple.Columns))
	for i, c := range tuple.Columns {
		if i >= len(rel.cols) {
			break
		}
		col := rel.cols[i]
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[col.name] = nil
		case pglogrepl.TupleDataTypeToast:
			row[col.name] = t.s.unavailable
		case pglogrepl.TupleDataTypeBinary:
			row[col.name] = append([]byte(nil), c.Data...)
		default:
			row[col.name] = decodeText(col, c.Data, t.s.decimalMode)
		}
	}
	return row
}

func (t *Task) source(schema, table, snapshot string, ts time.Time, txID, lsn int64) map[string]any {
	src := map[string]any{"version": connectors.Version, "connector": "postgresql", "name": t.s.prefix,
		"db": t.s.dbname, "schema": schema, "table": table, "snapshot": snapshot, "ts_ms": ts.UnixMilli(),
		"txId": nil, "lsn": nil}
	if txID != 0 {
		src["txId"] = txID
	}
	if lsn != 0 {
		src["lsn"] = lsn
	}
	return src
}

// record makes a change record (and a tombstone after a delete).
func (t *Task) record(rel *relation, op string, before, after map[string]any, src map[string]any, pos position, ts time.Time) []connectors.SourceRecord {
	value := map[string]any{"before": nil, "after": nil, "op": op, "source": src, "ts_ms": time.Now().UnixMilli()}
	if before != nil {
		value["before"] = before
	}
	if after != nil {
		value["after"] = after
	}
	row := after
	if row == nil {
		row = before
	}
	var key any
	if k := keyOf(rel.key, row); k != nil {
		key = k
	}
	topic := t.s.topic(rel.schema, rel.table)
	recs := []connectors.SourceRecord{{
		Record:          connectors.Record{Topic: topic, Key: key, Value: value, Timestamp: ts},
		SourcePartition: t.partition(), SourceOffset: pos.offset(),
	}}
	if op == "d" && t.s.tombstones {
		recs = append(recs, connectors.SourceRecord{
			Record:          connectors.Record{Topic: topic, Key: key, Timestamp: ts},
			SourcePartition: t.partition(), SourceOffset: pos.offset(),
		})
	}
	return recs
}

// Stop closes the connections and, with slot.drop.on.stop, drops the slot.
func (t *Task) Stop() error {
	t.closeRepl()
	if t.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if t.s.dropSlot {
		err = dropSlot(ctx, t.db, t.s.slot)
	}
	t.db.Close(ctx)
	t.db = nil
	return err
}

// dropSlot drops a replication slot once no connection uses it (a
// walsender goes away shortly after its connection closes).
func dropSlot(ctx context.Context, db *pgx.Conn, slot string) error {
	for {
		var active *bool
		err := db.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgcdc: dropping slot %q: %w", slot, err)
		}
		if active == nil || !*active {
			if _, err := db.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot); err != nil {
				return fmt.Errorf("pgcdc: dropping slot %q: %w", slot, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcdc: slot %q is still in use: %w", slot, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
