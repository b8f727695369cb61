package connectors_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
)

// memSink is a test sink keeping what it was given; failPuts makes the
// first n Puts fail retriably.
type memSink struct {
	mu       sync.Mutex
	values   []any
	failPuts int
	puts     int
}

var mem = &memSink{}

func (m *memSink) got() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]any(nil), m.values...)
}

type memTask struct{}

func (memTask) Start(context.Context, connectors.Config, *connectors.TaskContext) error { return nil }
func (memTask) Put(ctx context.Context, rs []connectors.Record) error {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mem.puts++
	if mem.puts <= mem.failPuts {
		return connectors.Retriable(errors.New("database busy"))
	}
	for _, r := range rs {
		mem.values = append(mem.values, r.Value)
	}
	return nil
}
func (memTask) Flush(context.Context) error { return nil }
func (memTask) Stop() error                 { return nil }

type oneTaskConnector struct{}

func (oneTaskConnector) Start(context.Context, connectors.Config) error { return nil }
func (oneTaskConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}
func (oneTaskConnector) Stop() error { return nil }

func memPlugins() *connectors.Plugins {
	ps := connectors.NewPlugins()
	ps.Add(&connectors.Plugin{Class: "test.MemSink", Type: connectors.TypeSink, Config: connectors.NewConfigDef(),
		NewConnector: func() connectors.Connector { return oneTaskConnector{} },
		NewSinkTask:  func() connectors.SinkTask { return memTask{} }})
	return ps
}

func produce(t *testing.T, addr, topic string, values ...string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, v := range values {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
}

// consumeAll reads n records of topic from the start.
func consumeAll(t *testing.T, addr, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("%s: got %d records, want %d", topic, len(out), n)
		}
	}
	return out
}

func TestErrorHandling(t *testing.T) {
	addr := startBroker(t)
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) { c.Plugins = memPlugins() })
	produce(t, addr, "in", `{"n":1}`, `not json`, `{"n":3}`)

	// errors.tolerance=none: the bad record fails the task, and its status says why.
	if _, _, err := w.CreateConnector("strict", map[string]string{
		"connector.class": "test.MemSink", "topics": "in", "value.converter": "json",
		"value.converter.schemas.enable": "false"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "FAILED task", func() bool {
		st, _ := w.TaskStatus("strict", 0)
		return st.State == connectors.StateFailed
	})
	st, _ := w.TaskStatus("strict", 0)
	if !strings.Contains(st.Trace, "Tolerance exceeded") || !strings.Contains(st.Trace, "VALUE_CONVERTER") {
		t.Fatalf("trace = %q", st.Trace)
	}
	if err := w.DeleteConnector("strict"); err != nil {
		t.Fatal(err)
	}

	// errors.tolerance=all with a dead-letter topic: the bad record goes
	// there with the failure in headers; retriable Put failures are retried.
	mem.mu.Lock()
	mem.values, mem.failPuts, mem.puts = nil, 2, 0
	mem.mu.Unlock()
	if _, _, err := w.CreateConnector("tolerant", map[string]string{
		"connector.class": "test.MemSink", "topics": "in", "value.converter": "json",
		"value.converter.schemas.enable":                "false",
		"errors.tolerance":                              "all",
		"errors.retry.timeout":                          "10000",
		"errors.retry.delay.max.ms":                     "50",
		"errors.deadletterqueue.topic.name":             "dlq",
		"errors.deadletterqueue.context.headers.enable": "true"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "two good records", func() bool { return len(mem.got()) == 2 })
	dead := consumeAll(t, addr, "dlq", 1)[0]
	if string(dead.Value) != "not json" {
		t.Fatalf("dead letter value = %q", dead.Value)
	}
	headers := map[string]string{}
	for _, h := range dead.Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	if headers[connectors.HeaderErrTopic] != "in" || headers[connectors.HeaderErrOffset] != "1" ||
		headers[connectors.HeaderErrStage] != "VALUE_CONVERTER" || headers[connectors.HeaderErrExcMessage] == "" ||
		headers[connectors.HeaderErrConnector] != "tolerant" {
		t.Fatalf("dead letter headers = %v", headers)
	}
	if st, _ := w.TaskStatus("tolerant", 0); st.State != connectors.StateRunning {
		t.Fatalf("tolerant task = %+v", st)
	}
}
