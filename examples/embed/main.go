// Command embed is the smallest complete Eddy program: a broker embedded
// in the program and a streams topology running on it. README.md (at the
// top of the repository) shows its run function; a test keeps the two the
// same.
//
//	go run ./examples/embed                 # broker on 127.0.0.1:9092, data in ./eddy-data
//	kcat -b 127.0.0.1:9092 -P -t text       # type some lines, then Ctrl-D
//	kcat -b 127.0.0.1:9092 -C -t word-counts -f '%k %s\n'
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/streams"
)

func main() {
	dataDir := flag.String("data-dir", "eddy-data", "the broker's and the app's data directory")
	listen := flag.String("listen", "127.0.0.1:9092", "the broker's Kafka address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dataDir, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dataDir, listen string) error {
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dataDir, "broker"), Listen: listen})
	if err != nil {
		return err
	}
	defer b.Close() // any Kafka client can use b.Addr() meanwhile

	// Lines written to "text" are split into words and counted; every new
	// count goes to "word-counts", as text.
	sb := streams.NewBuilder()
	lines := streams.From(sb, "text", streams.Consumed[string, string]{})
	words := streams.FlatMapValues(lines, func(_, line string) []string { return strings.Fields(line) })
	counts := streams.GroupBy(words, func(_, word string) string { return word }, streams.Grouped[string, string]{Name: "words"}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	text := streams.MapValues(counts.ToStream(), func(_ string, n int64) string { return strconv.FormatInt(n, 10) })
	text.To("word-counts", streams.Produced[string, string]{})
	topology, err := sb.Build()
	if err != nil {
		return err
	}
	app, err := streams.NewApp(topology, streams.Config{ApplicationID: "wordcount", Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dataDir, "streams")})
	if err != nil {
		return err
	}
	return app.Run(ctx) // until ctx is cancelled
}
