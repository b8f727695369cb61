// Command orders-fraud checks orders against payments on an embedded
// broker and flags two kinds of suspicious orders: orders that no payment
// follows within 5 minutes (a windowed stream-stream left join), and
// cards used for more than 3 orders in one minute (a windowed count).
// Both emit final results only, once their windows have closed.
//
//	go run ./examples/orders-fraud
//	go run ./examples/orders-fraud -describe    # the topology, as Kafka Streams describes it
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
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// Order is a value of the "orders" topic, keyed by order id.
type Order struct {
	ID    string    `json:"id"`
	Card  string    `json:"card"`
	Cents int64     `json:"cents"`
	Time  time.Time `json:"time"` // event time
}

// Payment is a value of the "payments" topic, keyed by the id of the order
// it pays.
type Payment struct {
	Order string    `json:"order"`
	Cents int64     `json:"cents"`
	Time  time.Time `json:"time"`
}

// Flag is a value of "fraud-flags", keyed by card.
type Flag struct {
	Reason string    `json:"reason"`          // ReasonUnpaid or ReasonTooMany
	Card   string    `json:"card"`            //
	Order  string    `json:"order,omitempty"` // the unpaid order
	Time   time.Time `json:"time"`            // the unpaid order's time, or the start of the minute with too many orders
	Orders int64     `json:"orders"`          // orders of the card in that minute (1 for an unpaid order)
}

// Reasons of flags.
const (
	ReasonUnpaid  = "unpaid"
	ReasonTooMany = "too-many-orders"
)

// The rules.
var (
	// PaymentWindow: a payment counts for an order when it comes at most
	// 5 minutes after it; payments a minute later than that, in event
	// time, are too late to change the verdict.
	PaymentWindow = streams.JoinWindows{Before: 0, After: 5 * time.Minute, Grace: time.Minute}
	// CardWindows: orders per card are counted per minute, tumbling,
	// with 30 seconds of grace.
	CardWindows = streams.TimeWindows{Size: time.Minute, Grace: 30 * time.Second}
	// MaxOrdersPerMinute: more orders of one card in one minute are
	// flagged.
	MaxOrdersPerMinute int64 = 3
)

// Topics. One partition each: see "Things to know" in README.md.
const (
	OrdersTopic   = "orders"
	PaymentsTopic = "payments"
	FlagsTopic    = "fraud-flags"
	endOfInput    = "end-of-input" // id and card of the records closing the last windows
)

// sampleStart is when the sample's orders start (event time).
var sampleStart = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// Sample returns the sample orders and payments: see README.md for what
// each is there for.
func Sample() ([]Order, []Payment) {
	at := func(min, sec int) time.Time {
		return sampleStart.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	orders := []Order{
		{"o1", "card-A", 2500, at(0, 10)},
		{"o2", "card-B", 9900, at(0, 20)}, // paid 5m40s later: too late
		{"o3", "card-C", 4200, at(0, 30)}, // never paid
		{"o4", "card-D", 100, at(2, 5)},   // card-D: 4 orders in 12:02
		{"o5", "card-D", 100, at(2, 15)},
		{"o6", "card-D", 100, at(2, 25)},
		{"o7", "card-D", 100, at(2, 35)},
		{"o8", "card-E", 700, at(3, 50)}, // card-E: 4 orders in 20s, but 2 in 12:03 and 2 in 12:04
		{"o9", "card-E", 700, at(3, 55)},
		{"o10", "card-E", 700, at(4, 5)},
		{"o11", "card-E", 700, at(4, 10)},
		{"o12", "card-A", 1500, at(5, 0)}, // paid exactly 5 minutes later: in time
	}
	payments := []Payment{
		{"o1", 2500, at(1, 0)},
		{"o4", 100, at(2, 30)}, {"o5", 100, at(2, 40)}, {"o6", 100, at(2, 50)}, {"o7", 100, at(3, 0)},
		{"o8", 700, at(4, 0)}, {"o9", 700, at(4, 10)}, {"o10", 700, at(4, 20)}, {"o11", 700, at(4, 30)},
		{"o2", 9900, at(6, 0)},
		{"o99", 500, at(6, 30)}, // pays no known order: a left join ignores it
		{"o12", 1500, at(10, 0)},
	}
	return orders, payments
}

func main() {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	orders, payments := Sample()
	flags, err := run(ctx, orders, payments)
	if err != nil {
		log.Fatal(err)
	}
	printFlags(os.Stdout, flags)
}

// Topology flags unpaid orders and busy cards:
//
//	orders ─┬─ left join payments within 5 minutes ─ keep the unmatched ─▶ fraud-flags
//	        └─ by card ─ count per minute ─ suppress until closed ─ > 3 ─▶ fraud-flags
func Topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	// Event time is the order's or payment's own time, in its value (the
	// records' Kafka timestamps are when they were produced).
	orders := streams.From(b, OrdersTopic, streams.Consumed[string, Order]{Values: state.JSON[Order]{},
		Timestamp: func(r streams.Record[string, Order]) time.Time { return r.Value.Time }})
	payments := streams.From(b, PaymentsTopic, streams.Consumed[string, Payment]{Values: state.JSON[Payment]{},
		Timestamp: func(r streams.Record[string, Payment]) time.Time { return r.Value.Time }})

	// Orders and payments are both keyed by order id (and co-partitioned):
	// the join pairs an order with the payments of the same id in
	// [order time, order time + 5m]. A left join also emits each order
	// that found none, once its window has closed: those are the flags.
	checked := streams.LeftJoinStreams(orders, payments, func(o Order, _ Payment, paid bool) Flag {
		if paid {
			return Flag{}
		}
		return Flag{Reason: ReasonUnpaid, Card: o.Card, Order: o.ID, Time: o.Time, Orders: 1}
	}, PaymentWindow, streams.StreamJoined[string, Order, Payment]{Name: "order-payment",
		Values: state.JSON[Order]{}, OtherValues: state.JSON[Payment]{}})
	unpaid := streams.SelectKey(checked.Filter(func(_ string, f Flag) bool { return f.Reason == ReasonUnpaid }),
		func(_ string, f Flag) string { return f.Card })

	// Orders per card and minute: re-keyed by card (a repartition), counted
	// in tumbling windows, and only a window's final count passes.
	perCard := streams.WindowedBy(
		streams.GroupBy(orders, func(_ string, o Order) string { return o.Card },
			streams.Grouped[string, Order]{Name: "by-card", Values: state.JSON[Order]{}}),
		CardWindows).
		Count(streams.Materialized[string, int64]{Name: "orders-per-card-per-minute"}).
		Suppress(streams.UntilWindowCloses(streams.BufferConfig{}))
	tooMany := streams.Map(perCard.ToStream().Filter(func(_ streams.Windowed[string], n int64) bool { return n > MaxOrdersPerMinute }),
		func(w streams.Windowed[string], n int64) (string, Flag) {
			return w.Key, Flag{Reason: ReasonTooMany, Card: w.Key, Time: w.Start.UTC(), Orders: n}
		})

	unpaid.Merge(tooMany).To(FlagsTopic, streams.Produced[string, Flag]{Values: state.JSON[Flag]{}})
	return b.Build()
}

// run writes the orders and payments, runs the app until it has processed
// them all, and returns the flags it wrote, sorted by time and reason.
func run(ctx context.Context, orders []Order, payments []Payment) ([]Flag, error) {
	dir, err := os.MkdirTemp("", "eddy-orders-fraud-")
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, OrdersTopic, PaymentsTopic, FlagsTopic); err != nil {
		return nil, err
	}

	// Windows close by stream time, which only records move on: an order
	// and its payment an hour after the last record close every window.
	var last time.Time
	for _, o := range orders {
		last = maxTime(last, o.Time)
	}
	for _, p := range payments {
		last = maxTime(last, p.Time)
	}
	end := last.Add(time.Hour)
	orders = append(orders, Order{ID: endOfInput, Card: endOfInput, Time: end})
	payments = append(payments, Payment{Order: endOfInput, Time: end})

	var recs []*kgo.Record
	for _, o := range orders {
		v, _ := json.Marshal(o)
		recs = append(recs, &kgo.Record{Topic: OrdersTopic, Key: []byte(o.ID), Value: v})
	}
	for _, p := range payments {
		v, _ := json.Marshal(p)
		recs = append(recs, &kgo.Record{Topic: PaymentsTopic, Key: []byte(p.Order), Value: v})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}

	top, err := Topology()
	if err != nil {
		return nil, err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: "orders-fraud", Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dir, "state"), CommitInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		return nil, err
	}
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	done := make(chan error, 1)
	go func() { done <- app.Run(appCtx) }()

	// Every order and payment, and every order again from the by-card
	// repartition topic: then every window has closed. Stopping the app
	// waits for its outputs to be written.
	inputs := int64(2*len(orders) + len(payments))
	for app.Processed() < inputs {
		select {
		case <-ctx.Done():
			stopApp()
			<-done
			return nil, ctx.Err()
		case err := <-done:
			return nil, fmt.Errorf("streams app stopped: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stopApp()
	if err := <-done; err != nil {
		return nil, err
	}
	return readFlags(ctx, cl, adm)
}

// readFlags reads fraud-flags from its start to its end.
func readFlags(ctx context.Context, cl *kgo.Client, adm *kadm.Client) ([]Flag, error) {
	ends, err := adm.ListEndOffsets(ctx, FlagsTopic)
	if err != nil {
		return nil, err
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl.AddConsumeTopics(FlagsTopic)
	var flags []Flag
	for read := int64(0); read < want; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fs.Err0(); err != nil {
			return nil, err
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			read++
			var f Flag
			if err := json.Unmarshal(r.Value, &f); err != nil {
				bad = fmt.Errorf("%s offset %d: %w", FlagsTopic, r.Offset, err)
			}
			flags = append(flags, f)
		})
		if bad != nil {
			return nil, bad
		}
	}
	sort.Slice(flags, func(i, j int) bool {
		a, b := flags[i], flags[j]
		return a.Time.Before(b.Time) || a.Time.Equal(b.Time) && a.Reason < b.Reason
	})
	return flags, nil
}

func printFlags(w io.Writer, flags []Flag) {
	fmt.Fprintf(w, "%d flags:\n", len(flags))
	for _, f := range flags {
		switch f.Reason {
		case ReasonUnpaid:
			fmt.Fprintf(w, "  %s  %-7s order %s not paid within %s\n", f.Time.UTC().Format("15:04:05"), f.Card, f.Order, PaymentWindow.After)
		default:
			fmt.Fprintf(w, "  %s  %-7s %d orders in the minute from %s\n", f.Time.UTC().Format("15:04:05"), f.Card, f.Orders, f.Time.UTC().Format("15:04"))
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
