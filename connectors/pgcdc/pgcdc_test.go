package pgcdc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/connectors"
	"github.com/eddy-streams/eddy/connectors/connectorstest"
	"github.com/eddy-streams/eddy/connectors/pgcdc"
)

const pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgConn connects to the local PostgreSQL, or skips the test when it is
// absent or cannot do logical decoding.
func pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable at %s (%v); start it with `service postgresql start`, "+
			"with trust auth for 127.0.0.1 and a database named test", pgURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		t.Skipf("PostgreSQL has wal_level=%s; change data capture needs wal_level=logical: run "+
			`psql -h 127.0.0.1 -U postgres -c "ALTER SYSTEM SET wal_level = logical" and restart PostgreSQL `+
			"(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main restart); .ci/run does this", level)
	}
	return conn
}

// fixture is a table with its own slot and publication, dropped at the end.
type fixture struct {
	conn              *pgx.Conn
	table, slot, pub  string
	prefix, topicName string
}

func newFixture(t *testing.T) *fixture {
	conn := pgConn(t)
	n := time.Now().UnixNano()
	f := &fixture{conn: conn, table: fmt.Sprintf("cdc_%d", n), slot: fmt.Sprintf("eddy_test_%d", n),
		pub: fmt.Sprintf("eddy_test_%d", n), prefix: "eddytest"}
	f.topicName = f.prefix + ".public." + f.table
	f.exec(t, "CREATE TABLE "+f.table+" (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price NUMERIC(10,2), meta JSONB, ok BOOLEAN)")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for { // the walsender of a closed connection goes away shortly after
			var active bool
			err := conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", f.slot).Scan(&active)
			if err != nil || !active {
				break
			}
			if ctx.Err() != nil {
				t.Errorf("slot %s still active", f.slot)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", f.slot)
		conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+f.pub)
		conn.Exec(ctx, "DROP TABLE IF EXISTS "+f.table)
	})
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) props() map[string]string {
	return map[string]string{
		"connector.class": "PostgresCdcSource", "database.hostname": "127.0.0.1", "database.port": "5432",
		"database.user": "postgres", "database.dbname": "test", "database.sslmode": "disable",
		"topic.prefix": f.prefix, "slot.name": f.slot, "publication.name": f.pub,
		"publication.autocreate.mode": "filtered", "table.include.list": `public\.` + f.table,
		"poll.interval.ms": "100",
	}
}

// confirmedLSN is the slot's confirmed_flush_lsn.
func (f *fixture) confirmedLSN(t *testing.T) pglogrepl.LSN {
	var s string
	if err := f.conn.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
		f.slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// change is a record as read from the topic.
type change struct {
	key   map[string]any
	value map[string]any // nil for a tombstone
}

func (c change) op() string {
	if c.value == nil {
		return "tombstone"
	}
	return c.value["op"].(string)
}

func (c change) id() any { return c.key["id"] }

func (c change) String() string { return fmt.Sprintf("%s(%v)", c.op(), c.id()) }

// reader consumes a topic from the start.
type reader struct{ *connectorstest.TopicReader }

func newReader(t *testing.T, addr, topic string) *reader {
	return &reader{connectorstest.ReadTopic(t, addr, topic)}
}

func (r *reader) next(t *testing.T, n int) []change {
	t.Helper()
	var out []change
	for _, m := range r.Next(t, n) {
		var c change
		if len(m.Key) > 0 {
			if err := json.Unmarshal(m.Key, &c.key); err != nil {
				t.Fatalf("key %q: %v", m.Key, err)
			}
		}
		if m.Value != nil {
			if err := json.Unmarshal(m.Value, &c.value); err != nil {
				t.Fatalf("value %q: %v", m.Value, err)
			}
		}
		out = append(out, c)
	}
	return out
}

func expectOps(t *testing.T, got []change, want ...string) {
	t.Helper()
	var s []string
	for _, c := range got {
		s = append(s, c.String())
	}
	if strings.Join(s, " ") != strings.Join(want, " ") {
		t.Fatalf("records %v, want %v", s, want)
	}
}

// A worker on an embedded broker snapshots a table, captures inserts,
// updates and deletes in order with Debezium's envelopes, confirms to
// PostgreSQL only what it committed, and after a restart resumes with the
// changes made while it was down, without repeating any.
func TestCaptureAcrossRestart(t *testing.T) {
	f := newFixture(t)
	f.exec(t, "INSERT INTO "+f.table+" VALUES (1, 'ann', 1, 9.99, '{\"tags\":[\"a\"],\"n\":2}', true), (2, 'bob', 2, NULL, NULL, false)")
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	if _, _, err := w.CreateConnector("cdc", f.props(), false); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, addr, f.topicName)

	snap := r.next(t, 2)
	expectOps(t, snap, "r(1)", "r(2)")
	after := snap[0].value["after"].(map[string]any)
	if after["name"] != "ann" || after["qty"] != 1.0 || after["price"] != "9.99" || after["ok"] != true ||
		after["meta"] != `{"n": 2, "tags": ["a"]}` || snap[0].value["before"] != nil {
		t.Fatalf("snapshot row 1: %v", snap[0].value)
	}
	if s := snap[0].value["source"].(map[string]any); s["snapshot"] != "true" || s["table"] != f.table || s["schema"] != "public" ||
		s["db"] != "test" || s["name"] != "eddytest" || s["connector"] != "postgresql" {
		t.Fatalf("snapshot row 1 source: %v", s)
	}
	if s := snap[1].value["source"].(map[string]any); s["snapshot"] != "last" {
		t.Fatalf("last snapshot row's source.snapshot = %v", s["snapshot"])
	}

	f.exec(t, "INSERT INTO "+f.table+" (id, name, qty) VALUES (3, 'cy', 3)")
	f.exec(t, "UPDATE "+f.table+" SET qty = 10 WHERE id = 1")
	f.exec(t, "DELETE FROM "+f.table+" WHERE id = 2")
	f.exec(t, "BEGIN; INSERT INTO "+f.table+" (id, name) VALUES (4, 'dee'); UPDATE "+f.table+" SET name = 'di' WHERE id = 4; COMMIT")
	got := r.next(t, 6)
	expectOps(t, got, "c(3)", "u(1)", "d(2)", "tombstone(2)", "c(4)", "u(4)")
	if v := got[1].value; v["before"] != nil || v["after"].(map[string]any)["qty"] != 10.0 || v["after"].(map[string]any)["name"] != "ann" {
		t.Fatalf("update: %v", v)
	}
	if v := got[2].value; v["after"] != nil || v["before"].(map[string]any)["id"] != 2.0 || v["before"].(map[string]any)["name"] != nil {
		t.Fatalf("delete: %v", v)
	}
	s4, s5 := got[4].value["source"].(map[string]any), got[5].value["source"].(map[string]any)
	if s4["txId"] == nil || s4["txId"] != s5["txId"] || s4["snapshot"] != "false" || s4["lsn"].(float64) >= s5["lsn"].(float64) {
		t.Fatalf("sources of one transaction: %v, %v", s4, s5)
	}
	if s3 := got[3-1].value["source"].(map[string]any); s3["txId"] == s4["txId"] {
		t.Fatalf("two transactions with txId %v", s3["txId"])
	}
	if _, ok := got[0].value["ts_ms"].(float64); !ok {
		t.Fatalf("no ts_ms: %v", got[0].value)
	}

	// The committed offset reaches PostgreSQL as the slot's confirmed position.
	var committed int64
	connectorstest.WaitFor(t, 20*time.Second, "the committed offset confirmed to PostgreSQL", func() bool {
		offs, err := w.Offsets("cdc")
		if err != nil || len(offs) != 1 || offs[0].Partition["server"] != "eddytest" {
			return false
		}
		committed, _ = offs[0].Offset["lsn"].(int64)
		return committed > 0 && f.confirmedLSN(t) >= pglogrepl.LSN(committed)
	})

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Changes while no worker runs stay in the slot.
	f.exec(t, "INSERT INTO "+f.table+" (id, name) VALUES (5, 'eve')")
	f.exec(t, "UPDATE "+f.table+" SET qty = 30 WHERE id = 3")
	f.exec(t, "DELETE FROM "+f.table+" WHERE id = 1")

	w = connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	got = r.next(t, 4)
	expectOps(t, got, "c(5)", "u(3)", "d(1)", "tombstone(1)")
	// A marker after them: nothing was repeated in between.
	f.exec(t, "INSERT INTO "+f.table+" (id, name) VALUES (6, 'fay')")
	expectOps(t, r.next(t, 1), "c(6)")
}

// taskOffsets is a TaskContext's committed offsets, set by the test.
type taskOffsets struct {
	mu  sync.Mutex
	off map[string]any
}

func (o *taskOffsets) get(map[string]any) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.off
}

func (o *taskOffsets) set(m map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.off = m
}

func startTask(t *testing.T, props map[string]string, offs *taskOffsets) *pgcdc.Task {
	t.Helper()
	cfg, err := pgcdc.Config.Parse(props)
	if err != nil {
		t.Fatal(err)
	}
	task := &pgcdc.Task{}
	if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("cdc", 0, offs.get)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func pollN(t *testing.T, task *pgcdc.Task, n int) []connectors.SourceRecord {
	t.Helper()
	var out []connectors.SourceRecord
	connectorstest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d records", n), func() bool {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Logf("poll: %v", err)
		}
		if err != nil && !connectors.IsRetriable(err) {
			t.Fatal(err)
		}
		out = append(out, recs...)
		return len(out) >= n
	})
	return out
}

func ids(recs []connectors.SourceRecord) string {
	var s []string
	for _, r := range recs {
		k, _ := r.Key.(map[string]any)
		op := "tombstone"
		if v, ok := r.Value.(map[string]any); ok {
			op = v["op"].(string)
		}
		s = append(s, fmt.Sprintf("%s(%v)", op, k["id"]))
	}
	return strings.Join(s, " ")
}

// The slot's confirmed position does not move for records whose offsets
// are not committed, and moves once they are. A task restarted at an
// offset in the middle of a transaction skips the changes before it.
func TestConfirmOnlyCommittedAndResumeMidTransaction(t *testing.T) {
	f := newFixture(t)
	props := f.props()
	props["snapshot.mode"] = "no_data"
	props["max.batch.size"] = "2"
	props["status.update.interval.ms"] = "1"
	offs := &taskOffsets{}
	task := startTask(t, props, offs)
	start := f.confirmedLSN(t)

	f.exec(t, "BEGIN; INSERT INTO "+f.table+" (id) VALUES (1), (2), (3); COMMIT")
	first := pollN(t, task, 2)
	if got := ids(first); got != "c(1) c(2)" {
		t.Fatalf("first poll: %s", got)
	}
	if first[1].SourceOffset["event"] != int64(2) || first[1].SourceOffset["lsn_commit"] == nil {
		t.Fatalf("offset in the middle of a transaction: %v", first[1].SourceOffset)
	}
	// Polls send status updates (every poll, as status.update.interval.ms=1)
	// but nothing is committed, so the transaction is not confirmed: the
	// confirmed position stays below its commit. (It may move up to the
	// transaction: other tests' changes to other tables, written before it,
	// are confirmed while nothing of the task's is pending.)
	for range 5 {
		if _, err := task.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	commit := pglogrepl.LSN(first[1].SourceOffset["lsn_commit"].(int64))
	if got := f.confirmedLSN(t); got >= commit {
		t.Fatalf("confirmed_flush_lsn moved from %s to %s, at or past the uncommitted transaction's commit %s", start, got, commit)
	}
	task.Stop()

	// Restarted at the second record's offset, the task skips 1 and 2.
	offs.set(first[1].SourceOffset)
	task = startTask(t, props, offs)
	f.exec(t, "INSERT INTO "+f.table+" (id) VALUES (4)")
	rest := pollN(t, task, 2)
	if got := ids(rest); got != "c(3) c(4)" {
		t.Fatalf("after the restart: %s", got)
	}
	offs.set(rest[1].SourceOffset)
	if err := task.Commit(context.Background()); err != nil { // as the worker does after writing the offset
		t.Fatal(err)
	}
	connectorstest.WaitFor(t, 20*time.Second, "the committed offset confirmed", func() bool {
		if _, err := task.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		return f.confirmedLSN(t) > start
	})

	// With everything committed, changes to tables the task does not
	// capture move the confirmed position too, so WAL is not held back.
	other := f.table + "_other"
	f.exec(t, "CREATE TABLE "+other+" (id INTEGER)")
	t.Cleanup(func() { f.conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+other) })
	f.exec(t, "INSERT INTO "+other+" VALUES (1)")
	var s string
	if err := f.conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	after, _ := pglogrepl.ParseLSN(s)
	connectorstest.WaitFor(t, 20*time.Second, "the position confirmed past "+s, func() bool {
		recs, err := task.Poll(context.Background())
		if err != nil || len(recs) > 0 {
			t.Fatalf("poll: %v records, %v", len(recs), err)
		}
		return f.confirmedLSN(t) >= after
	})
}

// Missing and bad settings are reported by name.
func TestConfigErrors(t *testing.T) {
	_, err := pgcdc.Config.Parse(map[string]string{"slot.name": "Bad-Slot", "snapshot.mode": "sometimes",
		"table.include.list": "public.(", "topic.prefix": "a b"})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{`"database.hostname"`, `"database.user"`, `"database.dbname"`, "slot.name", "snapshot.mode",
		"table.include.list", "topic.prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	base := map[string]string{"database.hostname": "h", "database.user": "u", "database.dbname": "d", "topic.prefix": "p"}
	for name, extra := range map[string]map[string]string{
		"both lists":        {"table.include.list": "a", "table.exclude.list": "b"},
		"filtered, no list": {"publication.autocreate.mode": "filtered"},
	} {
		props := map[string]string{}
		for k, v := range base {
			props[k] = v
		}
		for k, v := range extra {
			props[k] = v
		}
		cfg, err := pgcdc.Config.Parse(props)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		task := &pgcdc.Task{}
		if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("cdc", 0, nil)); err == nil {
			task.Stop()
			t.Errorf("%s: accepted", name)
		}
	}
}

// Child mode of TestNoChangeLostAcrossSIGKILL: a worker running the
// connector until killed.
func runCrashChild(t *testing.T) {
	addr := os.Getenv("EDDY_PGCDC_BROKER")
	w := connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON,
		func(c *connectors.WorkerConfig) { c.OffsetFlushInterval = 50 * time.Millisecond })
	var props map[string]string
	if err := json.Unmarshal([]byte(os.Getenv("EDDY_PGCDC_PROPS")), &props); err != nil {
		t.Fatal(err)
	}
	// After a restart the configs topic has brought it back already.
	if _, _, err := w.CreateConnector("cdc", props, false); err != nil && !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Fatal(err)
	}
	select {}
}

// A worker process killed while it captures inserts, and started again
// after more inserts, loses no change: every insert reaches the topic
// (some maybe twice).
func TestNoChangeLostAcrossSIGKILL(t *testing.T) {
	if os.Getenv("EDDY_PGCDC_CHILD") == "1" {
		runCrashChild(t)
		return
	}
	f := newFixture(t)
	props := f.props()
	props["snapshot.mode"] = "no_data"
	pj, _ := json.Marshal(props)
	addr := connectorstest.StartBroker(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoChangeLostAcrossSIGKILL$")
		cmd.Env = append(os.Environ(), "EDDY_PGCDC_CHILD=1", "EDDY_PGCDC_BROKER="+addr, "EDDY_PGCDC_PROPS="+string(pj))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()
	// The slot exists once the task has started: inserts from then on count.
	connectorstest.WaitFor(t, 30*time.Second, "the replication slot", func() bool {
		var n int
		f.conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", f.slot).Scan(&n)
		return n == 1
	})
	const total = 300
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			f.exec(t, "INSERT INTO "+f.table+" (id, name) VALUES ($1, 'x')", i)
		}
	}
	insert(1, total/2)
	r := newReader(t, addr, f.topicName)
	seen := map[float64]int{}
	for len(seen) < 50 { // killed while the first half is on its way
		for _, c := range r.next(t, 1) {
			seen[c.id().(float64)]++
		}
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	insert(total/2+1, total) // while no worker runs
	child = start()
	t.Cleanup(func() { child.Process.Signal(syscall.SIGKILL); child.Wait() })
	for len(seen) < total {
		for _, c := range r.next(t, 1) {
			if c.op() != "c" {
				t.Fatalf("unexpected %v", c)
			}
			seen[c.id().(float64)]++
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d inserts, all captured; %d delivered twice around the crash", total, dups)
}

// With REPLICA IDENTITY FULL an update carries the old row in "before";
// a changed primary key becomes a delete of the old key (with its
// tombstone) and a create of the new one, as in Debezium. Columns come
// as JSON values by type (TestColumnTypes has them all).
func TestReplicaIdentityFullAndKeyChange(t *testing.T) {
	f := newFixture(t)
	f.exec(t, "ALTER TABLE "+f.table+" REPLICA IDENTITY FULL")
	props := f.props()
	props["snapshot.mode"] = "no_data"
	task := startTask(t, props, &taskOffsets{})
	f.exec(t, "INSERT INTO "+f.table+` VALUES (1, 'ann', 2, 12.50, '{"a":[1,2.5]}', true)`)
	f.exec(t, "UPDATE "+f.table+" SET name = 'anne' WHERE id = 1")
	f.exec(t, "UPDATE "+f.table+" SET id = 2 WHERE id = 1")
	recs := pollN(t, task, 5)
	if got := ids(recs); got != "c(1) u(1) d(1) tombstone(1) c(2)" {
		t.Fatalf("records %s", got)
	}
	ins := recs[0].Value.(map[string]any)["after"].(map[string]any)
	want := map[string]any{"id": int64(1), "name": "ann", "qty": int64(2), "price": "12.50",
		"meta": `{"a": [1, 2.5]}`, "ok": true}
	if fmt.Sprint(ins) != fmt.Sprint(want) {
		t.Errorf("inserted row %v, want %v", ins, want)
	}
	upd := recs[1].Value.(map[string]any)
	if upd["before"].(map[string]any)["name"] != "ann" || upd["after"].(map[string]any)["name"] != "anne" {
		t.Errorf("update %v", upd)
	}
	del := recs[2].Value.(map[string]any)
	if del["before"].(map[string]any)["name"] != "anne" || del["after"] != nil || recs[3].Value != nil {
		t.Errorf("delete %v, tombstone %v", del, recs[3].Value)
	}
	if k := recs[4].Key.(map[string]any); k["id"] != int64(2) {
		t.Errorf("new key %v", k)
	}
}

// A replication connection that PostgreSQL ends is opened again by the
// next polls, which continue after the last record handed over.
func TestReconnectsAfterConnectionLoss(t *testing.T) {
	f := newFixture(t)
	props := f.props()
	props["snapshot.mode"] = "no_data"
	task := startTask(t, props, &taskOffsets{})
	f.exec(t, "INSERT INTO "+f.table+" (id) VALUES (1)")
	if got := ids(pollN(t, task, 1)); got != "c(1)" {
		t.Fatalf("records %s", got)
	}
	f.exec(t, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", f.slot)
	f.exec(t, "INSERT INTO "+f.table+" (id) VALUES (2)")
	var got []connectors.SourceRecord
	retried := false
	connectorstest.WaitFor(t, 20*time.Second, "the record after the connection loss", func() bool {
		recs, err := task.Poll(context.Background())
		if err != nil {
			if !connectors.IsRetriable(err) {
				t.Fatal(err)
			}
			retried = true
		}
		got = append(got, recs...)
		return len(got) > 0
	})
	if ids(got) != "c(2)" || !retried {
		t.Fatalf("after the connection loss: %s (a failed poll seen: %v)", ids(got), retried)
	}
}

// slot.drop.on.stop drops the slot when the task stops.
func TestDropSlotOnStop(t *testing.T) {
	f := newFixture(t)
	props := f.props()
	props["slot.drop.on.stop"] = "true"
	props["snapshot.mode"] = "no_data"
	task := startTask(t, props, &taskOffsets{})
	if _, err := task.Poll(context.Background()); err != nil { // streaming: the slot is in use
		t.Fatal(err)
	}
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", f.slot).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d slots named %s after Stop (%v)", n, f.slot, err)
	}
}
