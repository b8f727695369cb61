// Command wordcount counts words with Eddy's streams DSL on an embedded
// broker: no Kafka to install, nothing left behind.
//
//	go run ./examples/wordcount                      # a built-in text
//	go run ./examples/wordcount -file README.md -top 20
//	echo "to be or not to be" | go run ./examples/wordcount -file -
//
// It starts a broker in a temporary directory, writes the text line by
// line to the "text" topic with a Kafka client (franz-go), runs the
// word-count topology until every word is counted, prints the largest
// counts and stops. See README.md beside this file.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

const sample = `The quick brown fox jumps over the lazy dog
The dog barks and the fox runs
A lazy afternoon for the dog`

func main() {
	file := flag.String("file", "", "text file to count (- for standard input; default: a built-in sample)")
	top := flag.Int("top", 10, "how many words to print")
	flag.Parse()
	text := sample
	if *file != "" {
		var b []byte
		var err error
		if *file == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*file)
		}
		if err != nil {
			log.Fatal(err)
		}
		text = string(b)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	counts, err := run(ctx, text)
	if err != nil {
		log.Fatal(err)
	}
	printTop(os.Stdout, counts, *top)
}

// Topology reads lines from "text", splits them into lower-case words,
// counts each word and writes every new count to "word-counts".
func Topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	lines := streams.From(b, "text", streams.Consumed[string, string]{})
	words := streams.FlatMapValues(lines, func(_, line string) []string {
		return strings.Fields(strings.ToLower(line))
	})
	// Grouping by the word changes the key: the stream goes through a
	// repartition topic, so that each word is counted in one place.
	counts := streams.GroupBy(words, func(_, w string) string { return w },
		streams.Grouped[string, string]{Name: "words"}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	counts.ToStream().To("word-counts", streams.Produced[string, int64]{})
	return b.Build()
}

// run counts the words of text on an embedded broker and returns the
// final count of every word.
func run(ctx context.Context, text string) (map[string]int64, error) {
	dir, err := os.MkdirTemp("", "eddy-wordcount-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. The broker, embedded. Any Kafka client can use b.Addr().
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer b.Close()

	// 2. The topics, and the input, written with an ordinary Kafka client.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()),
		kgo.ConsumeTopics("word-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "text", "word-counts"); err != nil {
		return nil, err
	}
	var total int64 // words in the text: the counts add up to it when done
	var recs []*kgo.Record
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		total += int64(len(strings.Fields(sc.Text())))
		recs = append(recs, &kgo.Record{Topic: "text", Value: []byte(sc.Text())})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}

	// 3. The streams app, until the counts add up.
	top, err := Topology()
	if err != nil {
		return nil, err
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: "wordcount", Brokers: []string{b.Addr()},
		StateDir: filepath.Join(dir, "state"), CommitInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		return nil, err
	}
	appCtx, stopApp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(appCtx) }()

	counts := map[string]int64{}
	var sum int64
	for sum < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			stopApp()
			<-done
			return nil, err
		}
		if err := fs.Err0(); err != nil {
			stopApp()
			<-done
			return nil, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, err := state.Long{}.Decode(r.Value) // the serde the topology wrote with
			if err != nil {
				return
			}
			word := string(r.Key)
			sum += n - counts[word]
			counts[word] = n
		})
	}
	stopApp()
	if err := <-done; err != nil {
		return nil, err
	}
	return counts, nil
}

func printTop(w io.Writer, counts map[string]int64, n int) {
	words := make([]string, 0, len(counts))
	for word := range counts {
		words = append(words, word)
	}
	sort.Slice(words, func(i, j int) bool {
		a, b := counts[words[i]], counts[words[j]]
		return a > b || a == b && words[i] < words[j]
	})
	for _, word := range words[:min(n, len(words))] {
		fmt.Fprintf(w, "%6d %s\n", counts[word], word)
	}
}
