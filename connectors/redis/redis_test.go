package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	goredis "github.com/redis/go-redis/v9"

	"github.com/eddy-streams/eddy/connectors"
	"github.com/eddy-streams/eddy/connectors/connectorstest"
	"github.com/eddy-streams/eddy/connectors/redis"
)

const redisURI = "redis://127.0.0.1:6379/0"

// client connects to the local Redis or skips the test, and removes the
// test's keys (those starting with the prefix it returns) at the end.
func client(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	opts, _ := goredis.ParseURL(redisURI)
	c := goredis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Skipf("Redis is not reachable at %s (%v); start it with `redis-server --daemonize yes`", redisURI, err)
	}
	prefix := fmt.Sprintf("eddytest-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

func create(t *testing.T, w *connectors.Worker, name string, props map[string]string) {
	t.Helper()
	if _, _, err := w.CreateConnector(name, props, false); err != nil {
		t.Fatal(err)
	}
}

// produce sends JSON key/value pairs (a nil value is a tombstone).
func produce(t *testing.T, addr, topic string, kvs ...any) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, connectorstest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < len(kvs); i += 2 {
		k, _ := json.Marshal(kvs[i])
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(k)}
		if kvs[i+1] != nil {
			v, _ := json.Marshal(kvs[i+1])
			m.Value = sarama.ByteEncoder(v)
		}
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

// Records written with SET, HSET, XADD and PUBLISH, in order; tombstones
// delete keys (SET, HSET) or are skipped (XADD, PUBLISH).
func TestSink(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	topic := prefix + "-users"
	channel := prefix + "-channel"
	sub := rc.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is confirmed
		t.Fatal(err)
	}
	for cmd, space := range map[string]string{"SET": prefix + "-kv", "HSET": prefix + "-h", "XADD": prefix + "-stream", "PUBLISH": channel} {
		create(t, w, "redis-"+strings.ToLower(cmd), map[string]string{"connector.class": "RedisSink", "topics": topic,
			"redis.uri": redisURI, "redis.command": cmd, "redis.keyspace": space})
	}
	produce(t, addr, topic,
		"k1", map[string]any{"name": "ann"},
		"k2", "plain",
		"k1", map[string]any{"name": "ann", "age": 3},
		"k2", nil,
		"k3", map[string]any{"last": true})

	connectorstest.WaitFor(t, 20*time.Second, "the last record in Redis", func() bool {
		n, _ := rc.XLen(ctx, prefix+"-stream").Result()
		return rc.Exists(ctx, prefix+"-kv:k3").Val() == 1 && rc.Exists(ctx, prefix+"-h:k3").Val() == 1 && n == 4
	})
	if v, err := rc.Get(ctx, prefix+"-kv:k1").Result(); err != nil || v != `{"age":3,"name":"ann"}` {
		t.Errorf("SET k1 = %q, %v", v, err)
	}
	if n := rc.Exists(ctx, prefix+"-kv:k2", prefix+"-h:k2").Val(); n != 0 {
		t.Errorf("k2 survived its tombstone in %d keys", n)
	}
	if h, err := rc.HGetAll(ctx, prefix+"-h:k1").Result(); err != nil || !reflect.DeepEqual(h, map[string]string{"name": "ann", "age": "3"}) {
		t.Errorf("HSET k1 = %v, %v", h, err)
	}
	entries, err := rc.XRange(ctx, prefix+"-stream", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, e := range entries {
		got = append(got, e.Values)
	}
	want := []map[string]any{{"name": "ann"}, {"value": "plain"}, {"name": "ann", "age": "3"}, {"last": "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stream entries %v, want %v", got, want)
	}
	var msgs []string
	timeout := time.After(20 * time.Second)
	for len(msgs) < 4 {
		select {
		case m := <-sub.Channel():
			msgs = append(msgs, m.Payload)
		case <-timeout:
			t.Fatalf("published %q, want 4 messages", msgs)
		}
	}
	if want := []string{`{"name":"ann"}`, "plain", `{"age":3,"name":"ann"}`, `{"last":true}`}; !reflect.DeepEqual(msgs, want) {
		t.Errorf("published %q, want %q", msgs, want)
	}
}

// A record without a key cannot be SET: with errors.tolerance=all it goes
// to the dead-letter topic and the records after it are written.
func TestSinkKeylessRecordToDeadLetterTopic(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	topic := prefix + "-in"
	create(t, w, "kv", map[string]string{"connector.class": "RedisSink", "topics": topic, "redis.uri": redisURI,
		"redis.keyspace": prefix, "errors.tolerance": "all", "errors.deadletterqueue.topic.name": prefix + "-dlq"})
	p, err := sarama.NewSyncProducer([]string{addr}, connectorstest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range []*sarama.ProducerMessage{
		{Topic: topic, Value: sarama.StringEncoder(`"no key"`)},
		{Topic: topic, Key: sarama.StringEncoder(`"k"`), Value: sarama.StringEncoder(`"v"`)},
	} {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	connectorstest.WaitFor(t, 20*time.Second, "the keyed record", func() bool { return rc.Get(ctx, prefix+":k").Val() == "v" })
	c, err := sarama.NewConsumer([]string{addr}, connectorstest.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pc sarama.PartitionConsumer
	connectorstest.WaitFor(t, 20*time.Second, "the dead-letter topic", func() bool {
		pc, err = c.ConsumePartition(prefix+"-dlq", 0, sarama.OffsetOldest)
		return err == nil
	})
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != `"no key"` {
			t.Fatalf("dead letter %q", m.Value)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing in the dead-letter topic")
	}
}

type record struct{ key, value string }

func reader(t *testing.T, addr, topic string) func(n int) []record {
	r := connectorstest.ReadTopic(t, addr, topic)
	return func(n int) []record {
		t.Helper()
		var out []record
		for _, m := range r.Next(t, n) {
			out = append(out, record{string(m.Key), string(m.Value)})
		}
		return out
	}
}

// Stream entries arrive keyed by id in order; a restarted worker continues
// after the last committed entry.
func TestStreamSourceResumes(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	stream := prefix + "-events"
	var ids []string
	add := func(n int) {
		id, err := rc.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"n", n, "kind", "click"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := range 3 {
		add(i)
	}
	addr := connectorstest.StartBroker(t)
	w := connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	create(t, w, "events", map[string]string{"connector.class": "RedisStreamSource", "redis.uri": redisURI, "redis.stream.name": stream})
	next := reader(t, addr, stream) // topic defaults to the stream's name
	got := next(3)
	for i, r := range got {
		if r.key != `"`+ids[i]+`"` || r.value != fmt.Sprintf(`{"kind":"click","n":"%d"}`, i) {
			t.Fatalf("record %d: %+v (entry %s)", i, r, ids[i])
		}
	}
	connectorstest.WaitFor(t, 10*time.Second, "the offset of the third entry", func() bool {
		offs, err := w.Offsets("events")
		return err == nil && len(offs) == 1 && offs[0].Offset["offset"] == ids[2]
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	add(3)
	add(4)
	connectorstest.StartWorker(t, addr, connectorstest.SchemalessJSON)
	got = next(2)
	if got[0].key != `"`+ids[3]+`"` || got[1].key != `"`+ids[4]+`"` {
		t.Fatalf("after the restart: %+v, want entries %s and %s", got, ids[3], ids[4])
	}
	add(5) // a marker: nothing was repeated before it
	if got = next(1); got[0].key != `"`+ids[5]+`"` {
		t.Fatalf("after the marker: %+v", got)
	}
}

// "$" starts at entries added after the task starts.
func TestStreamSourceFromNow(t *testing.T) {
	rc, prefix := client(t)
	ctx := context.Background()
	stream := prefix + "-now"
	rc.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"old", "1"}})
	cfg, err := redis.SourceConfig.Parse(map[string]string{"redis.uri": redisURI, "redis.stream.name": stream, "redis.stream.offset": "$"})
	if err != nil {
		t.Fatal(err)
	}
	task := &redis.SourceTask{}
	if err := task.Start(ctx, cfg, connectors.NewTaskContext("now", 0, nil)); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	rc.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"new", "1"}})
	var recs []connectors.SourceRecord
	connectorstest.WaitFor(t, 10*time.Second, "the new entry", func() bool {
		r, err := task.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
		return len(recs) > 0
	})
	if v := recs[0].Value.(map[string]any); len(recs) != 1 || v["new"] != "1" {
		t.Fatalf("records %v", recs)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := redis.SourceConfig.Parse(map[string]string{"redis.uri": "http://x", "redis.stream.offset": "latest"})
	for _, want := range []string{"redis.uri", `"redis.stream.name"`, "redis.stream.offset"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("source config error does not mention %s: %v", want, err)
		}
	}
	_, err = redis.SinkConfig.Parse(map[string]string{"redis.command": "FLUSHALL"})
	if err == nil || !strings.Contains(err.Error(), "redis.command") {
		t.Errorf("sink config error: %v", err)
	}
}
