package streams_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// Word count, run in memory by the test driver.
func Example() {
	b := streams.NewBuilder()
	lines := streams.From(b, "text", streams.Consumed[string, string]{})
	words := streams.FlatMapValues(lines, func(_, line string) []string {
		return strings.Fields(strings.ToLower(line))
	})
	counts := streams.GroupBy(words, func(_, w string) string { return w },
		streams.Grouped[string, string]{Name: "words"}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	counts.ToStream().To("word-counts", streams.Produced[string, int64]{})
	topology, err := b.Build()
	if err != nil {
		panic(err)
	}

	d, err := streamstest.New(topology, streamstest.Config{})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := streamstest.NewInputTopic[string, string](d, "text", nil, nil, time.Unix(0, 0), time.Second)
	out := streamstest.NewOutputTopic[string, int64](d, "word-counts", nil, nil)
	in.Pipe("", "to be or")
	in.Pipe("", "not to be")
	kvs, _ := out.ReadKeyValues()
	for _, kv := range kvs {
		fmt.Println(kv.Key, kv.Value)
	}
	store, _ := streamstest.KeyValueStore[string, int64](d, "counts")
	n, _, _ := store.Get("be")
	fmt.Println("store: be =", n)
	// Output:
	// to 1
	// be 1
	// or 1
	// not 1
	// to 2
	// be 2
	// store: be = 2
}
