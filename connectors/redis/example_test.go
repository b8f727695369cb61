package redis_test

import (
	"context"
	"log"
	"time"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/redis" // registers RedisSink and RedisStreamSource
)

// Keep the latest value of every key of the topic users in Redis (as
// users:<key>), and copy the Redis stream clicks into the topic clicks.
// The worker talks to a Kafka-compatible broker at 127.0.0.1:9092.
func Example() {
	ctx := context.Background()
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{"127.0.0.1:9092"}, OffsetFlushInterval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.CreateConnector("users-to-redis", map[string]string{
		"connector.class": "RedisSink", "topics": "users",
		"redis.uri": "redis://127.0.0.1:6379", "redis.command": "SET", "redis.keyspace": "users",
	}, false); err != nil {
		log.Fatal(err)
	}
	if _, _, err := w.CreateConnector("clicks-from-redis", map[string]string{
		"connector.class": "RedisStreamSource", "redis.uri": "redis://127.0.0.1:6379",
		"redis.stream.name": "clicks", "topic": "clicks",
	}, false); err != nil {
		log.Fatal(err)
	}
}
