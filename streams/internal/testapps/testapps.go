// Package testapps holds the topologies that the streams tests run both
// through the test driver and on a broker, with their expected outputs.
package testapps

import (
	"strings"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// WordCount reads lines (string keys, string values) from "text", counts
// words, and writes the running count per word to "word-counts" (string
// keys, int64 values). The count table's store is "counts".
func WordCount() *streams.Topology {
	b := streams.NewBuilder()
	lines := streams.From(b, "text", streams.Consumed[string, string]{})
	words := streams.FlatMapValues(lines, func(_ string, line string) []string {
		return strings.Fields(strings.ToLower(line))
	})
	counts := streams.GroupBy(words, func(_ string, w string) string { return w },
		streams.Grouped[string, string]{Name: "words"}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	counts.ToStream().To("word-counts", streams.Produced[string, int64]{})
	return must(b.Build())
}

// Order is an order event.
type Order struct {
	Customer string
	Amount   int64
}

// Customer is a customer record.
type Customer struct {
	Name    string
	Country string
}

// Enriched is an order joined with its customer.
type Enriched struct {
	Customer string
	Name     string
	Country  string
	Amount   int64
}

// Enrichment reads orders keyed by order id from "orders", re-keys them by
// customer (a repartition), joins them with the "customers" table (keyed by
// customer id) and writes enriched orders to "enriched-orders" keyed by
// customer; unknown customers get Name "?" (a left join). It also sums the
// amounts per country (a second repartition) into "country-totals".
func Enrichment() *streams.Topology {
	b := streams.NewBuilder()
	customers := streams.TableFrom(b, "customers", streams.Consumed[string, Customer]{},
		streams.Materialized[string, Customer]{Name: "customers-store"})
	orders := streams.From(b, "orders", streams.Consumed[string, Order]{})
	byCustomer := streams.SelectKey(orders, func(_ string, o Order) string { return o.Customer })
	enriched := streams.LeftJoin(byCustomer, customers, func(o Order, c Customer, found bool) Enriched {
		e := Enriched{Customer: o.Customer, Name: c.Name, Country: c.Country, Amount: o.Amount}
		if !found {
			e.Name, e.Country = "?", "?"
		}
		return e
	})
	enriched.To("enriched-orders", streams.Produced[string, Enriched]{})
	byCountry := streams.Map(enriched, func(_ string, e Enriched) (string, int64) { return e.Country, e.Amount })
	totals := byCountry.GroupByKey(streams.Grouped[string, int64]{Name: "by-country"}).
		Reduce(func(a, v int64) int64 { return a + v }, streams.Materialized[string, int64]{Name: "country-totals-store", Values: state.Long{}})
	totals.ToStream().To("country-totals", streams.Produced[string, int64]{})
	return must(b.Build())
}

// TableJoin joins the "left" and "right" tables (string keys and values)
// three ways into "inner", "left-join" and "outer" (values "l|r", with "-"
// for a missing side); deletions become tombstones.
func TableJoin() *streams.Topology {
	b := streams.NewBuilder()
	l := streams.TableFrom(b, "left", streams.Consumed[string, string]{}, streams.Materialized[string, string]{Name: "left-store"})
	r := streams.TableFrom(b, "right", streams.Consumed[string, string]{}, streams.Materialized[string, string]{Name: "right-store"})
	toTopic := func(t streams.Table[string, string], topic string) {
		t.To(topic, streams.Produced[string, string]{})
	}
	toTopic(streams.JoinTables(l, r, func(a, b string) string { return a + "|" + b }), "inner")
	toTopic(streams.LeftJoinTables(l, r, func(a, b string, ok bool) string {
		if !ok {
			b = "-"
		}
		return a + "|" + b
	}), "left-join")
	toTopic(streams.OuterJoinTables(l, r, func(a string, okA bool, b string, okB bool) string {
		if !okA {
			a = "-"
		}
		if !okB {
			b = "-"
		}
		return a + "|" + b
	}), "outer")
	return must(b.Build())
}

func must(t *streams.Topology, err error) *streams.Topology {
	if err != nil {
		panic(err)
	}
	return t
}
