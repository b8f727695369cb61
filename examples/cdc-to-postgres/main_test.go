package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/connectors/datagen"
)

const testDB = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// table returns a fresh table name in the local PostgreSQL, dropped at the
// end of the test, or skips the test when PostgreSQL is not there.
func table(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, testDB)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable at %s (%v): start PostgreSQL (e.g. `service postgresql start`) with trust auth on 127.0.0.1 and a database named test", testDB, err)
	}
	name := fmt.Sprintf("eddy_example_%s_%d", strings.ToLower(t.Name()[4:]), time.Now().UnixNano())
	t.Cleanup(func() {
		db.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		db.Close(context.Background())
	})
	return name
}

// The generated orders end up in PostgreSQL as the totals a direct
// computation over the generator's records gives, and a second run over
// the same orders (a replay) leaves the same rows: upserts by key.
func TestGeneratedOrdersReachPostgres(t *testing.T) {
	tbl := table(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 600
	want := map[string]Totals{}
	for i := range int64(n) {
		_, v := datagen.Generate("orders", 42, i)
		o := Order{CustomerID: v["customer_id"].(string), Quantity: v["quantity"].(int64), Price: v["price"].(float64)}
		want[o.CustomerID] = want[o.CustomerID].Add(o)
	}
	for run1 := range 2 {
		res, err := run(ctx, Config{Orders: n, DB: testDB, Table: tbl})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(res.Rows, want) {
			t.Errorf("run %d: table has %d rows, want %d", run1+1, len(res.Rows), len(want))
			for id, w := range want {
				if res.Rows[id] != w {
					t.Errorf("  %s: %+v, want %+v", id, res.Rows[id], w)
				}
			}
		}
		if res.Orders != n || res.DeadLettered != 0 {
			t.Errorf("run %d: %d orders in, %d dead-lettered", run1+1, res.Orders, res.DeadLettered)
		}
	}
}

// From a file: lines that are not JSON go to the dead-letter topic,
// invalid orders are dropped, customer ids are trimmed; the rest is
// totalled, as worked out by hand.
func TestFileOrdersReachPostgres(t *testing.T) {
	tbl := table(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "orders.jsonl")
	lines := []string{
		`{"order_id":1,"customer_id":"ann","item":"tea","quantity":2,"price":3.5}`,
		`{"order_id":2,"customer_id":"bob","item":"cake","quantity":1,"price":12.99}`,
		`not json at all`,
		`{"order_id":3,"customer_id":" ann ","item":"mug","quantity":1,"price":8}`,
		`{"order_id":4,"customer_id":"bob","item":"tea","quantity":0,"price":3.5}`,
		`{"order_id":5,"customer_id":"","item":"tea","quantity":1,"price":3.5}`,
		`{"order_id":6,"customer_id":"cy","item":"tea","quantity":3,"price":0.1}`,
		`{"order_id":7,`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := run(ctx, Config{File: file, DB: testDB, Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Totals{
		"ann": {Orders: 2, Items: 3, RevenueCents: 2*350 + 800},
		"bob": {Orders: 1, Items: 1, RevenueCents: 1299},
		"cy":  {Orders: 1, Items: 3, RevenueCents: 30},
	}
	if !maps.Equal(res.Rows, want) {
		t.Errorf("rows = %+v\nwant %+v", res.Rows, want)
	}
	if res.Orders != 8 || res.DeadLettered != 2 {
		t.Errorf("%d lines in, %d dead-lettered; want 8, 2", res.Orders, res.DeadLettered)
	}
	var out strings.Builder
	res.print(&out, tbl)
	for _, s := range []string{"8 orders in, 2 not JSON (to orders-dlq), 4 counted\n", "3 customers, revenue 28.29\n", "  bob           1 orders     1 items      12.99\n"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := run(ctx, Config{Orders: 1, DB: "mysql://nope", Table: "t"}); err == nil || !strings.Contains(err.Error(), "-db") {
		t.Errorf("a non-PostgreSQL URL: %v", err)
	}
	if _, err := run(ctx, Config{Orders: 1, DB: testDB}); err == nil {
		t.Error("no table: no error")
	}
}
