// Package postgres provides a PostgreSQL sink connector: it writes records
// to a table, inserting them or upserting them by key, and creates the
// table when asked. Its settings use the names of Confluent's JDBC sink
// where they mean the same:
//
//	connector.class=PostgresSink
//	topics=orders
//	connection.url=postgres://user@127.0.0.1:5432/db   (jdbc:postgresql://host:port/db works too)
//	connection.user=..., connection.password=...
//	table.name.format=${topic}            the table; ${topic} is replaced
//	insert.mode=insert | upsert
//	pk.mode=none | kafka | record_key | record_value
//	pk.fields=id                          the key columns
//	auto.create=true                      CREATE TABLE IF NOT EXISTS from the first record
//
// A record's value becomes a row: a map's entries are columns; any other
// value goes to the column named by value.column (default "value"). With
// pk.mode=record_key a map key gives the pk.fields columns; a scalar key
// goes to the single pk.fields column (default "id"). pk.mode=kafka uses
// __connect_topic, __connect_partition and __connect_offset. With
// delete.enabled=true (and pk.mode=record_key) a record with a null value
// deletes the row of its key.
//
// In insert mode, runs of records with the same columns are written with
// COPY (pgx CopyFrom); upserts stay INSERT ... ON CONFLICT statements,
// sent in one pipelined batch. Each Put is written in one transaction, so
// Flush has nothing left to do: offsets are committed only for records
// already committed in PostgreSQL.
// Connection failures are retriable (errors.retry.timeout). With upsert by
// key, a record delivered twice (after a crash) leaves one row.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eddy-streams/eddy/connectors"
)

// Class is the connector's class name.
const Class = "io.eddystreams.connect.postgres.PostgresSinkConnector"

// Config defines the connector's settings.
var Config = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "connection.url", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "PostgreSQL URL: postgres://host:port/db?... or jdbc:postgresql://host:port/db."}).
	Define(connectors.ConfigKey{Name: "connection.user", Type: connectors.String, Importance: connectors.High, Doc: "User name."}).
	Define(connectors.ConfigKey{Name: "connection.password", Type: connectors.Password, Importance: connectors.High, Doc: "Password."}).
	Define(connectors.ConfigKey{Name: "table.name.format", Type: connectors.String, Default: "${topic}", Importance: connectors.Medium,
		Doc: "Destination table name; ${topic} is replaced by the record's topic."}).
	Define(connectors.ConfigKey{Name: "insert.mode", Type: connectors.String, Default: "insert", Importance: connectors.High,
		Validate: connectors.OneOf("insert", "upsert"), Recommended: []string{"insert", "upsert"},
		Doc: "insert: plain INSERT; upsert: INSERT ... ON CONFLICT (pk) DO UPDATE."}).
	Define(connectors.ConfigKey{Name: "pk.mode", Type: connectors.String, Default: "none", Importance: connectors.High,
		Validate:    connectors.OneOf("none", "kafka", "record_key", "record_value"),
		Recommended: []string{"none", "kafka", "record_key", "record_value"},
		Doc:         "Where the primary key comes from."}).
	Define(connectors.ConfigKey{Name: "pk.fields", Type: connectors.List, Importance: connectors.Medium,
		Doc: "Primary key column names (for record_key with a scalar key: one name, default id)."}).
	Define(connectors.ConfigKey{Name: "auto.create", Type: connectors.Boolean, Default: "false", Importance: connectors.Medium,
		Doc: "Create the table from the first record's fields when it does not exist."}).
	Define(connectors.ConfigKey{Name: "delete.enabled", Type: connectors.Boolean, Default: "false", Importance: connectors.Medium,
		Doc: "Delete the row of a record with a null value (a tombstone); needs pk.mode=record_key."}).
	Define(connectors.ConfigKey{Name: "value.column", Type: connectors.String, Default: "value", Importance: connectors.Low,
		Doc: "Eddy: the column receiving values that are not maps."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: Class, Aliases: []string{"PostgresSink"}, Type: connectors.TypeSink, Config: Config,
		NewConnector: func() connectors.Connector { return &connector{} },
		NewSinkTask:  func() connectors.SinkTask { return &Task{} },
	})
}

type connector struct{}

func (*connector) Start(context.Context, connectors.Config) error { return nil }
func (*connector) TaskConfigs(n int) ([]map[string]string, error) {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out, nil
}
func (*connector) Stop() error { return nil }

// Task writes records to PostgreSQL.
type Task struct {
	connStr     string
	tableFormat string
	upsert      bool
	pkMode      string
	pkFields    []string
	autoCreate  bool
	valueColumn string
	deletes     bool

	conn    *pgx.Conn
	created map[string]bool // tables known to exist
}

// ConnString turns a connection.url (postgres:// or jdbc:postgresql://)
// plus user and password into a pgx connection string.
func ConnString(rawURL, user, password string) (string, error) {
	s := strings.TrimPrefix(strings.TrimSpace(rawURL), "jdbc:")
	if strings.HasPrefix(s, "postgresql://") {
		s = "postgres://" + strings.TrimPrefix(s, "postgresql://")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "postgres" {
		return "", fmt.Errorf("connection.url %q: want postgres://host:port/db or jdbc:postgresql://host:port/db", rawURL)
	}
	q := u.Query()
	// JDBC passes the user and password as parameters too.
	if v := q.Get("user"); v != "" && user == "" {
		user = v
	}
	if v := q.Get("password"); v != "" && password == "" {
		password = v
	}
	q.Del("user")
	q.Del("password")
	u.RawQuery = q.Encode()
	if user != "" {
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
	}
	return u.String(), nil
}

func (t *Task) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	cs, err := ConnString(cfg.String("connection.url"), cfg.String("connection.user"), cfg.String("connection.password"))
	if err != nil {
		return err
	}
	t.connStr = cs
	t.tableFormat = cfg.String("table.name.format")
	t.upsert = cfg.String("insert.mode") == "upsert"
	t.pkMode = cfg.String("pk.mode")
	t.pkFields = cfg.List("pk.fields")
	t.autoCreate = cfg.Bool("auto.create")
	t.valueColumn = cfg.String("value.column")
	t.deletes = cfg.Bool("delete.enabled")
	t.created = map[string]bool{}
	switch t.pkMode {
	case "kafka":
		t.pkFields = []string{"__connect_topic", "__connect_partition", "__connect_offset"}
	case "record_key":
		if len(t.pkFields) == 0 {
			t.pkFields = []string{"id"}
		}
	case "record_value":
		if len(t.pkFields) == 0 {
			return errors.New("pk.mode=record_value needs pk.fields")
		}
	}
	if t.deletes && t.pkMode != "record_key" {
		return errors.New("delete.enabled=true needs pk.mode=record_key")
	}
	if t.upsert && t.pkMode == "none" {
		return errors.New("insert.mode=upsert needs a primary key: set pk.mode")
	}
	return t.connect(ctx)
}

func (t *Task) connect(ctx context.Context) error {
	if t.conn != nil && !t.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.Connect(ctx, t.connStr)
	if err != nil {
		return connectors.Retriable(fmt.Errorf("connecting to PostgreSQL: %w", err))
	}
	t.conn = conn
	return nil
}

// row is one record as columns.
type row struct {
	table  string
	cols   map[string]any
	delete bool // a tombstone: delete the row with cols' key
}

func (t *Task) toRow(r connectors.Record) (row, error) {
	cols := map[string]any{}
	del := t.deletes && r.Value == nil
	if del {
		// only the key columns, filled in below
	} else if m, ok := r.Value.(map[string]any); ok {
		for k, v := range m {
			cols[k] = v
		}
	} else {
		cols[t.valueColumn] = r.Value
	}
	switch t.pkMode {
	case "kafka":
		cols["__connect_topic"], cols["__connect_partition"], cols["__connect_offset"] = r.Topic, int64(r.Partition), r.Offset
	case "record_key":
		if m, ok := r.Key.(map[string]any); ok {
			for _, f := range t.pkFields {
				cols[f] = m[f]
			}
		} else {
			if len(t.pkFields) != 1 {
				return row{}, fmt.Errorf("a scalar key fills one column, but pk.fields has %d", len(t.pkFields))
			}
			cols[t.pkFields[0]] = r.Key
		}
		if r.Key == nil {
			return row{}, fmt.Errorf("pk.mode=record_key but the record at %s[%d]@%d has no key", r.Topic, r.Partition, r.Offset)
		}
	}
	for k, v := range cols {
		switch v.(type) {
		case map[string]any, []any:
			b, _ := json.Marshal(v)
			cols[k] = string(b)
		}
	}
	return row{table: strings.ReplaceAll(t.tableFormat, "${topic}", r.Topic), cols: cols, delete: del}, nil
}

func sqlType(v any) string {
	switch v.(type) {
	case int64, int, int32:
		return "BIGINT"
	case float64, float32:
		return "DOUBLE PRECISION"
	case bool:
		return "BOOLEAN"
	case []byte:
		return "BYTEA"
	}
	return "TEXT"
}

func (t *Task) createTable(ctx context.Context, tx pgx.Tx, r row) error {
	if t.created[r.table] || !t.autoCreate {
		return nil
	}
	var defs []string
	for _, c := range sortedCols(r.cols) {
		d := pgx.Identifier{c}.Sanitize() + " " + sqlType(r.cols[c])
		if !contains(t.pkFields, c) {
			d += " NULL"
		} else {
			d += " NOT NULL"
		}
		defs = append(defs, d)
	}
	if t.pkMode != "none" {
		defs = append(defs, "PRIMARY KEY ("+quoteList(t.pkFields)+")")
	}
	q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", pgx.Identifier{r.table}.Sanitize(), strings.Join(defs, ", "))
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("creating table %s: %w", r.table, err)
	}
	t.created[r.table] = true
	return nil
}

func sortedCols(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// statement builds the INSERT (or upsert) of r.
func (t *Task) statement(r row) (string, []any) {
	cols := sortedCols(r.cols)
	if r.delete {
		conds := make([]string, len(t.pkFields))
		args := make([]any, len(t.pkFields))
		for i, c := range t.pkFields {
			conds[i] = fmt.Sprintf("%s = $%d", pgx.Identifier{c}.Sanitize(), i+1)
			args[i] = r.cols[c]
		}
		return fmt.Sprintf("DELETE FROM %s WHERE %s", pgx.Identifier{r.table}.Sanitize(), strings.Join(conds, " AND ")), args
	}
	ph := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = r.cols[c]
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", pgx.Identifier{r.table}.Sanitize(), quoteList(cols), strings.Join(ph, ", "))
	if t.upsert {
		var sets []string
		for _, c := range cols {
			if !contains(t.pkFields, c) {
				id := pgx.Identifier{c}.Sanitize()
				sets = append(sets, id+" = EXCLUDED."+id)
			}
		}
		if len(sets) == 0 {
			q += " ON CONFLICT (" + quoteList(t.pkFields) + ") DO NOTHING"
		} else {
			q += " ON CONFLICT (" + quoteList(t.pkFields) + ") DO UPDATE SET " + strings.Join(sets, ", ")
		}
	}
	return q, args
}

// Put writes the batch in one transaction.
func (t *Task) Put(ctx context.Context, records []connectors.Record) error {
	if err := t.connect(ctx); err != nil {
		return err
	}
	rows := make([]row, 0, len(records))
	for _, r := range records {
		rw, err := t.toRow(r)
		if err != nil {
			return err
		}
		rows = append(rows, rw)
	}
	err := pgx.BeginFunc(ctx, t.conn, func(tx pgx.Tx) error {
		for _, r := range rows {
			if r.delete {
				continue
			}
			if err := t.createTable(ctx, tx, r); err != nil {
				return err
			}
		}
		return t.write(ctx, tx, rows)
	})
	if err != nil {
		clear(t.created) // a rolled back CREATE TABLE is gone
		return classify(t, err)
	}
	return nil
}

// copyMinRows is the shortest run of rows worth a COPY rather than
// INSERTs in the statement batch.
const copyMinRows = 8

// write sends rows in order: in insert mode each run of at least
// copyMinRows rows for one table with the same columns goes in one COPY
// (pgx CopyFrom, PostgreSQL's binary COPY protocol); upserts, deletes and
// short runs go as statements in one pipelined batch.
func (t *Task) write(ctx context.Context, tx pgx.Tx, rows []row) error {
	var b pgx.Batch
	sendBatch := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := tx.SendBatch(ctx, &b).Close()
		b = pgx.Batch{}
		return err
	}
	for i := 0; i < len(rows); {
		r := rows[i]
		if !t.upsert && !r.delete {
			cols := sortedCols(r.cols)
			j := i + 1
			for j < len(rows) && !rows[j].delete && rows[j].table == r.table && sameCols(rows[j].cols, cols) {
				j++
			}
			if j-i >= copyMinRows {
				if err := sendBatch(); err != nil {
					return err
				}
				src := pgx.CopyFromSlice(j-i, func(k int) ([]any, error) {
					vals := make([]any, len(cols))
					for c, name := range cols {
						vals[c] = rows[i+k].cols[name]
					}
					return vals, nil
				})
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{r.table}, cols, src); err != nil {
					return fmt.Errorf("COPY into %s: %w", r.table, err)
				}
				i = j
				continue
			}
		}
		q, args := t.statement(r)
		b.Queue(q, args...)
		i++
	}
	return sendBatch()
}

// sameCols reports whether m has exactly the columns cols (sorted).
func sameCols(m map[string]any, cols []string) bool {
	if len(m) != len(cols) {
		return false
	}
	for _, c := range cols {
		if _, ok := m[c]; !ok {
			return false
		}
	}
	return true
}

// classify marks connection-level failures retriable, dropping the
// connection so the retry reconnects.
func classify(t *Task, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection), 40 (transaction rollback: serialization,
		// deadlock), 53 (insufficient resources), 57 (operator intervention).
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57":
			return connectors.Retriable(err)
		}
		return err
	}
	if t.conn != nil {
		t.conn.Close(context.Background())
		t.conn = nil
	}
	return connectors.Retriable(err)
}

// Flush has nothing to do: Put commits.
func (t *Task) Flush(ctx context.Context) error { return nil }

func (t *Task) Stop() error {
	if t.conn != nil {
		return t.conn.Close(context.Background())
	}
	return nil
}
