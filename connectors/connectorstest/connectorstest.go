// Package connectorstest holds what the tests of connector packages share:
// an embedded broker on a free loopback port, a connector worker on it,
// waiting for a connector's tasks to run, and reading a topic from its
// start. It is for tests; nothing else imports it.
package connectorstest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// StartBroker starts an embedded broker in a temporary directory, closed
// when the test ends, and returns its address.
func StartBroker(t testing.TB) string {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// StartWorker starts a standalone worker on the broker at addr, closed when
// the test ends: one offsets partition, offsets flushed every 100ms, no
// logs; mutate adjusts the configuration first.
func StartWorker(t testing.TB, addr string, mutate ...func(*connectors.WorkerConfig)) *connectors.Worker {
	t.Helper()
	cfg := connectors.WorkerConfig{Brokers: []string{addr}, OffsetsPartitions: 1,
		OffsetFlushInterval: 100 * time.Millisecond, Logger: Quiet}
	for _, m := range mutate {
		m(&cfg)
	}
	w, err := connectors.NewWorker(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// WaitFor checks cond every 20ms until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// WaitRunning waits until the connector has tasks and all of them run.
func WaitRunning(t testing.TB, w *connectors.Worker, name string) {
	t.Helper()
	WaitFor(t, 20*time.Second, name+" running", func() bool {
		st, err := w.Status(name)
		if err != nil || len(st.Tasks) == 0 {
			return false
		}
		for _, ts := range st.Tasks {
			if ts.State != connectors.StateRunning {
				return false
			}
		}
		return true
	})
}

// SaramaConfig is a client configuration for the tests' producers and
// consumers (Kafka 2.8 protocol, acks=all, producer successes returned).
func SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	return cfg
}

// StringConverters makes a worker's key and value converters plain strings.
func StringConverters(c *connectors.WorkerConfig) {
	c.KeyConverter, c.ValueConverter = connectors.StringConverterClass, connectors.StringConverterClass
}

// SchemalessJSON makes a worker's JSON converters leave out schemas.
func SchemalessJSON(c *connectors.WorkerConfig) {
	noSchemas := map[string]string{"schemas.enable": "false"}
	c.KeyConverterProps, c.ValueConverterProps = noSchemas, noSchemas
}

// TopicReader reads partition 0 of a topic from its start.
type TopicReader struct {
	pc sarama.PartitionConsumer
}

// ReadTopic starts reading partition 0 of topic from its oldest offset,
// waiting up to 20s for the topic to exist; the reader is closed when the
// test ends.
func ReadTopic(t testing.TB, addr, topic string) *TopicReader {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var pc sarama.PartitionConsumer
	WaitFor(t, 20*time.Second, "topic "+topic, func() bool {
		pc, err = c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		return err == nil
	})
	t.Cleanup(func() { pc.Close() })
	return &TopicReader{pc: pc}
}

// Next returns the next n records, failing the test if they do not all
// come within 20s.
func (r *TopicReader) Next(t testing.TB, n int) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case m := <-r.pc.Messages():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("got %d of %d records", len(out), n)
		}
	}
	return out
}

// Header returns the value of the record's first header named key.
func Header(m *sarama.ConsumerMessage, key string) (string, bool) {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value), true
		}
	}
	return "", false
}
