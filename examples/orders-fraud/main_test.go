package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// The sample's flags, worked out by hand (see README.md): o2 is paid 5m40s
// after it was placed, o3 never; card-D has 4 orders in 12:02; card-E's 4
// orders in 20 seconds straddle a minute boundary; o12 is paid exactly 5
// minutes later, the last moment that counts; the payment of o99 pays no
// order.
func TestOrdersFraudRunsToCompletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	orders, payments := Sample()
	flags, err := run(ctx, orders, payments)
	if err != nil {
		t.Fatal(err)
	}
	at := func(min, sec int) time.Time {
		return sampleStart.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	want := []Flag{
		{Reason: ReasonUnpaid, Card: "card-B", Order: "o2", Time: at(0, 20), Orders: 1},
		{Reason: ReasonUnpaid, Card: "card-C", Order: "o3", Time: at(0, 30), Orders: 1},
		{Reason: ReasonTooMany, Card: "card-D", Time: at(2, 0), Orders: 4},
	}
	eq := func(a, b Flag) bool {
		return a.Reason == b.Reason && a.Card == b.Card && a.Order == b.Order && a.Time.Equal(b.Time) && a.Orders == b.Orders
	}
	if !slices.EqualFunc(flags, want, eq) {
		t.Errorf("flags:\n%+v\nwant\n%+v", flags, want)
	}
	var out strings.Builder
	printFlags(&out, flags)
	for _, line := range []string{"3 flags:\n", "  12:00:30  card-C  order o3 not paid within 5m0s\n", "  12:02:00  card-D  4 orders in the minute from 12:02\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

// A fifth order of card-E inside 12:04 makes that minute too busy, and
// the payment of o3 arriving in time clears it.
func TestOrdersFraudOtherInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	orders, payments := Sample()
	orders = append(orders, Order{"o13", "card-E", 700, sampleStart.Add(4*time.Minute + 20*time.Second)},
		Order{"o14", "card-E", 700, sampleStart.Add(4*time.Minute + 30*time.Second)})
	payments = append(payments, Payment{"o13", 700, sampleStart.Add(5 * time.Minute)}, Payment{"o14", 700, sampleStart.Add(5 * time.Minute)},
		Payment{"o3", 4200, sampleStart.Add(5*time.Minute + 30*time.Second)})
	// In time order, as they would be written: a partition's records are
	// processed in offset order.
	slices.SortStableFunc(orders, func(a, b Order) int { return a.Time.Compare(b.Time) })
	slices.SortStableFunc(payments, func(a, b Payment) int { return a.Time.Compare(b.Time) })
	flags, err := run(ctx, orders, payments)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range flags {
		got = append(got, f.Reason+" "+f.Card+" "+f.Order+" "+f.Time.UTC().Format("15:04:05"))
	}
	want := []string{"unpaid card-B o2 12:00:20", "too-many-orders card-D  12:02:00", "too-many-orders card-E  12:04:00"}
	if !slices.Equal(got, want) {
		t.Errorf("flags:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
