package nats_test

import (
	"context"
	"log"
	"time"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/nats" // registers NatsSource and NatsSink
)

// Copy the JetStream stream ORDERS (subjects orders.>) into the topic
// orders, and publish the records of the topic shipments to the NATS
// subject shipments.out. The worker talks to a Kafka-compatible broker at
// 127.0.0.1:9092.
func Example() {
	ctx := context.Background()
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{"127.0.0.1:9092"}, OffsetFlushInterval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.CreateConnector("orders-in", map[string]string{
		"connector.class": "NatsSource", "nats.url": "nats://127.0.0.1:4222",
		"nats.stream": "ORDERS", "nats.subjects": "orders.>", "kafka.topic": "orders",
		"value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
	}, false); err != nil {
		log.Fatal(err)
	}
	if _, _, err := w.CreateConnector("shipments-out", map[string]string{
		"connector.class": "NatsSink", "topics": "shipments",
		"nats.url": "nats://127.0.0.1:4222", "nats.subject": "shipments.out",
	}, false); err != nil {
		log.Fatal(err)
	}
}
