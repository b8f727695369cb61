package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/console"
)

// A console for a cluster, here an embedded broker, served over HTTP. The
// pages are at the server's root; this example reads the JSON API they use.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "console-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	// Some records to look at.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	for _, v := range []string{"one", "two", "three"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "greetings", Value: []byte(v)}).FirstErr(); err != nil {
			log.Fatal(err)
		}
	}

	c, err := console.New(console.Config{
		Brokers: []string{b.Addr()},
		// ConnectURL: "http://127.0.0.1:8083", for the connectors page
		Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c) // or http.ListenAndServe("127.0.0.1:8080", c)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/topics/greetings/records?from=end&limit=2")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []struct {
			Offset int64
			Value  struct{ Text string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Offset, r.Value.Text)
	}
	// Output:
	// 1 two
	// 2 three
}
