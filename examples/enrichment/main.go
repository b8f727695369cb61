// Command enrichment joins a stream of orders with a table of customers on
// an embedded broker — a stream-table join, Kafka Streams style — and sums
// the order amounts per country.
//
//	go run ./examples/enrichment
//	go run ./examples/enrichment -describe    # the topology, as Kafka Streams describes it
//
// See README.md beside this file.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// Customer is a value of the "customers" topic, keyed by customer id.
type Customer struct {
	Name    string `json:"name"`
	Country string `json:"country"`
}

// Order is a value of the "orders" topic, keyed by order id.
type Order struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Cents    int64  `json:"cents"`
}

// Enriched is an order with its customer's name and country, a value of
// "enriched-orders", keyed by customer id.
type Enriched struct {
	Order   string `json:"order"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Cents   int64  `json:"cents"`
}

// Sample data: the customers table, then the orders.
var (
	sampleCustomers = map[string]Customer{
		"c1": {"Ada Lovelace", "GB"},
		"c2": {"Grace Hopper", "US"},
		"c3": {"Edsger Dijkstra", "NL"},
		"c4": {"Alan Turing", "GB"},
	}
	sampleOrders = []Order{
		{"o1", "c1", 1250}, {"o2", "c2", 990}, {"o3", "c3", 4500}, {"o4", "c1", 300},
		{"o5", "c4", 2000}, {"o6", "c9", 700}, // c9 is not a customer: a left join keeps it
		{"o7", "c2", 1510},
	}
)

func main() {
	describe := flag.Bool("describe", false, "print the topology (sub-topologies, stores, internal topics) and exit")
	flag.Parse()
	if *describe {
		top, err := Topology()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(top.Describe())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, sampleCustomers, sampleOrders)
	if err != nil {
		log.Fatal(err)
	}
	res.print(os.Stdout)
}

// Topology joins orders with customers and sums amounts per country:
//
//	orders ─ re-key by customer ─▶ (repartition) ─┐
//	customers (table) ────────────────────────────┴─ left join ─▶ enriched-orders
//	                                                     └─ by country, sum ─▶ country-totals
func Topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	customers := streams.TableFrom(b, "customers",
		streams.Consumed[string, Customer]{Values: state.JSON[Customer]{}},
		streams.Materialized[string, Customer]{Name: "customers"})
	orders := streams.From(b, "orders", streams.Consumed[string, Order]{Values: state.JSON[Order]{}})

	// The join looks customers up by the stream's key, so orders are
	// re-keyed by customer id; the runtime repartitions them through
	// "enrichment-by-customer-repartition" to meet their customer's partition.
	byCustomer := streams.SelectKey(orders, func(_ string, o Order) string { return o.Customer }).
		Repartition(streams.Repartitioned[string, Order]{Name: "by-customer"})
	enriched := streams.LeftJoin(byCustomer, customers, func(o Order, c Customer, found bool) Enriched {
		if !found {
			c = Customer{Name: "?", Country: "?"}
		}
		return Enriched{Order: o.ID, Name: c.Name, Country: c.Country, Cents: o.Cents}
	})
	enriched.To("enriched-orders", streams.Produced[string, Enriched]{Values: state.JSON[Enriched]{}})

	byCountry := streams.Map(enriched, func(_ string, e Enriched) (string, int64) { return e.Country, e.Cents })
	totals := byCountry.GroupByKey(streams.Grouped[string, int64]{Name: "by-country"}).
		Reduce(func(sum, cents int64) int64 { return sum + cents },
			streams.Materialized[string, int64]{Name: "country-totals"})
	totals.ToStream().To("country-totals", streams.Produced[string, int64]{})
	return b.Build()
}

// result is what the app wrote: enriched orders by order id, and the
// latest total per country.
type result struct {
	Enriched map[string]Enriched
	Totals   map[string]int64
}

// run writes the customers, starts the app, writes the orders once the
// customers are in its table, and reads the outputs until every order is
// enriched and counted.
func run(ctx context.Context, customers map[string]Customer, orders []Order) (*result, error) {
	dir, err := os.MkdirTemp("", "eddy-enrichment-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()),
		kgo.ConsumeTopics("enriched-orders", "country-totals"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// A stream-table join needs both inputs co-partitioned: the same
	// partition count (and the same partitioner for their keys).
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 3, 1, nil, "orders", "enriched-orders", "country-totals"); err != nil {
		return nil, err
	}
	compact := "compact"
	if _, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"cleanup.policy": &compact}, "customers"); err != nil {
		return nil, err
	}

	var recs []*kgo.Record
	for id, c := range customers {
		v, _ := json.Marshal(c)
		recs = append(recs, &kgo.Record{Topic: "customers", Key: []byte(id), Value: v})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce customers: %w", err)
	}

	top, err := Topology()
	if err != nil {
		return nil, err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: "enrichment", Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dir, "state"), CommitInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		return nil, err
	}
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	done := make(chan error, 1)
	go func() { done <- app.Run(appCtx) }()
	stopped := func(err error) (*result, error) {
		stopApp()
		if err2 := <-done; err == nil {
			err = err2
		}
		return nil, err
	}

	// The join takes the table as it is when an order is processed, so
	// the orders go in once the app has read the customers.
	for app.Processed() < int64(len(customers)) {
		select {
		case <-ctx.Done():
			return stopped(ctx.Err())
		case err := <-done:
			return nil, fmt.Errorf("streams app stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	recs = recs[:0]
	var cents int64
	for _, o := range orders {
		v, _ := json.Marshal(o)
		recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(o.ID), Value: v})
		cents += o.Cents
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return stopped(fmt.Errorf("produce orders: %w", err))
	}

	res := &result{Enriched: map[string]Enriched{}, Totals: map[string]int64{}}
	var sum int64
	for len(res.Enriched) < len(orders) || sum < cents {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return stopped(err)
		}
		if err := fs.Err0(); err != nil {
			return stopped(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case "enriched-orders":
				var e Enriched
				if json.Unmarshal(r.Value, &e) == nil {
					res.Enriched[e.Order] = e
				}
			case "country-totals":
				n, err := state.Long{}.Decode(r.Value)
				if err == nil {
					sum += n - res.Totals[string(r.Key)]
					res.Totals[string(r.Key)] = n
				}
			}
		})
	}
	stopApp()
	if err := <-done; err != nil {
		return nil, err
	}
	return res, nil
}

func (r *result) print(w io.Writer) {
	ids := make([]string, 0, len(r.Enriched))
	for id := range r.Enriched {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(w, "enriched orders:")
	for _, id := range ids {
		e := r.Enriched[id]
		fmt.Fprintf(w, "  %-3s %-16s %-2s %8s\n", id, e.Name, e.Country, money(e.Cents))
	}
	countries := make([]string, 0, len(r.Totals))
	for c := range r.Totals {
		countries = append(countries, c)
	}
	sort.Strings(countries)
	fmt.Fprintln(w, "totals per country:")
	for _, c := range countries {
		fmt.Fprintf(w, "  %-2s %8s\n", c, money(r.Totals[c]))
	}
}

func money(cents int64) string {
	return strconv.FormatInt(cents/100, 10) + "." + fmt.Sprintf("%02d", cents%100)
}
