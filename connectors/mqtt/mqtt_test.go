package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/eddy-streams/eddy/connectors"
	"github.com/eddy-streams/eddy/connectors/connectorstest"
	"github.com/eddy-streams/eddy/connectors/mqtt"
)

const mqttURI = "tcp://127.0.0.1:1883"

// mqttClient connects a test client to the local Mosquitto or skips the
// test; base is a topic prefix of the test's own.
func mqttClient(t *testing.T) (paho.Client, string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:1883", 2*time.Second); err != nil {
		t.Skipf("no MQTT broker at %s (%v); start one with `mosquitto -d`", mqttURI, err)
	} else {
		c.Close()
	}
	n := time.Now().UnixNano()
	opts := paho.NewClientOptions().AddBroker(mqttURI).SetClientID(fmt.Sprintf("eddytest-%d", n)).SetOrderMatters(true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting to %s: %v", mqttURI, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, fmt.Sprintf("eddytest/%d", n)
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

type record struct{ key, value, mqttTopic string }

func reader(t *testing.T, addr, topic string) func(n int) []record {
	r := connectorstest.ReadTopic(t, addr, topic)
	return func(n int) []record {
		t.Helper()
		var out []record
		for _, m := range r.Next(t, n) {
			mt, _ := connectorstest.Header(m, "mqtt.topic")
			out = append(out, record{key: string(m.Key), value: string(m.Value), mqttTopic: mt})
		}
		return out
	}
}

func expect(t *testing.T, got []record, want ...string) {
	t.Helper()
	var s []string
	for _, r := range got {
		if r.mqttTopic != r.key {
			t.Errorf("record %+v: the mqtt.topic header is not the key", r)
		}
		s = append(s, r.key+"="+r.value)
	}
	if strings.Join(s, " ") != strings.Join(want, " ") {
		t.Fatalf("records %v, want %v", s, want)
	}
}

// Messages on subscribed filters arrive in order, keyed by MQTT topic;
// with a persistent session, messages published while the worker is down
// arrive after its restart.
func TestSourceAcrossRestart(t *testing.T) {
	c, base := mqttClient(t)
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	topic := strings.ReplaceAll(base, "/", "-")
	clientID := strings.ReplaceAll(base, "/", "-") + "-source"
	t.Cleanup(func() { // end the persistent session
		opts := paho.NewClientOptions().AddBroker(mqttURI).SetClientID(clientID).SetCleanSession(true)
		cc := paho.NewClient(opts)
		if tok := cc.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			cc.Disconnect(100)
		}
	})
	if _, _, err := w.CreateConnector("mqtt-in", map[string]string{"connector.class": "MqttSource", "mqtt.server.uri": mqttURI,
		"mqtt.topics": base + "/a/#," + base + "/b", "kafka.topic": topic, "mqtt.qos": "1",
		"mqtt.clean.session.enabled": "false", "mqtt.client.id": clientID}, false); err != nil {
		t.Fatal(err)
	}
	connectorstest.WaitRunning(t, w, "mqtt-in")
	publish(t, c, base+"/a/1", "one")
	publish(t, c, base+"/c", "not subscribed")
	publish(t, c, base+"/b", "two")
	publish(t, c, base+"/a/2", "three")
	next := reader(t, addr, topic)
	expect(t, next(3), base+"/a/1=one", base+"/b=two", base+"/a/2=three")

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	publish(t, c, base+"/b", "while down")
	connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	expect(t, next(1), base+"/b=while down")
	publish(t, c, base+"/a/3", "after") // a marker: nothing came twice before it
	expect(t, next(1), base+"/a/3=after")
}

// Records are published to the configured topic, or to the one their
// mqtt.topic header names.
func TestSink(t *testing.T) {
	c, base := mqttClient(t)
	got := make(chan paho.Message, 10)
	if tok := c.Subscribe(base+"/#", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.StringConverters)
	topic := strings.ReplaceAll(base, "/", "-") + "-out"
	if _, _, err := w.CreateConnector("mqtt-out", map[string]string{"connector.class": "MqttSink", "topics": topic,
		"mqtt.server.uri": mqttURI, "mqtt.topic": base + "/from/${topic}"}, false); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer([]string{addr}, connectorstest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range []*sarama.ProducerMessage{
		{Topic: topic, Value: sarama.StringEncoder("hello")},
		{Topic: topic, Value: sarama.StringEncoder("elsewhere"),
			Headers: []sarama.RecordHeader{{Key: []byte("mqtt.topic"), Value: []byte(base + "/other")}}},
		{Topic: topic, Value: sarama.StringEncoder("bye")},
	} {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	var s []string
	timeout := time.After(20 * time.Second)
	for len(s) < 3 {
		select {
		case m := <-got:
			s = append(s, m.Topic()+"="+string(m.Payload()))
		case <-timeout:
			t.Fatalf("received %v", s)
		}
	}
	want := []string{base + "/from/" + topic + "=hello", base + "/other=elsewhere", base + "/from/" + topic + "=bye"}
	if strings.Join(s, " ") != strings.Join(want, " ") {
		t.Fatalf("received %v, want %v", s, want)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := mqtt.SourceConfig.Parse(map[string]string{"mqtt.server.uri": "http://x:1", "mqtt.topics": "a/#/b", "mqtt.qos": "3"})
	for _, want := range []string{"mqtt.server.uri", "mqtt.topics", `"kafka.topic"`, "mqtt.qos"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("source config error does not mention %s: %v", want, err)
		}
	}
	_, err = mqtt.SinkConfig.Parse(map[string]string{"mqtt.server.uri": mqttURI, "mqtt.topic": "a/+"})
	if err == nil || !strings.Contains(err.Error(), "mqtt.topic") {
		t.Errorf("sink config error: %v", err)
	}
}

// A message whose record was never acknowledged by Kafka (no Ack before
// the task stopped) is delivered again to the next task of the persistent
// session; one that was acknowledged is not.
func TestUnacknowledgedMessageRedelivered(t *testing.T) {
	c, base := mqttClient(t)
	clientID := strings.ReplaceAll(base, "/", "-") + "-redeliver"
	t.Cleanup(func() {
		cc := paho.NewClient(paho.NewClientOptions().AddBroker(mqttURI).SetClientID(clientID).SetCleanSession(true))
		if tok := cc.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			cc.Disconnect(100)
		}
	})
	cfg, err := mqtt.SourceConfig.Parse(map[string]string{"mqtt.server.uri": mqttURI, "mqtt.topics": base + "/#",
		"kafka.topic": "t", "mqtt.clean.session.enabled": "false", "mqtt.client.id": clientID})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *mqtt.SourceTask {
		task := &mqtt.SourceTask{}
		if err := task.Start(context.Background(), cfg, connectors.NewTaskContext("redeliver", 0, nil)); err != nil {
			t.Fatal(err)
		}
		return task
	}
	poll := func(task *mqtt.SourceTask) []connectors.SourceRecord {
		var recs []connectors.SourceRecord
		connectorstest.WaitFor(t, 20*time.Second, "a message", func() bool {
			r, err := task.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r...)
			return len(recs) > 0
		})
		return recs
	}
	task := start()
	publish(t, c, base+"/x", "acked")
	task.Ack(poll(task))
	publish(t, c, base+"/x", "not acked")
	if recs := poll(task); len(recs) != 1 || string(recs[0].Value.([]byte)) != "not acked" {
		t.Fatalf("records %v", recs)
	}
	task.Stop() // before Ack: as if the worker died before Kafka had the record

	task = start()
	defer task.Stop()
	recs := poll(task)
	if len(recs) != 1 || string(recs[0].Value.([]byte)) != "not acked" {
		t.Fatalf("after the restart: %v", recs)
	}
	if dup, _ := recs[0].Header("mqtt.duplicate"); string(dup) != "true" {
		t.Errorf("mqtt.duplicate = %s on a redelivered message", dup)
	}
}
