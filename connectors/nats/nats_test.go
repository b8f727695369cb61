package nats_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eddy-streams/eddy/connectors"
	"github.com/eddy-streams/eddy/connectors/connectorstest"
	"github.com/eddy-streams/eddy/connectors/nats"
)

const natsURL = "nats://127.0.0.1:4222"

// natsConn connects to the local NATS server or skips the test; base is a
// subject prefix (and stream name part) of the test's own.
func natsConn(t *testing.T) (*natsgo.Conn, jetstream.JetStream, string) {
	t.Helper()
	nc, err := natsgo.Connect(natsURL, natsgo.Timeout(3*time.Second))
	if err != nil {
		t.Skipf("NATS is not reachable at %s (%v); start it with `nats-server -js`", natsURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, fmt.Sprintf("eddytest%d", time.Now().UnixNano())
}

// stream creates a JetStream stream for subjects (default base.>), or
// skips when JetStream is off, and deletes it at the end.
func stream(t *testing.T, js jetstream.JetStream, base string, subjects ...string) string {
	t.Helper()
	ctx := context.Background()
	name := strings.ToUpper(base)
	if len(subjects) == 0 {
		subjects = []string{base + ".>"}
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects}); err != nil {
		if strings.Contains(err.Error(), "not enabled") || strings.Contains(err.Error(), "no responders") {
			t.Skipf("JetStream is not enabled on %s (%v); start the server with `nats-server -js`", natsURL, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return name
}

func reader(t *testing.T, addr, topic string) func(n int) []string {
	r := connectorstest.ReadTopic(t, addr, topic)
	return func(n int) []string {
		t.Helper()
		var out []string
		for _, m := range r.Next(t, n) {
			s := string(m.Key) + "=" + string(m.Value)
			if subj, ok := connectorstest.Header(m, "nats.subject"); ok && subj != string(m.Key) {
				t.Errorf("record %s: nats.subject header %q", s, subj)
			}
			out = append(out, s)
		}
		return out
	}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("records %v, want %v", got, want)
	}
}

func publish(t *testing.T, js jetstream.JetStream, subject, data string) {
	t.Helper()
	if _, err := js.Publish(context.Background(), subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// A JetStream stream's messages arrive in order; the durable consumer is
// acknowledged up to the committed offset; after a restart the messages
// published meanwhile arrive, and nothing twice.
func TestJetStreamSourceAcrossRestart(t *testing.T) {
	_, js, base := natsConn(t)
	name := stream(t, js, base)
	publish(t, js, base+".a", "one")
	publish(t, js, base+".b", "two")
	publish(t, js, base+".c", "not selected")
	publish(t, js, base+".a", "three")
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	topic := base + "-in"
	if _, _, err := w.CreateConnector("nats-in", map[string]string{"connector.class": "NatsSource", "nats.url": natsURL,
		"nats.subjects": base + ".a," + base + ".b", "kafka.topic": topic, "nats.stream": name}, false); err != nil {
		t.Fatal(err)
	}
	next := reader(t, addr, topic)
	expect(t, next(3), base+".a=one", base+".b=two", base+".a=three")
	cons, err := js.Consumer(context.Background(), name, "eddy-nats-in")
	if err != nil {
		t.Fatal(err)
	}
	connectorstest.WaitFor(t, 20*time.Second, "acknowledgements up to the committed sequence 4", func() bool {
		offs, err := w.Offsets("nats-in")
		info, ierr := cons.Info(context.Background())
		return err == nil && ierr == nil && len(offs) == 1 && offs[0].Offset["seq"] == int64(4) &&
			info.AckFloor.Stream == 4 && info.NumAckPending == 0
	})

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	publish(t, js, base+".b", "while down")
	connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	expect(t, next(1), base+".b=while down")
	publish(t, js, base+".a", "after") // a marker: nothing came twice before it
	expect(t, next(1), base+".a=after")
}

type taskOffsets struct {
	mu  sync.Mutex
	off map[string]any
}

func (o *taskOffsets) get(map[string]any) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.off
}

// Messages are acknowledged only once their offsets are committed.
func TestJetStreamAcksFollowCommittedOffsets(t *testing.T) {
	_, js, base := natsConn(t)
	name := stream(t, js, base)
	for i := range 3 {
		publish(t, js, base+".x", fmt.Sprint(i))
	}
	cfg, err := nats.SourceConfig.Parse(map[string]string{"nats.url": natsURL, "nats.subjects": base + ".>",
		"kafka.topic": "t", "nats.stream": name})
	if err != nil {
		t.Fatal(err)
	}
	offs := &taskOffsets{}
	task := &nats.SourceTask{}
	if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("acks", 0, offs.get)); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	var recs []connectors.SourceRecord
	connectorstest.WaitFor(t, 20*time.Second, "3 records", func() bool {
		r, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
		return len(recs) >= 3
	})
	cons, err := js.Consumer(context.Background(), name, "eddy-acks")
	if err != nil {
		t.Fatal(err)
	}
	task.Poll(context.Background())
	if err := task.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil || info.AckFloor.Stream != 0 || info.NumAckPending != 3 {
		t.Fatalf("nothing committed, yet ack floor %d with %d pending (%v)", info.AckFloor.Stream, info.NumAckPending, err)
	}
	offs.mu.Lock()
	offs.off = recs[1].SourceOffset // the second record is committed
	offs.mu.Unlock()
	if err := task.Commit(context.Background()); err != nil { // as the worker does after writing the offset
		t.Fatal(err)
	}
	connectorstest.WaitFor(t, 10*time.Second, "ack floor 2", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.AckFloor.Stream == 2 && info.NumAckPending == 1
	})
}

// A durable consumer that is gone is created again after the stored offset.
func TestJetStreamConsumerRecreatedAtOffset(t *testing.T) {
	_, js, base := natsConn(t)
	name := stream(t, js, base)
	for i := 1; i <= 3; i++ {
		publish(t, js, base+".x", fmt.Sprint(i))
	}
	cfg, err := nats.SourceConfig.Parse(map[string]string{"nats.url": natsURL, "nats.subjects": base + ".x",
		"kafka.topic": "t", "nats.stream": name, "nats.durable": "gone"})
	if err != nil {
		t.Fatal(err)
	}
	offs := &taskOffsets{off: map[string]any{"seq": int64(2)}}
	task := &nats.SourceTask{}
	if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("again", 0, offs.get)); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	var recs []connectors.SourceRecord
	connectorstest.WaitFor(t, 20*time.Second, "a record", func() bool {
		r, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
		return len(recs) > 0
	})
	if string(recs[0].Value.([]byte)) != "3" || recs[0].SourceOffset["seq"] != int64(3) {
		t.Fatalf("first record after offset 2: %v %v", recs[0].Value, recs[0].SourceOffset)
	}
}

// Core NATS subjects: messages published while the task runs arrive.
func TestCoreSource(t *testing.T) {
	nc, _, base := natsConn(t)
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	topic := base + "-core"
	if _, _, err := w.CreateConnector("core-in", map[string]string{"connector.class": "NatsSource", "nats.url": natsURL,
		"nats.subjects": base + ".*", "kafka.topic": topic}, false); err != nil {
		t.Fatal(err)
	}
	connectorstest.WaitRunning(t, w, "core-in")
	for _, s := range []string{"x=1", "y=2", "x=3"} {
		k, v, _ := strings.Cut(s, "=")
		if err := nc.Publish(base+"."+k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	expect(t, reader(t, addr, topic)(3), base+".x=1", base+".y=2", base+".x=3")
}

// The sink publishes to core NATS, to the configured subject or the one a
// record's header names, and to JetStream, with message ids from the
// records' Kafka coordinates.
func TestSink(t *testing.T) {
	nc, js, base := natsConn(t)
	name := stream(t, js, base, base+".js")
	sub, err := nc.SubscribeSync(base + ".core.>")
	if err != nil {
		t.Fatal(err)
	}
	other, err := nc.SubscribeSync(base + ".other")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	core, jsTopic := base+"-core", base+"-js"
	for cname, props := range map[string]map[string]string{
		"core-out": {"topics": core, "nats.subject": base + ".core.${topic}"},
		"js-out":   {"topics": jsTopic, "nats.subject": base + ".js", "nats.jetstream.enabled": "true"},
	} {
		props["connector.class"], props["nats.url"] = "NatsSink", natsURL
		if _, _, err := w.CreateConnector(cname, props, false); err != nil {
			t.Fatal(err)
		}
	}
	p, err := sarama.NewSyncProducer([]string{addr}, connectorstest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range []*sarama.ProducerMessage{
		{Topic: core, Value: sarama.StringEncoder("hello")},
		{Topic: core, Value: sarama.StringEncoder("routed"), Headers: []sarama.RecordHeader{
			{Key: []byte("nats.subject"), Value: []byte(base + ".other")}, {Key: []byte("trace"), Value: []byte("t1")}}},
		{Topic: jsTopic, Value: sarama.StringEncoder("a")},
		{Topic: jsTopic, Value: sarama.StringEncoder("b")},
	} {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil || m.Subject != base+".core."+core || string(m.Data) != "hello" {
		t.Fatalf("on %s.core.>: %v, %v", base, m, err)
	}
	m, err = other.NextMsg(20 * time.Second)
	if err != nil || string(m.Data) != "routed" || m.Header.Get("trace") != "t1" {
		t.Fatalf("on %s.other: %v, %v", base, m, err)
	}
	connectorstest.WaitFor(t, 20*time.Second, "2 messages in the stream", func() bool {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 2
	})
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]string{1: "a", 2: "b"} {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil || string(m.Data) != want || m.Header.Get(natsgo.MsgIdHdr) != fmt.Sprintf("%s-0-%d", jsTopic, seq-1) {
			t.Fatalf("stored message %d: %+v, %v", seq, m, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := nats.SourceConfig.Parse(map[string]string{"nats.subjects": "a.>.b", "nats.deliver.policy": "last"})
	for _, want := range []string{"nats.subjects", `"kafka.topic"`, "nats.deliver.policy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("source config error does not mention %s: %v", want, err)
		}
	}
	_, err = nats.SinkConfig.Parse(map[string]string{"nats.subject": "orders.*"})
	if err == nil || !strings.Contains(err.Error(), "nats.subject") {
		t.Errorf("sink config error: %v", err)
	}
}
