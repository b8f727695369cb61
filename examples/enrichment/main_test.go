package main

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestEnrichmentRunsToCompletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := run(ctx, sampleCustomers, sampleOrders)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Enriched{
		"o1": {"o1", "Ada Lovelace", "GB", 1250},
		"o2": {"o2", "Grace Hopper", "US", 990},
		"o3": {"o3", "Edsger Dijkstra", "NL", 4500},
		"o4": {"o4", "Ada Lovelace", "GB", 300},
		"o5": {"o5", "Alan Turing", "GB", 2000},
		"o6": {"o6", "?", "?", 700},
		"o7": {"o7", "Grace Hopper", "US", 1510},
	}
	if !maps.Equal(res.Enriched, want) {
		t.Errorf("enriched = %v\nwant %v", res.Enriched, want)
	}
	wantTotals := map[string]int64{"GB": 3550, "US": 2500, "NL": 4500, "?": 700}
	if !maps.Equal(res.Totals, wantTotals) {
		t.Errorf("totals = %v, want %v", res.Totals, wantTotals)
	}
	var out strings.Builder
	res.print(&out)
	for _, line := range []string{"  o6  ?                ?      7.00\n", "  GB    35.50\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

func TestTopologyDescribesOneRepartitionPerKeyChange(t *testing.T) {
	top, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	d := top.Describe()
	if !strings.Contains(d, "Repartition topics: [by-customer-repartition, by-country-repartition]") {
		t.Errorf("Describe:\n%s", d)
	}
}
