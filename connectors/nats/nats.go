// Package nats provides NATS source and sink connectors, for core NATS
// subjects and for JetStream streams (through github.com/nats-io/nats.go).
// NATS has no Kafka Connect connector with widely used setting names, so
// these follow Kafka Connect's habits (kafka.topic, topics) and NATS's
// terms.
//
// The source writes messages to a Kafka topic:
//
//	connector.class=NatsSource
//	nats.url=nats://127.0.0.1:4222          servers, comma-separated; user:password@ or a token in the URL authenticates
//	nats.subjects=orders.>,payments.*       the subjects (wildcards allowed)
//	kafka.topic=orders                      required
//	nats.stream=                            a JetStream stream: read it with a durable consumer; empty: core NATS
//	nats.durable=                           the durable consumer's name; default eddy-<connector>
//	nats.deliver.policy=all                 all | new: where a new durable consumer starts
//	nats.ack.wait.ms=30000                  JetStream's ack wait for the consumer
//	nats.batch.size=256                     the most messages one poll returns
//	nats.queue.group=                       core NATS: a queue group, so that tasks share the messages
//
// A record's key is the message's subject (a string) and its value the
// payload (bytes; use the ByteArrayConverter or StringConverter to keep it
// as is); the message's NATS headers become record headers, with
// nats.subject added (and nats.stream.sequence for JetStream).
//
// With nats.stream the source reads through a durable pull consumer
// (explicit acks, filtered to nats.subjects: by the server for one
// subject, by the task for several, as servers before 2.10 take one; an
// existing durable consumer is used as it is). The source partition is
// {"stream", "consumer"} and the offset {"seq": stream sequence}. A
// message is acknowledged to JetStream only once the worker has committed
// the offset of its record (in the task's Commit, which the worker calls
// after each offset flush; messages waiting for that are kept from
// redelivery with in-progress acks on every poll), so the consumer's
// position never passes what Kafka Connect has committed: after a crash,
// unacknowledged messages are delivered again (at least once); after a
// clean stop, the task asks for them again at once (a negative ack). When
// the durable consumer does not exist but an offset is stored, it is
// created to start after that offset. The JetStream source runs one task.
//
// Without nats.stream the source subscribes to core NATS subjects, which
// keep nothing: messages published while no task runs are not seen (at
// most once), and there are no offsets. It runs tasks.max tasks; give them
// a nats.queue.group, or each gets every message.
//
// The sink publishes each record's value:
//
//	connector.class=NatsSink
//	topics=orders
//	nats.url=nats://127.0.0.1:4222
//	nats.subject=${topic}                   the subject; ${topic} is replaced by the record's Kafka topic
//	nats.jetstream.enabled=false            true: publish to JetStream and wait for each stream's acknowledgement
//
// A record's nats.subject header, when present, names its subject instead.
// Its other headers become NATS headers. Strings and bytes are published
// as they are, other values as JSON, a null value as an empty message.
// With JetStream, each message carries Nats-Msg-Id
// <topic>-<partition>-<offset>, so a record delivered twice within the
// stream's duplicate window is stored once; Put returns once every
// message is acknowledged by its stream. Without JetStream, Put returns
// once the server has received the messages (a flush). Failures to
// connect or publish are retriable.
//
// Importing the package registers both connectors.
package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eddy-streams/eddy/connectors"
)

// Classes of the two connectors.
const (
	SourceClass = "io.eddystreams.connect.nats.NatsSourceConnector"
	SinkClass   = "io.eddystreams.connect.nats.NatsSinkConnector"
)

func nonEmpty(what string) func(any) error {
	return func(v any) error {
		switch x := v.(type) {
		case string:
			if x != "" {
				return nil
			}
		case []string:
			if len(x) > 0 {
				return nil
			}
		}
		return errors.New(what)
	}
}

func validSubjects(v any) error {
	l, _ := v.([]string)
	if len(l) == 0 {
		return errors.New("at least one subject is needed")
	}
	for _, s := range l {
		if err := checkSubject(s, true); err != nil {
			return err
		}
	}
	return nil
}

// checkSubject applies NATS's rules for subjects and their wildcards.
func checkSubject(s string, wildcards bool) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("subject %q: subjects are non-empty and have no white space", s)
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case !wildcards && (tok == "*" || tok == ">"):
			return fmt.Errorf("subject %q: one cannot publish to a wildcard", s)
		case tok == ">" && i != len(tokens)-1:
			return fmt.Errorf("subject %q: > must be the last token", s)
		}
	}
	return nil
}

var urlKey = connectors.ConfigKey{Name: "nats.url", Type: connectors.String, Default: natsgo.DefaultURL, Importance: connectors.High,
	Validate: nonEmpty("a server URL is needed"),
	Doc:      "NATS servers, comma-separated: nats://[user:password@]host:port (or tls://)."}

// SourceConfig defines the source's settings.
var SourceConfig = connectors.NewConfigDef().
	Define(urlKey).
	Define(connectors.ConfigKey{Name: "nats.subjects", Type: connectors.List, Required: true, Importance: connectors.High,
		Validate: validSubjects, Doc: "The subjects to read (wildcards * and > allowed)."}).
	Define(connectors.ConfigKey{Name: "kafka.topic", Type: connectors.String, Required: true, Importance: connectors.High,
		Validate: nonEmpty("a topic is needed"), Doc: "The Kafka topic to write to."}).
	Define(connectors.ConfigKey{Name: "nats.stream", Type: connectors.String, Importance: connectors.High,
		Doc: "A JetStream stream to read with a durable consumer; empty: subscribe to core NATS."}).
	Define(connectors.ConfigKey{Name: "nats.durable", Type: connectors.String, Importance: connectors.Medium,
		Doc: "The durable consumer's name; default eddy-<connector>."}).
	Define(connectors.ConfigKey{Name: "nats.deliver.policy", Type: connectors.String, Default: "all", Importance: connectors.Medium,
		Validate: connectors.OneOf("all", "new"), Recommended: []string{"all", "new"},
		Doc: "Where a new durable consumer starts (when no offset is stored): all messages of the stream, or new ones."}).
	Define(connectors.ConfigKey{Name: "nats.ack.wait.ms", Type: connectors.Long, Default: "30000", Importance: connectors.Low,
		Validate: connectors.AtLeast(1000), Doc: "JetStream's ack wait for the consumer."}).
	Define(connectors.ConfigKey{Name: "nats.batch.size", Type: connectors.Int, Default: "256", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "The most messages one poll returns."}).
	Define(connectors.ConfigKey{Name: "nats.queue.group", Type: connectors.String, Importance: connectors.Low,
		Doc: "Core NATS: a queue group the tasks subscribe in, so that they share the messages."})

// SinkConfig defines the sink's settings.
var SinkConfig = connectors.NewConfigDef().
	Define(urlKey).
	Define(connectors.ConfigKey{Name: "nats.subject", Type: connectors.String, Default: "${topic}", Importance: connectors.High,
		Validate: func(v any) error {
			s, _ := v.(string)
			return checkSubject(strings.ReplaceAll(s, "${topic}", "t"), false)
		}, Doc: "The subject to publish to; ${topic} is replaced by the record's Kafka topic. A record's nats.subject header overrides it."}).
	Define(connectors.ConfigKey{Name: "nats.jetstream.enabled", Type: connectors.Boolean, Default: "false", Importance: connectors.Medium,
		Doc: "Publish through JetStream and wait for the streams' acknowledgements."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: SourceClass, Aliases: []string{"NatsSource"}, Type: connectors.TypeSource, Config: SourceConfig,
		NewConnector:  func() connectors.Connector { return &sourceConnector{} },
		NewSourceTask: func() connectors.SourceTask { return &SourceTask{} },
	})
	connectors.Register(&connectors.Plugin{
		Class: SinkClass, Aliases: []string{"NatsSink"}, Type: connectors.TypeSink, Config: SinkConfig,
		NewConnector: func() connectors.Connector { return &sinkConnector{} },
		NewSinkTask:  func() connectors.SinkTask { return &SinkTask{} },
	})
}

type sourceConnector struct{ jetStream bool }

func (c *sourceConnector) Start(_ context.Context, cfg connectors.Config) error {
	c.jetStream = cfg.String("nats.stream") != ""
	return nil
}

// TaskConfigs: one task reads a JetStream consumer (its acks follow one
// offset); core NATS subscriptions run tasks.max tasks.
func (c *sourceConnector) TaskConfigs(max int) ([]map[string]string, error) {
	if c.jetStream {
		max = 1
	}
	return tasks(max), nil
}

func (*sourceConnector) Stop() error { return nil }

type sinkConnector struct{}

func (*sinkConnector) Start(context.Context, connectors.Config) error { return nil }
func (*sinkConnector) TaskConfigs(max int) ([]map[string]string, error) {
	return tasks(max), nil
}
func (*sinkConnector) Stop() error { return nil }

func tasks(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out
}

func connect(cfg connectors.Config, tc *connectors.TaskContext) (*natsgo.Conn, error) {
	url := cfg.String("nats.url")
	nc, err := natsgo.Connect(url, natsgo.Name(fmt.Sprintf("eddy-%s-%d", tc.Connector, tc.Task)),
		natsgo.MaxReconnects(-1), natsgo.Timeout(10*time.Second))
	if err != nil {
		return nil, connectors.Retriable(fmt.Errorf("nats: connecting to %s: %w", url, err))
	}
	return nc, nil
}

// inflight is a JetStream message whose record is not yet committed.
type inflight struct {
	msg      jetstream.Msg
	seq      uint64
	progress time.Time // when the ack timer was last reset
}

// SourceTask reads a JetStream consumer or core NATS subscriptions.
type SourceTask struct {
	nc       *natsgo.Conn
	tc       *connectors.TaskContext
	topic    string
	batch    int
	ackWait  time.Duration
	stream   string
	durable  string
	cons     jetstream.Consumer
	filters  []string // subjects to select client-side, when several
	inflight []inflight

	subs []*natsgo.Subscription
	msgs chan *natsgo.Msg
}

func (t *SourceTask) partition() map[string]any {
	return map[string]any{"stream": t.stream, "consumer": t.durable}
}

func (t *SourceTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.tc = tc
	t.topic = cfg.String("kafka.topic")
	t.batch = cfg.Int("nats.batch.size")
	t.ackWait = cfg.Millis("nats.ack.wait.ms")
	t.stream = cfg.String("nats.stream")
	var err error
	if t.nc, err = connect(cfg, tc); err != nil {
		return err
	}
	subjects := cfg.List("nats.subjects")
	if t.stream == "" {
		t.msgs = make(chan *natsgo.Msg, 4*t.batch)
		for _, s := range subjects {
			sub, err := t.nc.ChanQueueSubscribe(s, cfg.String("nats.queue.group"), t.msgs)
			if err != nil {
				t.Stop()
				return fmt.Errorf("nats: subscribing to %s: %w", s, err)
			}
			t.subs = append(t.subs, sub)
		}
		if err := t.nc.FlushTimeout(10 * time.Second); err != nil { // the server has the subscriptions
			t.Stop()
			return connectors.Retriable(fmt.Errorf("nats: subscribing: %w", err))
		}
		return nil
	}
	if len(subjects) > 1 {
		// Servers before 2.10 take one filter subject: filter here.
		t.filters = subjects
	}
	t.durable = cfg.String("nats.durable")
	if t.durable == "" {
		t.durable = "eddy-" + tc.Connector
	}
	js, err := jetstream.New(t.nc)
	if err != nil {
		t.Stop()
		return fmt.Errorf("nats: %w", err)
	}
	t.cons, err = js.Consumer(ctx, t.stream, t.durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cc := jetstream.ConsumerConfig{Durable: t.durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: t.ackWait,
			DeliverPolicy: jetstream.DeliverAllPolicy}
		if len(subjects) == 1 {
			cc.FilterSubject = subjects[0]
		}
		if cfg.String("nats.deliver.policy") == "new" {
			cc.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		if off := tc.Offset(t.partition()); off != nil {
			if seq, ok := toUint(off["seq"]); ok {
				cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
			}
		}
		t.cons, err = js.CreateOrUpdateConsumer(ctx, t.stream, cc)
	}
	if err != nil {
		t.Stop()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("nats: JetStream stream %q does not exist", t.stream)
		}
		return connectors.Retriable(fmt.Errorf("nats: consumer %s of stream %s: %w", t.durable, t.stream, err))
	}
	return nil
}

func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return uint64(x), x >= 0
	case float64:
		return uint64(x), x >= 0
	case int:
		return uint64(x), x >= 0
	case json.Number:
		n, err := strconv.ParseUint(x.String(), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func (t *SourceTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	if t.cons == nil {
		return t.pollCore(ctx)
	}
	t.keepInflight()
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	first, err := t.cons.Next(jetstream.FetchContext(wctx))
	cancel()
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout) {
			return nil, nil
		}
		return nil, connectors.Retriable(fmt.Errorf("nats: reading consumer %s: %w", t.durable, err))
	}
	msgs := []jetstream.Msg{first}
	if t.batch > 1 {
		b, err := t.cons.FetchNoWait(t.batch - 1)
		if err == nil {
			for m := range b.Messages() {
				msgs = append(msgs, m)
			}
		}
	}
	out := make([]connectors.SourceRecord, 0, len(msgs))
	now := time.Now()
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("nats: message on %s without JetStream metadata: %w", m.Subject(), err)
		}
		seq := md.Sequence.Stream
		if !t.selected(m.Subject()) {
			// No record: nothing to wait for.
			if err := m.Ack(); err != nil {
				return nil, connectors.Retriable(fmt.Errorf("nats: acknowledging stream sequence %d: %w", seq, err))
			}
			continue
		}
		r := record(t.topic, m.Subject(), m.Data(), m.Headers(), md.Timestamp)
		r.Headers = append(r.Headers, connectors.Header{Key: "nats.stream.sequence", Value: []byte(strconv.FormatUint(seq, 10))})
		out = append(out, connectors.SourceRecord{Record: r, SourcePartition: t.partition(), SourceOffset: map[string]any{"seq": int64(seq)}})
		t.inflight = append(t.inflight, inflight{msg: m, seq: seq, progress: now})
	}
	return out, nil
}

// selected says whether a subject matches one of the filters.
func (t *SourceTask) selected(subject string) bool {
	if len(t.filters) == 0 {
		return true
	}
	for _, f := range t.filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

// subjectMatches applies NATS's wildcards: * is one token, > the rest.
func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		if f == ">" {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}

var _ connectors.SourceCommitter = (*SourceTask)(nil)

// Commit acknowledges to JetStream the messages whose records' offsets
// the worker has written to its offsets topic (connectors.SourceCommitter;
// the worker calls it after each offset flush). A failed ack is tried
// again at the next Commit.
func (t *SourceTask) Commit(context.Context) error {
	if t.cons == nil {
		return nil
	}
	var committed uint64
	if off := t.tc.Offset(t.partition()); off != nil {
		committed, _ = toUint(off["seq"])
	}
	i := 0
	for ; i < len(t.inflight) && t.inflight[i].seq <= committed; i++ {
		if err := t.inflight[i].msg.Ack(); err != nil {
			t.inflight = t.inflight[i:]
			return fmt.Errorf("nats: acknowledging stream sequence %d: %w", t.inflight[0].seq, err)
		}
	}
	t.inflight = t.inflight[i:]
	return nil
}

// keepInflight keeps the messages whose records are not yet committed
// from being redelivered meanwhile (in-progress acks).
func (t *SourceTask) keepInflight() {
	now := time.Now()
	for j := range t.inflight {
		if now.Sub(t.inflight[j].progress) >= t.ackWait/3 {
			if err := t.inflight[j].msg.InProgress(); err == nil {
				t.inflight[j].progress = now
			}
		}
	}
}

func (t *SourceTask) pollCore(ctx context.Context) ([]connectors.SourceRecord, error) {
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	var out []connectors.SourceRecord
	add := func(m *natsgo.Msg) {
		out = append(out, connectors.SourceRecord{Record: record(t.topic, m.Subject, m.Data, m.Header, time.Now())})
	}
	select {
	case m := <-t.msgs:
		add(m)
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
	for len(out) < t.batch {
		select {
		case m := <-t.msgs:
			add(m)
		default:
			return out, nil
		}
	}
	return out, nil
}

func record(topic, subject string, data []byte, h natsgo.Header, ts time.Time) connectors.Record {
	r := connectors.Record{Topic: topic, Key: subject, Value: append([]byte(nil), data...), Timestamp: ts}
	for k, vs := range h {
		for _, v := range vs {
			r.Headers = append(r.Headers, connectors.Header{Key: k, Value: []byte(v)})
		}
	}
	r.Headers = append(r.Headers, connectors.Header{Key: "nats.subject", Value: []byte(subject)})
	return r
}

// Stop acknowledges the messages whose offsets are committed (the worker
// calls Commit before Stop only when the task stops cleanly), asks
// JetStream to redeliver the others at once (they are in Kafka, or not;
// either way their offsets are not stored), and closes the connection.
func (t *SourceTask) Stop() error {
	if t.nc == nil {
		return nil
	}
	_ = t.Commit(context.Background())
	for _, f := range t.inflight {
		f.msg.Nak()
	}
	t.inflight = nil
	for _, s := range t.subs {
		s.Unsubscribe()
	}
	t.nc.Close()
	t.nc = nil
	return nil
}

// SinkTask publishes records.
type SinkTask struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	subject string
	tc      *connectors.TaskContext
}

func (t *SinkTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.subject = cfg.String("nats.subject")
	t.tc = tc
	var err error
	if t.nc, err = connect(cfg, tc); err != nil {
		return err
	}
	if cfg.Bool("nats.jetstream.enabled") {
		if t.js, err = jetstream.New(t.nc); err != nil {
			t.nc.Close()
			return fmt.Errorf("nats: %w", err)
		}
	}
	return nil
}

func (t *SinkTask) message(r connectors.Record) (*natsgo.Msg, error) {
	subject := strings.ReplaceAll(t.subject, "${topic}", r.Topic)
	m := natsgo.NewMsg(subject)
	for _, h := range r.Headers {
		if h.Key == "nats.subject" {
			m.Subject = string(h.Value)
			continue
		}
		m.Header.Add(h.Key, string(h.Value))
	}
	if err := checkSubject(m.Subject, false); err != nil {
		return nil, err
	}
	var err error
	// Bytes and strings as they are, anything else as JSON (the string converter's rules).
	if m.Data, err = (connectors.StringConverter{}).FromConnect(r.Topic, r.Value); err != nil {
		return nil, err
	}
	if t.js != nil {
		m.Header.Set(natsgo.MsgIdHdr, fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset))
	}
	return m, nil
}

// Put publishes the records, and returns once JetStream acknowledged them
// or, for core NATS, the server received them.
func (t *SinkTask) Put(ctx context.Context, records []connectors.Record) error {
	var futures []jetstream.PubAckFuture
	for _, r := range records {
		m, err := t.message(r)
		if err != nil {
			if err := t.tc.Report(ctx, r, fmt.Errorf("nats: record at %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err)); err != nil {
				return err
			}
			continue
		}
		if t.js != nil {
			f, err := t.js.PublishMsgAsync(m)
			if err != nil {
				return connectors.Retriable(fmt.Errorf("nats: publishing to %s: %w", m.Subject, err))
			}
			futures = append(futures, f)
			continue
		}
		if err := t.nc.PublishMsg(m); err != nil {
			return connectors.Retriable(fmt.Errorf("nats: publishing to %s: %w", m.Subject, err))
		}
	}
	if t.js == nil {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := t.nc.FlushWithContext(fctx); err != nil {
			return connectors.Retriable(fmt.Errorf("nats: flushing: %w", err))
		}
		return nil
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				return fmt.Errorf("nats: no JetStream stream takes subject %s: %w", f.Msg().Subject, err)
			}
			return connectors.Retriable(fmt.Errorf("nats: publishing to %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Flush has nothing to do: Put returns once the messages are delivered.
func (t *SinkTask) Flush(context.Context) error { return nil }

func (t *SinkTask) Stop() error {
	if t.nc != nil {
		t.nc.Close()
		t.nc = nil
	}
	return nil
}
