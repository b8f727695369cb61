package streams_test

import (
	"fmt"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// Clicks per user and minute of event time, with 10 seconds of grace for
// records that arrive out of order, emitting only each minute's final
// count.
func Example_windowedCount() {
	b := streams.NewBuilder()
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	perMinute := streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}),
		streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}).
		Count(streams.Materialized[string, int64]{Name: "clicks-per-minute"})
	perMinute.Suppress(streams.UntilWindowCloses(streams.BufferConfig{})).
		ToStream().To("clicks-per-minute", streams.Produced[streams.Windowed[string], int64]{})
	topology, err := b.Build()
	if err != nil {
		panic(err)
	}

	d, err := streamstest.New(topology, streamstest.Config{})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := streamstest.NewInputTopic[string, string](d, "clicks", nil, nil, time.Unix(0, 0), 0)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		user string
		at   time.Duration
	}{
		{"ann", 5 * time.Second}, {"bob", 20 * time.Second}, {"ann", 50 * time.Second},
		{"ann", 65 * time.Second},
		{"bob", 55 * time.Second}, // out of order, within the grace period
		{"ann", 75 * time.Second}, // stream time 12:01:15 closes 12:00-12:01
		{"bob", 30 * time.Second}, // too late: dropped
	} {
		in.PipeAt(c.user, "click", t0.Add(c.at))
	}
	out := streamstest.NewOutputTopic[streams.Windowed[string], int64](d, "clicks-per-minute", streams.TimeWindowedSerde[string](nil, time.Minute), nil)
	recs, _ := out.ReadKeyValues()
	for _, r := range recs {
		fmt.Printf("%s %s-%s %d\n", r.Key.Key, r.Key.Start.UTC().Format("15:04"), r.Key.End.UTC().Format("15:04"), r.Value)
	}
	fmt.Println("late:", d.LateRecordsDropped())
	// Output:
	// ann 12:00-12:01 2
	// bob 12:00-12:01 2
	// late: 1
}
