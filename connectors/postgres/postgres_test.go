package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/connectors"
)

const testURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable at %s (%v); start it with `service postgresql start`, "+
			"with trust auth for 127.0.0.1 and a database named test", testURL, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func startTask(t *testing.T, props map[string]string) *Task {
	t.Helper()
	cfg, err := Config.Parse(props)
	if err != nil {
		t.Fatal(err)
	}
	task := &Task{}
	if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("pg", 0, nil)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func TestConnString(t *testing.T) {
	for in, want := range map[string]string{
		"jdbc:postgresql://db:5432/shop?user=u&password=p": "postgres://u:p@db:5432/shop",
		"postgres://127.0.0.1/test?sslmode=disable":        "postgres://bob@127.0.0.1/test?sslmode=disable",
	} {
		user := ""
		if want == "postgres://bob@127.0.0.1/test?sslmode=disable" {
			user = "bob"
		}
		if got, err := ConnString(in, user, ""); err != nil || got != want {
			t.Errorf("ConnString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ConnString("mysql://x", "", ""); err == nil {
		t.Error("mysql URL accepted")
	}
}

// Upsert by a map key with auto.create; a redelivered record leaves one
// row; a tombstone deletes with delete.enabled.
func TestUpsertAndDelete(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	table := fmt.Sprintf("eddy_pg_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	task := startTask(t, map[string]string{"connection.url": testURL, "table.name.format": table,
		"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "id", "auto.create": "true", "delete.enabled": "true"})
	rec := func(id int64, v map[string]any) connectors.Record {
		r := connectors.Record{Topic: "t", Key: map[string]any{"id": id}}
		if v != nil {
			r.Value = v
		}
		return r
	}
	batch := []connectors.Record{
		rec(1, map[string]any{"name": "ann", "qty": int64(2), "price": 1.5, "ok": true, "tags": []any{"a"}}),
		rec(2, map[string]any{"name": "bob", "qty": int64(1), "price": 2.5, "ok": false, "tags": []any{}}),
		rec(1, map[string]any{"name": "ann", "qty": int64(3), "price": 1.5, "ok": true, "tags": []any{"a"}}),
	}
	if err := task.Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(ctx, batch[1:]); err != nil { // redelivered
		t.Fatal(err)
	}
	var n, qty int64
	if err := db.QueryRow(ctx, "SELECT count(*), sum(qty) FROM "+table).Scan(&n, &qty); err != nil {
		t.Fatal(err)
	}
	if n != 2 || qty != 4 {
		t.Fatalf("rows %d, sum(qty) %d; want 2, 4", n, qty)
	}
	if err := task.Put(ctx, []connectors.Record{rec(2, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the tombstone: %d rows, %v", n, err)
	}
}

// insert mode with pk.mode=kafka keys rows by topic, partition and offset.
func TestInsertKafkaKey(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	table := fmt.Sprintf("eddy_pg_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	task := startTask(t, map[string]string{"connection.url": testURL, "table.name.format": table,
		"pk.mode": "kafka", "auto.create": "true"})
	err := task.Put(ctx, []connectors.Record{
		{Topic: "t", Partition: 0, Offset: 7, Value: "hello"},
		{Topic: "t", Partition: 1, Offset: 7, Value: "world"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRow(ctx, "SELECT value FROM "+table+" WHERE __connect_partition = 1 AND __connect_offset = 7").Scan(&v); err != nil || v != "world" {
		t.Fatalf("value = %q, %v", v, err)
	}
	// The same coordinates again violate the primary key: insert mode does not upsert.
	if err := task.Put(ctx, []connectors.Record{{Topic: "t", Partition: 0, Offset: 7, Value: "again"}}); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
}

// Insert mode writes runs of rows with the same columns with COPY, into a
// table created beforehand with narrower types than the records'; rows
// with other columns in between go as INSERTs; a duplicate key in a COPY
// fails the Put and leaves nothing of it.
func TestInsertWithCopy(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	table := fmt.Sprintf("eddy_pg_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	if _, err := db.Exec(ctx, "CREATE TABLE "+table+` (id INTEGER PRIMARY KEY, name TEXT, price DOUBLE PRECISION,
		ok BOOLEAN, meta JSONB, note TEXT)`); err != nil {
		t.Fatal(err)
	}
	task := startTask(t, map[string]string{"connection.url": testURL, "table.name.format": table, "pk.mode": "record_value", "pk.fields": "id"})
	var batch []connectors.Record
	for i := range 40 {
		v := map[string]any{"id": int64(i), "name": fmt.Sprintf("n%d", i), "price": float64(i) / 2, "ok": i%2 == 0,
			"meta": map[string]any{"i": int64(i)}}
		if i == 20 {
			v["note"] = "in between" // other columns: an INSERT between two COPYs
		}
		batch = append(batch, connectors.Record{Topic: "t", Value: v})
	}
	if err := task.Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var n, sumID int64
	var sumPrice float64
	var note string
	if err := db.QueryRow(ctx, "SELECT count(*), sum(id), sum(price), max(note) FROM "+table).Scan(&n, &sumID, &sumPrice, &note); err != nil {
		t.Fatal(err)
	}
	if n != 40 || sumID != 780 || sumPrice != 390 || note != "in between" {
		t.Fatalf("rows %d, sum(id) %d, sum(price) %v, note %q; want 40, 780, 390, \"in between\"", n, sumID, sumPrice, note)
	}
	var metaI int64
	if err := db.QueryRow(ctx, "SELECT (meta->>'i')::bigint FROM "+table+" WHERE id = 33").Scan(&metaI); err != nil || metaI != 33 {
		t.Fatalf("meta of row 33: %d, %v", metaI, err)
	}
	// A batch whose COPY hits an existing key fails as a whole.
	var dup []connectors.Record
	for i := 100; i < 110; i++ {
		dup = append(dup, connectors.Record{Topic: "t", Value: map[string]any{"id": int64(i), "name": "x", "price": 1.0, "ok": true, "meta": nil}})
	}
	dup[9].Value.(map[string]any)["id"] = int64(5)
	err := task.Put(ctx, dup)
	if err == nil || !strings.Contains(err.Error(), "COPY into") || connectors.IsRetriable(err) {
		t.Fatalf("duplicate key in a COPY: %v (retriable %v)", err, connectors.IsRetriable(err))
	}
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 40 {
		t.Fatalf("after the failed Put: %d rows, %v", n, err)
	}
}
