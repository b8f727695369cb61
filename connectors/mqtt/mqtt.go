// Package mqtt provides MQTT source and sink connectors (MQTT 3.1.1,
// through github.com/eclipse/paho.mqtt.golang), with the setting names of
// Confluent's MQTT connectors.
//
// The source subscribes to topic filters and writes each message to a
// Kafka topic:
//
//	connector.class=MqttSource
//	mqtt.server.uri=tcp://127.0.0.1:1883    brokers (tcp://, ssl://, ws://), tried in order
//	mqtt.topics=sensors/#,alerts/+          the topic filters to subscribe to
//	kafka.topic=sensors                     required
//	mqtt.qos=1                              0, 1 or 2
//	mqtt.clean.session.enabled=true         false: a persistent session, so the MQTT broker keeps messages while the task is down
//	mqtt.client.id=                         default eddy-<connector>-<task>
//	mqtt.username=, mqtt.password=
//	mqtt.connect.timeout.seconds=30
//	mqtt.keepalive.interval.seconds=60
//
// A record's key is the message's MQTT topic (a string) and its value the
// payload (bytes; use value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
// or StringConverter to keep it as is). Headers carry mqtt.topic,
// mqtt.qos, mqtt.retained, mqtt.duplicate and mqtt.message.id. Messages
// of QoS 1 and 2 are acknowledged to the MQTT broker only after their
// records were acknowledged by Kafka, so with
// mqtt.clean.session.enabled=false a message is delivered at least once
// even across a restart (the MQTT broker redelivers what was not
// acknowledged, and keeps what arrives while no task runs). MQTT has no
// offsets to store. Each task subscribes to all the filters (with more
// than one task, use shared subscriptions: $share/group/filter).
//
// The sink publishes each record's value:
//
//	connector.class=MqttSink
//	topics=alerts
//	mqtt.server.uri=tcp://127.0.0.1:1883
//	mqtt.topic=${topic}                     the MQTT topic; ${topic} is replaced by the record's Kafka topic
//	mqtt.qos=1
//	mqtt.retain.enabled=false
//	(mqtt.client.id, mqtt.username, mqtt.password, timeouts as for the source)
//
// A record's mqtt.topic header, when present, names its MQTT topic instead
// (so records from the source go back where they came from). Strings and
// bytes are published as they are, other values as JSON, a null value as
// an empty payload (which, retained, clears the topic's retained message).
// Put publishes a batch and waits until the MQTT broker has acknowledged
// every message (QoS 1 and 2), so offsets are committed only for delivered
// records; failures to connect or publish are retriable.
//
// Importing the package registers both connectors.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/eddy-streams/eddy/connectors"
)

// Classes of the two connectors.
const (
	SourceClass = "io.eddystreams.connect.mqtt.MqttSourceConnector"
	SinkClass   = "io.eddystreams.connect.mqtt.MqttSinkConnector"
)

func validURIs(v any) error {
	l, _ := v.([]string)
	if len(l) == 0 {
		return errors.New("at least one broker URI is needed, such as tcp://127.0.0.1:1883")
	}
	for _, s := range l {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a URI such as tcp://127.0.0.1:1883", s)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme %q is not tcp, ssl, ws or wss", s, u.Scheme)
		}
	}
	return nil
}

func validFilters(v any) error {
	l, _ := v.([]string)
	if len(l) == 0 {
		return errors.New("at least one topic filter is needed")
	}
	for _, f := range l {
		if err := checkFilter(f); err != nil {
			return err
		}
	}
	return nil
}

// checkFilter applies MQTT's rules for wildcards in topic filters.
func checkFilter(f string) error {
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: # must be a whole level, and the last", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: + must be a whole level", f)
		}
	}
	return nil
}

func connectionKeys() *connectors.ConfigDef {
	return connectors.NewConfigDef().
		Define(connectors.ConfigKey{Name: "mqtt.server.uri", Type: connectors.List, Required: true, Importance: connectors.High,
			Validate: validURIs, Doc: "MQTT brokers to connect to, such as tcp://127.0.0.1:1883 (ssl://, ws://, wss:// too)."}).
		Define(connectors.ConfigKey{Name: "mqtt.username", Type: connectors.String, Importance: connectors.High,
			Doc: "User name, or blank to connect without one."}).
		Define(connectors.ConfigKey{Name: "mqtt.password", Type: connectors.Password, Importance: connectors.High,
			Doc: "Password, or blank."}).
		Define(connectors.ConfigKey{Name: "mqtt.client.id", Type: connectors.String, Importance: connectors.Medium,
			Doc: "Client id; default eddy-<connector>-<task>. Ids must differ between tasks and between connectors."}).
		Define(connectors.ConfigKey{Name: "mqtt.qos", Type: connectors.Int, Default: "1", Importance: connectors.Medium,
			Validate: func(v any) error {
				if n, _ := v.(int); n < 0 || n > 2 {
					return errors.New("QoS is 0, 1 or 2")
				}
				return nil
			}, Doc: "Quality of service of subscriptions (source) or published messages (sink)."}).
		Define(connectors.ConfigKey{Name: "mqtt.connect.timeout.seconds", Type: connectors.Int, Default: "30", Importance: connectors.Low,
			Validate: connectors.AtLeast(1), Doc: "How long to wait for a connection."}).
		Define(connectors.ConfigKey{Name: "mqtt.keepalive.interval.seconds", Type: connectors.Int, Default: "60", Importance: connectors.Low,
			Validate: connectors.AtLeast(1), Doc: "The keep-alive interval."})
}

// SourceConfig defines the source's settings.
var SourceConfig = connectionKeys().
	Define(connectors.ConfigKey{Name: "mqtt.topics", Type: connectors.List, Required: true, Importance: connectors.High,
		Validate: validFilters, Doc: "The MQTT topic filters to subscribe to."}).
	Define(connectors.ConfigKey{Name: "kafka.topic", Type: connectors.String, Required: true, Importance: connectors.High,
		Validate: func(v any) error {
			if s, _ := v.(string); s == "" {
				return errors.New("a topic is needed")
			}
			return nil
		}, Doc: "The Kafka topic to write to."}).
	Define(connectors.ConfigKey{Name: "mqtt.clean.session.enabled", Type: connectors.Boolean, Default: "true", Importance: connectors.Medium,
		Doc: "true: a new session on each connection; false: a persistent session, in which the MQTT broker keeps unacknowledged and new messages while the task is away."})

// SinkConfig defines the sink's settings.
var SinkConfig = connectionKeys().
	Define(connectors.ConfigKey{Name: "mqtt.topic", Type: connectors.String, Default: "${topic}", Importance: connectors.High,
		Validate: func(v any) error {
			if s, _ := v.(string); s == "" || strings.ContainsAny(s, "+#") {
				return errors.New("an MQTT topic without wildcards is needed")
			}
			return nil
		}, Doc: "The MQTT topic to publish to; ${topic} is replaced by the record's Kafka topic. A record's mqtt.topic header overrides it."}).
	Define(connectors.ConfigKey{Name: "mqtt.retain.enabled", Type: connectors.Boolean, Default: "false", Importance: connectors.Medium,
		Doc: "Publish retained messages."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: SourceClass, Aliases: []string{"MqttSource", "io.confluent.connect.mqtt.MqttSourceConnector"},
		Type: connectors.TypeSource, Config: SourceConfig,
		NewConnector:  func() connectors.Connector { return &connector{} },
		NewSourceTask: func() connectors.SourceTask { return &SourceTask{} },
	})
	connectors.Register(&connectors.Plugin{
		Class: SinkClass, Aliases: []string{"MqttSink", "io.confluent.connect.mqtt.MqttSinkConnector"},
		Type: connectors.TypeSink, Config: SinkConfig,
		NewConnector: func() connectors.Connector { return &connector{} },
		NewSinkTask:  func() connectors.SinkTask { return &SinkTask{} },
	})
}

// connector runs tasks.max identical tasks.
type connector struct{}

func (*connector) Start(context.Context, connectors.Config) error { return nil }
func (*connector) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out, nil
}
func (*connector) Stop() error { return nil }

// clientOptions builds paho's options from the connection settings.
func clientOptions(cfg connectors.Config, tc *connectors.TaskContext) *paho.ClientOptions {
	opts := paho.NewClientOptions()
	for _, s := range cfg.List("mqtt.server.uri") {
		opts.AddBroker(s)
	}
	id := cfg.String("mqtt.client.id")
	if id == "" {
		id = fmt.Sprintf("eddy-%s-%d", tc.Connector, tc.Task)
	}
	opts.SetClientID(id)
	opts.SetUsername(cfg.String("mqtt.username"))
	opts.SetPassword(cfg.String("mqtt.password"))
	opts.SetConnectTimeout(time.Duration(cfg.Int("mqtt.connect.timeout.seconds")) * time.Second)
	opts.SetKeepAlive(time.Duration(cfg.Int("mqtt.keepalive.interval.seconds")) * time.Second)
	opts.SetAutoReconnect(true)
	opts.SetConnectRetry(false)
	opts.SetOrderMatters(true)
	return opts
}

// wait waits for a token, or for ctx.
func wait(ctx context.Context, tok paho.Token, what string) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt: %s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: %s: %w", what, ctx.Err())
	}
}

func connect(ctx context.Context, c paho.Client, cfg connectors.Config) error {
	timeout := time.Duration(cfg.Int("mqtt.connect.timeout.seconds")) * time.Second
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := wait(cctx, c.Connect(), "connecting to "+strings.Join(cfg.List("mqtt.server.uri"), ",")); err != nil {
		return connectors.Retriable(err)
	}
	return nil
}

// SourceTask subscribes to topic filters.
type SourceTask struct {
	client  paho.Client
	topic   string
	filters map[string]byte
	msgs    chan paho.Message
	polled  []paho.Message  // taken by the last Poll, acknowledged by Ack
	subs    chan paho.Token // subscriptions made on (re)connecting
	done    chan struct{}
	once    sync.Once
}

func (t *SourceTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.topic = cfg.String("kafka.topic")
	t.filters = map[string]byte{}
	for _, f := range cfg.List("mqtt.topics") {
		t.filters[f] = byte(cfg.Int("mqtt.qos"))
	}
	t.msgs = make(chan paho.Message, 1024)
	t.subs = make(chan paho.Token, 1)
	t.done = make(chan struct{})
	opts := clientOptions(cfg, tc)
	opts.SetCleanSession(cfg.Bool("mqtt.clean.session.enabled"))
	opts.SetAutoAckDisabled(true) // acknowledged once in Kafka (Ack)
	opts.SetDefaultPublishHandler(t.receive)
	opts.SetOnConnectHandler(func(c paho.Client) {
		tok := c.SubscribeMultiple(t.filters, t.receive)
		select {
		case t.subs <- tok:
		default: // Start has its subscription already; later ones are waited for by paho
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		tc.Logger.Warn("MQTT connection lost; reconnecting", "err", err)
	})
	t.client = paho.NewClient(opts)
	if err := connect(ctx, t.client, cfg); err != nil {
		return err
	}
	var tok paho.Token
	select {
	case tok = <-t.subs:
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
	if err := wait(ctx, tok, "subscribing"); err != nil {
		t.Stop()
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				t.Stop()
				return fmt.Errorf("mqtt: the broker refused the subscription to %q", f)
			}
		}
	}
	return nil
}

// receive runs on paho's goroutine; it blocks while Poll has not taken
// earlier messages, which holds back acknowledgements and so the broker.
func (t *SourceTask) receive(_ paho.Client, m paho.Message) {
	select {
	case t.msgs <- m:
	case <-t.done:
	}
}

// Poll returns the messages received, waiting up to a second for one.
func (t *SourceTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	var out []connectors.SourceRecord
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case m := <-t.msgs:
		out = append(out, t.record(m))
		t.polled = append(t.polled, m)
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
	for len(out) < cap(t.msgs) {
		select {
		case m := <-t.msgs:
			out = append(out, t.record(m))
			t.polled = append(t.polled, m)
		default:
			return out, nil
		}
	}
	return out, nil
}

func (t *SourceTask) record(m paho.Message) connectors.SourceRecord {
	b := func(v bool) []byte { return []byte(strconv.FormatBool(v)) }
	return connectors.SourceRecord{Record: connectors.Record{
		Topic: t.topic, Key: m.Topic(), Value: append([]byte(nil), m.Payload()...), Timestamp: time.Now(),
		Headers: []connectors.Header{
			{Key: "mqtt.topic", Value: []byte(m.Topic())},
			{Key: "mqtt.qos", Value: []byte(strconv.Itoa(int(m.Qos())))},
			{Key: "mqtt.retained", Value: b(m.Retained())},
			{Key: "mqtt.duplicate", Value: b(m.Duplicate())},
			{Key: "mqtt.message.id", Value: []byte(strconv.Itoa(int(m.MessageID())))},
		}},
	// MQTT has no offsets: no source partition or offset to store.
	}
}

// Ack acknowledges the messages of the last Poll to the MQTT broker:
// their records are in Kafka now.
func (t *SourceTask) Ack([]connectors.SourceRecord) {
	for _, m := range t.polled {
		m.Ack()
	}
	t.polled = t.polled[:0]
}

func (t *SourceTask) Stop() error {
	t.once.Do(func() { close(t.done) })
	if t.client != nil {
		t.client.Disconnect(250)
	}
	return nil
}

// SinkTask publishes records.
type SinkTask struct {
	client paho.Client
	topic  string
	qos    byte
	retain bool
	tc     *connectors.TaskContext
}

func (t *SinkTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.topic = cfg.String("mqtt.topic")
	t.qos = byte(cfg.Int("mqtt.qos"))
	t.retain = cfg.Bool("mqtt.retain.enabled")
	t.tc = tc
	opts := clientOptions(cfg, tc)
	opts.SetCleanSession(true)
	t.client = paho.NewClient(opts)
	return connect(ctx, t.client, cfg)
}

// Put publishes the records and waits for the broker's acknowledgements.
func (t *SinkTask) Put(ctx context.Context, records []connectors.Record) error {
	type sent struct {
		tok   paho.Token
		topic string
	}
	toks := make([]sent, 0, len(records))
	for _, r := range records {
		topic := strings.ReplaceAll(t.topic, "${topic}", r.Topic)
		if h, ok := r.Header("mqtt.topic"); ok {
			topic = string(h)
		}
		// Bytes and strings as they are, anything else as JSON, as the
		// string converter writes them; a null value is an empty message.
		p, err := connectors.StringConverter{}.FromConnect(r.Topic, r.Value)
		if p == nil {
			p = []byte{}
		}
		if err == nil && (topic == "" || strings.ContainsAny(topic, "+#")) {
			err = fmt.Errorf("mqtt: %q is not a topic one can publish to", topic)
		}
		if err != nil {
			if err := t.tc.Report(ctx, r, fmt.Errorf("mqtt: record at %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err)); err != nil {
				return err
			}
			continue
		}
		toks = append(toks, sent{t.client.Publish(topic, t.qos, t.retain, p), topic})
	}
	for _, s := range toks {
		if err := wait(ctx, s.tok, "publishing to "+s.topic); err != nil {
			return connectors.Retriable(err)
		}
	}
	return nil
}

// Flush has nothing to do: Put returns once the broker has the messages.
func (t *SinkTask) Flush(context.Context) error { return nil }

func (t *SinkTask) Stop() error {
	if t.client != nil {
		t.client.Disconnect(250)
	}
	return nil
}
