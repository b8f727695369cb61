package streams_test

import (
	"fmt"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// Page views enriched with the page's section from a global table of
// pages, looked up by the URL inside the view (the views are keyed by
// user, so a regular table join would need a repartition), and the number
// of pages per section, kept by re-grouping the pages table.
func Example_globalTableAndTableGroupBy() {
	b := streams.NewBuilder()
	pages := streams.GlobalTableFrom(b, "pages", streams.Consumed[string, string]{}, streams.Materialized[string, string]{Name: "pages"})
	views := streams.From(b, "views", streams.Consumed[string, string]{})
	streams.LeftJoinGlobal(views, pages, func(_, url string) string { return url },
		func(url, section string, found bool) string {
			if !found {
				section = "unknown"
			}
			return url + " in " + section
		}).To("sections-viewed", streams.Produced[string, string]{})

	sections := streams.TableFrom(b, "page-sections", streams.Consumed[string, string]{}, streams.Materialized[string, string]{Name: "page-sections"})
	streams.GroupTableBy(sections, func(url, section string) (string, string) { return section, url }, streams.Grouped[string, string]{Name: "by-section"}).
		Count(streams.Materialized[string, int64]{Name: "pages-per-section"}).
		ToStream().To("pages-per-section", streams.Produced[string, int64]{})
	topology, err := b.Build()
	if err != nil {
		panic(err)
	}

	d, err := streamstest.New(topology, streamstest.Config{})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	t0 := time.Unix(0, 0)
	pageTable := streamstest.NewInputTopic[string, string](d, "pages", nil, nil, t0, 0)
	pageTable.Pipe("/home", "front")
	pageTable.Pipe("/go", "docs")
	viewStream := streamstest.NewInputTopic[string, string](d, "views", nil, nil, t0, 0)
	viewStream.Pipe("ann", "/go")
	viewStream.Pipe("bob", "/blog")
	viewed, _ := streamstest.NewOutputTopic[string, string](d, "sections-viewed", nil, nil).ReadKeyValues()
	for _, kv := range viewed {
		fmt.Println(kv.Key, "viewed", kv.Value)
	}

	sectionTable := streamstest.NewInputTopic[string, string](d, "page-sections", nil, nil, t0, 0)
	sectionTable.Pipe("/home", "front")
	sectionTable.Pipe("/go", "docs")
	sectionTable.Pipe("/api", "docs")
	sectionTable.Pipe("/go", "blog") // moves: docs loses it, blog gains it
	counts, _ := streamstest.ReadToMap(streamstest.NewOutputTopic[string, int64](d, "pages-per-section", nil, nil), map[string]int64{})
	fmt.Println(counts)
	// Output:
	// ann viewed /go in docs
	// bob viewed /blog in unknown
	// map[blog:1 docs:1 front:1]
}
