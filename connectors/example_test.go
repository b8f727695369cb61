package connectors_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/file" // registers FileStreamSource and FileStreamSink
)

// Copy a file through a topic with Kafka's quickstart connectors, on an
// embedded broker.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eddy-connect-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{b.Addr()}, OffsetFlushInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	in, out := filepath.Join(dir, "test.txt"), filepath.Join(dir, "test.sink.txt")
	os.WriteFile(in, []byte("foo\nbar\n"), 0o644)
	w.CreateConnector("local-file-source", map[string]string{
		"connector.class": "FileStreamSource", "file": in, "topic": "connect-test"}, false)
	w.CreateConnector("local-file-sink", map[string]string{
		"connector.class": "FileStreamSink", "file": out, "topics": "connect-test"}, false)

	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") == 2 {
			fmt.Print(string(b))
			break
		}
	}
	// Output:
	// foo
	// bar
}

// Kafka Connect worker properties for a secured cluster become a
// WorkerConfig; its Security is used for every client the worker makes.
func ExampleWorkerConfigFromProperties() {
	cfg, rest, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
		"bootstrap.servers":       "kafka-1:9093,kafka-2:9093",
		"group.id":                "connect-cluster",
		"listeners":               "http://0.0.0.0:8083",
		"security.protocol":       "SASL_SSL",
		"sasl.mechanism":          "SCRAM-SHA-512",
		"sasl.jaas.config":        `org.apache.kafka.common.security.scram.ScramLoginModule required username="connect" password="secret";`,
		"ssl.truststore.location": "/etc/eddy/ca.pem",
		"plugin.path":             "/usr/share/java",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Brokers, cfg.GroupID, rest)
	fmt.Println(cfg.Security.Protocol, cfg.Security.Mechanism, cfg.Security.User, cfg.Security.CAFile)
	fmt.Println("ignored:", ignored)
	// Output:
	// [kafka-1:9093 kafka-2:9093] connect-cluster 0.0.0.0:8083
	// SASL_SSL SCRAM-SHA-512 connect /etc/eddy/ca.pem
	// ignored: [plugin.path]
}
