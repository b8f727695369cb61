package connectors_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/postgres"
)

// pgURL is the local PostgreSQL the connector tests use.
const pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgConn connects to the local PostgreSQL or skips the test.
func pgConn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable at %s (%v); start it with `service postgresql start` "+
			"(or `pg_ctlcluster 15 main start`), with trust auth for 127.0.0.1 and a database named test", pgURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func countRows(t testing.TB, conn *pgx.Conn, table string) int {
	var n int
	err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	if err != nil {
		return -1 // not created yet
	}
	return n
}

// Child mode of TestFileToPostgresSurvivesSIGKILL: run a worker with the
// file source and the PostgreSQL sink until killed.
func runCrashChild() {
	addr, in, table := os.Getenv("EDDY_CRASH_BROKER"), os.Getenv("EDDY_CRASH_FILE"), os.Getenv("EDDY_CRASH_TABLE")
	w, err := connectors.NewWorker(context.Background(), connectors.WorkerConfig{
		Brokers: []string{addr}, OffsetsPartitions: 5, OffsetFlushInterval: 150 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	for name, cfg := range map[string]map[string]string{
		"lines-source": {"connector.class": "FileStreamSource", "file": in, "topic": "crash-lines", "key.mode": "line", "batch.size": "50"},
		"lines-sink": {"connector.class": "PostgresSink", "topics": "crash-lines", "connection.url": pgURL,
			"table.name.format": table, "insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "line", "auto.create": "true"},
	} {
		// After a restart the configs topic has brought them back already.
		if _, _, err := w.CreateConnector(name, cfg, false); err != nil && !isExists(err) {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
	}
	select {}
}

func isExists(err error) bool { return err != nil && errorsIs(err, connectors.ErrAlreadyExists) }

// TestFileToPostgresSurvivesSIGKILL: lines appended to a file arrive as
// rows in PostgreSQL; the worker process is SIGKILLed mid-way and started
// again, and every line is in the table exactly once (upsert by line
// number), with its text.
func TestFileToPostgresSurvivesSIGKILL(t *testing.T) {
	if os.Getenv("EDDY_CRASH_CHILD") == "1" {
		runCrashChild()
		return
	}
	conn := pgConn(t)
	ctx := context.Background()
	table := fmt.Sprintf("eddy_crash_%d", time.Now().UnixNano())
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })

	addr := startBroker(t)
	in := filepath.Join(t.TempDir(), "lines.txt")
	const total = 3000
	appended := make(chan struct{})
	go func() { // a writer appending lines while the workers come and go
		defer close(appended)
		for i := 0; i < total; i += 25 {
			var ls []string
			for j := i; j < i+25; j++ {
				ls = append(ls, "line "+strconv.Itoa(j+1))
			}
			appendLines(t, in, ls...)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileToPostgresSurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), "EDDY_CRASH_CHILD=1", "EDDY_CRASH_BROKER="+addr, "EDDY_CRASH_FILE="+in, "EDDY_CRASH_TABLE="+table)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()
	waitFor(t, 60*time.Second, "rows before the crash", func() bool { return countRows(t, conn, table) >= 300 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	before := countRows(t, conn, table)

	child = start()
	t.Cleanup(func() { child.Process.Signal(syscall.SIGKILL); child.Wait() })
	<-appended
	waitFor(t, 90*time.Second, fmt.Sprintf("%d rows (had %d at the crash)", total, before), func() bool {
		return countRows(t, conn, table) >= total
	})
	// Rows are upserted by line number, so a line delivered twice cannot
	// add a row: the count is exact.
	if n := countRows(t, conn, table); n != total {
		t.Fatalf("table has %d rows, want %d", n, total)
	}
	var bad int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE value <> 'line ' || line OR line < 1 OR line > $1", total).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d rows do not hold their own line", bad)
	}
	t.Logf("%d rows at the crash, %d after the restart, each line once", before, total)
}
