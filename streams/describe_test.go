package streams_test

import (
	"encoding/json"
	"testing"

	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

func TestDescribeWordCount(t *testing.T) {
	got := testapps.WordCount().Describe()
	want := `Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [text])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> words-repartition-sink
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Sink: words-repartition-sink (topic: words-repartition)
      <-- KSTREAM-KEY-SELECT-0000000002

   Sub-topology: 1
    Source: words-repartition-source (topics: [words-repartition])
      --> KSTREAM-COUNT-0000000003
    Processor: KSTREAM-COUNT-0000000003 (stores: [counts])
      --> KTABLE-TOSTREAM-0000000004
      <-- words-repartition-source
    Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-COUNT-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000004

Repartition topics: [words-repartition]
Changelog topics: [counts-changelog]
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribeEnrichment(t *testing.T) {
	top := testapps.Enrichment()
	subs := top.SubTopologies()
	if len(subs) != 3 {
		t.Fatalf("%d sub-topologies:\n%s", len(subs), top.Describe())
	}
	// The join runs where the customers table is: sub-topology 0 reads
	// customers and the re-keyed orders.
	if got := subs[0].SourceTopics(); len(got) != 2 || got[0] != "customers" {
		t.Fatalf("sub-topology 0 reads %v:\n%s", got, top.Describe())
	}
	t.Log("\n" + top.Describe())
}

func TestDescriptionWordCount(t *testing.T) {
	got, err := json.Marshal(testapps.WordCount().Description())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"subtopologies":[` +
		`{"id":0,"nodes":[` +
		`{"name":"KSTREAM-SOURCE-0000000000","type":"source","topics":["text"],"stores":[],"successors":["KSTREAM-FLATMAPVALUES-0000000001"]},` +
		`{"name":"KSTREAM-FLATMAPVALUES-0000000001","type":"processor","topics":[],"stores":[],"successors":["KSTREAM-KEY-SELECT-0000000002"]},` +
		`{"name":"KSTREAM-KEY-SELECT-0000000002","type":"processor","topics":[],"stores":[],"successors":["words-repartition-sink"]},` +
		`{"name":"words-repartition-sink","type":"sink","topics":["words-repartition"],"stores":[],"successors":[]}]},` +
		`{"id":1,"nodes":[` +
		`{"name":"words-repartition-source","type":"source","topics":["words-repartition"],"stores":[],"successors":["KSTREAM-COUNT-0000000003"]},` +
		`{"name":"KSTREAM-COUNT-0000000003","type":"processor","topics":[],"stores":["counts"],"successors":["KTABLE-TOSTREAM-0000000004"]},` +
		`{"name":"KTABLE-TOSTREAM-0000000004","type":"processor","topics":[],"stores":[],"successors":["KSTREAM-SINK-0000000005"]},` +
		`{"name":"KSTREAM-SINK-0000000005","type":"sink","topics":["word-counts"],"stores":[],"successors":[]}]}]}`
	if string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
