// Command cdc-to-postgres moves orders from a source connector through a
// streams app into PostgreSQL, all on an embedded broker: the datagen
// source (or the file source, one JSON order per line) writes orders to a
// topic, the app drops the malformed and invalid ones and keeps running
// totals per customer, and the PostgreSQL sink connector upserts each
// customer's totals into a table, keyed by customer.
//
//	go run ./examples/cdc-to-postgres                              # 1000 generated orders
//	go run ./examples/cdc-to-postgres -file orders.jsonl
//	go run ./examples/cdc-to-postgres -db 'postgres://me@db:5432/shop' -table totals
//
// It needs a PostgreSQL server (by default the local one, database test).
// See README.md beside this file.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/datagen" // registers DatagenSource
	_ "github.com/eddy-streams/eddy/connectors/file"    // registers FileStreamSource
	"github.com/eddy-streams/eddy/connectors/postgres"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// Order is a value of the "orders" topic: the datagen connector's orders
// quickstart, or a line of the input file.
type Order struct {
	OrderID    int64   `json:"order_id"`
	CustomerID string  `json:"customer_id"`
	Item       string  `json:"item"`
	Quantity   int64   `json:"quantity"`
	Price      float64 `json:"price"` // per item
}

// Totals are a customer's running totals: a value of "customer-totals"
// (keyed by customer id) and a row of the table.
type Totals struct {
	Orders       int64 `json:"orders"`
	Items        int64 `json:"items"`
	RevenueCents int64 `json:"revenue_cents"`
}

// Add returns t with o in it.
func (t Totals) Add(o Order) Totals {
	t.Orders++
	t.Items += o.Quantity
	t.RevenueCents += o.Quantity * int64(math.Round(o.Price*100))
	return t
}

// Valid reports whether an order can be counted: it names a customer, and
// its quantity and price are positive.
func Valid(o Order) bool {
	return strings.TrimSpace(o.CustomerID) != "" && o.Quantity > 0 && o.Price > 0
}

// Topics and names.
const (
	applicationID = "cdc-to-postgres"
	OrdersTopic   = "orders"
	TotalsTopic   = "customer-totals"
	DeadLetters   = "orders-dlq" // orders that are not JSON
	sinkName      = "postgres-sink"
	partitions    = 3
)

// Config is what to run.
type Config struct {
	Orders int    // orders to generate (when File is empty)
	File   string // one JSON order per line, instead of the generator
	DB     string // PostgreSQL URL
	Table  string // the table the sink upserts into
}

func main() {
	var cfg Config
	flag.IntVar(&cfg.Orders, "orders", 1000, "orders to generate with the datagen connector")
	flag.StringVar(&cfg.File, "file", "", "read orders from this file instead, one JSON object per line (order_id, customer_id, item, quantity, price)")
	flag.StringVar(&cfg.DB, "db", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL")
	flag.StringVar(&cfg.Table, "table", "customer_totals", "table to upsert the totals into (created if missing)")
	describe := flag.Bool("describe", false, "print the topology and exit")
	flag.Parse()
	if *describe {
		top, err := Topology()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(top.Describe())
		return
	}
	if cfg.File == "" && cfg.Orders <= 0 {
		log.Fatal("-orders must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	res.print(os.Stdout, cfg.Table)
}

// Topology cleans the orders and totals them per customer:
//
//	orders ─ valid only ─ by customer ─▶ (repartition) ─ aggregate ─▶ customer-totals
//
// Records that are not JSON orders never reach it: the app sends them to
// the dead-letter topic (Config.OnDeserializationError).
func Topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	orders := streams.From(b, OrdersTopic, streams.Consumed[string, Order]{Keys: state.String{}, Values: state.JSON[Order]{}})
	valid := orders.Filter(func(_ string, o Order) bool { return Valid(o) })
	byCustomer := streams.GroupBy(valid, func(_ string, o Order) string { return strings.TrimSpace(o.CustomerID) },
		streams.Grouped[string, Order]{Name: "by-customer", Keys: state.String{}, Values: state.JSON[Order]{}})
	totals := streams.Aggregate(byCustomer, func() Totals { return Totals{} },
		func(_ string, o Order, t Totals) Totals { return t.Add(o) },
		streams.Materialized[string, Totals]{Name: "customer-totals", Keys: state.String{}, Values: state.JSON[Totals]{}})
	totals.ToStream().To(TotalsTopic, streams.Produced[string, Totals]{Keys: state.String{}, Values: state.JSON[Totals]{}})
	return b.Build()
}

// Result is what the table holds once the pipeline has drained.
type Result struct {
	Rows         map[string]Totals // by customer id
	Orders       int64             // records the source wrote
	DeadLettered int64             // of which were not JSON
}

// run starts the broker, the connectors and the app, waits until every
// order has gone through to PostgreSQL, and reads the table.
func run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Table == "" {
		return nil, errors.New("no table name")
	}
	// PostgreSQL first: without it nothing below can finish.
	connURL, err := postgres.ConnString(cfg.DB, "", "")
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	db, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", cfg.DB, err)
	}
	defer db.Close(context.Background())

	var want int64 // records the source will write
	if cfg.File != "" {
		n, err := countLines(cfg.File)
		if err != nil {
			return nil, err
		}
		want = n
	} else {
		want = int64(cfg.Orders)
	}

	dir, err := os.MkdirTemp("", "eddy-cdc-to-postgres-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, NumPartitions: partitions, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, partitions, 1, nil, OrdersTopic, TotalsTopic, DeadLetters); err != nil {
		return nil, err
	}

	// The streams app.
	top, err := Topology()
	if err != nil {
		return nil, err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: applicationID, Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dir, "state"), CommitInterval: 100 * time.Millisecond,
		OnDeserializationError: streams.DeadLetter, DeadLetterTopic: DeadLetters, Logger: quiet})
	if err != nil {
		return nil, err
	}
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	appDone := make(chan error, 1)
	go func() { appDone <- app.Run(appCtx) }()
	stopped := func(err error) (*Result, error) {
		stopApp()
		if err2 := <-appDone; err == nil {
			err = err2
		}
		return nil, err
	}

	// The connectors: a source writing orders, the PostgreSQL sink
	// upserting totals by customer id.
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{Brokers: []string{b.Addr()},
		OffsetFlushInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		return stopped(err)
	}
	defer w.Close()
	source := map[string]string{"connector.class": "DatagenSource", "quickstart": "orders", "kafka.topic": OrdersTopic,
		"iterations": strconv.FormatInt(want, 10), "records.per.second": "0",
		"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": "false"}
	if cfg.File != "" {
		source = map[string]string{"connector.class": "FileStreamSource", "file": cfg.File, "topic": OrdersTopic,
			"key.mode": "line", "key.converter": "string", "value.converter": "string"}
	}
	sink := map[string]string{"connector.class": "PostgresSink", "topics": TotalsTopic, "connection.url": cfg.DB,
		"table.name.format": cfg.Table, "insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "customer_id",
		"auto.create": "true", "key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": "false"}
	for name, c := range map[string]map[string]string{"orders-source": source, sinkName: sink} {
		if _, _, err := w.CreateConnector(name, c, false); err != nil {
			return stopped(fmt.Errorf("connector %s: %w", name, err))
		}
	}

	// Drained: the source wrote every order, the app has committed
	// everything it read (it commits only once its outputs are written),
	// and the sink has committed everything the app wrote (it commits
	// only once PostgreSQL has).
	for _, step := range []struct {
		what string
		done func() (bool, error)
	}{
		{"the source", func() (bool, error) {
			ends, err := endOffsets(ctx, adm, OrdersTopic)
			return err == nil && sum(ends) >= want, err
		}},
		{"the streams app", func() (bool, error) {
			return caughtUp(ctx, adm, applicationID, OrdersTopic, applicationID+"-by-customer-repartition")
		}},
		{"the PostgreSQL sink", func() (bool, error) { return caughtUp(ctx, adm, "connect-"+sinkName, TotalsTopic) }},
	} {
		if err := await(ctx, appDone, step.done); err != nil {
			return stopped(fmt.Errorf("waiting for %s: %w", step.what, err))
		}
	}
	stopApp()
	if err := <-appDone; err != nil {
		return nil, fmt.Errorf("streams app: %w", err)
	}
	dead, err := endOffsets(ctx, adm, DeadLetters)
	if err != nil {
		return nil, err
	}
	rows, err := readTable(ctx, db, cfg.Table)
	if err != nil {
		return nil, err
	}
	return &Result{Rows: rows, Orders: want, DeadLettered: sum(dead)}, nil
}

// await polls done until it says true, ctx ends or the app stops.
func await(ctx context.Context, appDone <-chan error, done func() (bool, error)) error {
	var last error
	for {
		ok, err := done()
		if ok {
			return nil
		}
		if err != nil {
			last = err // topics not created yet, say: try again
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case err := <-appDone:
			return fmt.Errorf("streams app stopped: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// caughtUp reports whether group has committed every record of topics
// (committed offsets read before the end offsets they are compared with).
func caughtUp(ctx context.Context, adm *kadm.Client, group string, topics ...string) (bool, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	ends, err := endOffsets(ctx, adm, topics...)
	if err != nil {
		return false, err
	}
	for tp, end := range ends {
		if end == 0 {
			continue
		}
		c, ok := committed.Lookup(tp.topic, tp.partition)
		if !ok || c.Err != nil || c.At < end {
			return false, nil
		}
	}
	return true, nil
}

type topicPartition struct {
	topic     string
	partition int32
}

func endOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (map[topicPartition]int64, error) {
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	if err := listed.Error(); err != nil {
		return nil, err
	}
	ends := map[topicPartition]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[topicPartition{o.Topic, o.Partition}] = o.Offset })
	return ends, nil
}

func sum(m map[topicPartition]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// readTable returns the table's rows by customer id. The sink creates the
// columns as bigint; the casts also read a table created beforehand with
// other numeric types.
func readTable(ctx context.Context, db *pgx.Conn, table string) (map[string]Totals, error) {
	rows, err := db.Query(ctx, fmt.Sprintf("SELECT customer_id, orders::bigint, items::bigint, revenue_cents::bigint FROM %s",
		pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]Totals{}
	for rows.Next() {
		var id string
		var t Totals
		if err := rows.Scan(&id, &t.Orders, &t.Items, &t.RevenueCents); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		out[id] = t
	}
	return out, rows.Err()
}

// countLines counts the complete lines of a file, as the file source
// reads them.
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	r := bufio.NewReader(f)
	for {
		_, err := r.ReadString('\n')
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		n++
	}
}

func (r *Result) print(w io.Writer, table string) {
	var orders, revenue int64
	type row struct {
		id string
		t  Totals
	}
	var top []row
	for id, t := range r.Rows {
		orders += t.Orders
		revenue += t.RevenueCents
		top = append(top, row{id, t})
	}
	// Largest revenue first.
	for i := range top {
		for j := i + 1; j < len(top); j++ {
			if top[j].t.RevenueCents > top[i].t.RevenueCents || top[j].t.RevenueCents == top[i].t.RevenueCents && top[j].id < top[i].id {
				top[i], top[j] = top[j], top[i]
			}
		}
	}
	fmt.Fprintf(w, "%d orders in, %d not JSON (to %s), %d counted\n", r.Orders, r.DeadLettered, DeadLetters, orders)
	fmt.Fprintf(w, "table %s: %d customers, revenue %s\n", table, len(r.Rows), money(revenue))
	fmt.Fprintf(w, "top customers by revenue:\n")
	for _, x := range top[:min(5, len(top))] {
		fmt.Fprintf(w, "  %-10s %4d orders %5d items %10s\n", x.id, x.t.Orders, x.t.Items, money(x.t.RevenueCents))
	}
}

func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }
