package broker_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
)

// Start an embedded broker and talk to it with an ordinary Kafka client.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eddy-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b, err := broker.Start(ctx, broker.Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0", // any free port; b.Addr() says which
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("greetings"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	// acks=all (franz-go's default): acknowledged only once fsynced.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "greetings", Value: []byte("hello, eddy")}).FirstErr(); err != nil {
		log.Fatal(err)
	}
	fetches := cl.PollFetches(ctx)
	fetches.EachRecord(func(r *kgo.Record) {
		fmt.Printf("%s[%d]@%d: %s\n", r.Topic, r.Partition, r.Offset, r.Value)
	})
	// Output: greetings[0]@0: hello, eddy
}
