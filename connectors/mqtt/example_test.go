package mqtt_test

import (
	"context"
	"log"
	"time"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/mqtt" // registers MqttSource and MqttSink
)

// Copy every message under sensors/ into the topic sensors (keyed by MQTT
// topic, payloads as they are), and publish the records of the topic
// alerts to the MQTT topic alerts/out. The worker talks to a
// Kafka-compatible broker at 127.0.0.1:9092.
func Example() {
	ctx := context.Background()
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{"127.0.0.1:9092"}, OffsetFlushInterval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.CreateConnector("sensors-in", map[string]string{
		"connector.class": "MqttSource", "mqtt.server.uri": "tcp://127.0.0.1:1883",
		"mqtt.topics": "sensors/#", "kafka.topic": "sensors", "mqtt.qos": "1",
		"mqtt.clean.session.enabled": "false",
		"key.converter":              "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":            "org.apache.kafka.connect.converters.ByteArrayConverter",
	}, false); err != nil {
		log.Fatal(err)
	}
	if _, _, err := w.CreateConnector("alerts-out", map[string]string{
		"connector.class": "MqttSink", "topics": "alerts",
		"mqtt.server.uri": "tcp://127.0.0.1:1883", "mqtt.topic": "alerts/out",
	}, false); err != nil {
		log.Fatal(err)
	}
}
