// Package redis provides a Redis sink connector and a Redis Streams source
// connector, with the setting names of Redis's own Kafka connector
// (redis-kafka-connect) where it has one.
//
// The sink writes each record with one Redis command:
//
//	connector.class=RedisSink
//	topics=orders
//	redis.uri=redis://127.0.0.1:6379/0     redis://[user:password@]host:port[/db], or rediss:// for TLS
//	redis.command=SET                     SET | HSET | XADD | PUBLISH
//	redis.keyspace=${topic}               key prefix (SET, HSET); stream (XADD); channel (PUBLISH); ${topic} is replaced
//	redis.separator=:                     between the keyspace and the record key
//
// SET stores the value under <keyspace><separator><record key> (just the
// record key when the keyspace is empty); HSET sets the fields of a map
// value (any other value as the field "value") in the hash at that key;
// XADD appends the same fields to the stream named by the keyspace;
// PUBLISH sends the value to the channel named by the keyspace. Strings
// and bytes are written as they are, other values as JSON. A record with
// a null value (a tombstone) deletes its key with SET and HSET, and is
// skipped by XADD and PUBLISH. SET and HSET need a record key; a record
// without one is handed to the runtime's error handling (errors.tolerance,
// the dead-letter topic). Each Put is sent as one pipeline and has
// completed when Put returns, so offsets are committed only for records
// Redis has; connection failures are retriable.
//
// The source reads a Redis stream with XREAD:
//
//	connector.class=RedisStreamSource
//	redis.uri=redis://127.0.0.1:6379
//	redis.stream.name=events              required
//	redis.stream.offset=0-0               where to start when no offset is stored: an entry id, 0-0 (the beginning) or $ (new entries only)
//	redis.stream.block=100                how long one XREAD waits for entries (ms)
//	redis.stream.count=50                 the most entries one XREAD returns
//	topic=${stream}                       the topic; ${stream} is replaced
//
// Each entry becomes a record keyed by its entry id, whose value is the
// entry's fields as a map of strings, with the headers redis.stream and
// redis.stream.id. The source partition is {"stream": name} and the
// offset {"offset": entry id}, so a restarted task continues after the last
// entry whose record was committed (at least once; Redis keeps the
// entries, no consumer group is needed). The source runs one task.
//
// Importing the package registers both connectors.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/eddy-streams/eddy/connectors"
)

// Classes of the two connectors.
const (
	SinkClass   = "io.eddystreams.connect.redis.RedisSinkConnector"
	SourceClass = "io.eddystreams.connect.redis.RedisStreamSourceConnector"
)

func validURI(v any) error {
	s, _ := v.(string)
	if _, err := goredis.ParseURL(s); err != nil {
		return fmt.Errorf("want redis://[user:password@]host:port[/db]: %w", err)
	}
	return nil
}

var uriKey = connectors.ConfigKey{Name: "redis.uri", Type: connectors.String, Default: "redis://localhost:6379",
	Importance: connectors.High, Validate: validURI,
	Doc: "The Redis server: redis://[user:password@]host:port[/db], or rediss:// for TLS."}

// SinkConfig defines the sink's settings.
var SinkConfig = connectors.NewConfigDef().
	Define(uriKey).
	Define(connectors.ConfigKey{Name: "redis.command", Type: connectors.String, Default: "SET", Importance: connectors.High,
		Validate: connectors.OneOf("SET", "HSET", "XADD", "PUBLISH"), Recommended: []string{"SET", "HSET", "XADD", "PUBLISH"},
		Doc: "The command each record becomes."}).
	Define(connectors.ConfigKey{Name: "redis.keyspace", Type: connectors.String, Default: "${topic}", Importance: connectors.Medium,
		Doc: "Key prefix for SET and HSET, the stream for XADD, the channel for PUBLISH; ${topic} is replaced by the record's topic."}).
	Define(connectors.ConfigKey{Name: "redis.separator", Type: connectors.String, Default: ":", Importance: connectors.Low,
		Doc: "Between the keyspace and the record key."})

var streamIDRE = regexp.MustCompile(`^(\$|[0-9]+-[0-9]+)$`)

// SourceConfig defines the stream source's settings.
var SourceConfig = connectors.NewConfigDef().
	Define(uriKey).
	Define(connectors.ConfigKey{Name: "redis.stream.name", Type: connectors.String, Required: true, Importance: connectors.High,
		Validate: func(v any) error {
			if s, _ := v.(string); s == "" {
				return errors.New("a stream name is needed")
			}
			return nil
		},
		Doc: "The stream to read."}).
	Define(connectors.ConfigKey{Name: "redis.stream.offset", Type: connectors.String, Default: "0-0", Importance: connectors.Medium,
		Validate: func(v any) error {
			if s, _ := v.(string); !streamIDRE.MatchString(s) {
				return errors.New("want an entry id (such as 0-0) or $")
			}
			return nil
		},
		Doc: "Where to start when no offset is stored: an entry id (0-0: the beginning) or $ (entries added from now on)."}).
	Define(connectors.ConfigKey{Name: "redis.stream.block", Type: connectors.Long, Default: "100", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "How long one XREAD waits for entries, in milliseconds."}).
	Define(connectors.ConfigKey{Name: "redis.stream.count", Type: connectors.Long, Default: "50", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "The most entries one XREAD returns."}).
	Define(connectors.ConfigKey{Name: "topic", Type: connectors.String, Default: "${stream}", Importance: connectors.High,
		Doc: "The topic to write to; ${stream} is replaced by the stream name."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: SinkClass, Aliases: []string{"RedisSink", "com.redis.kafka.connect.RedisSinkConnector"},
		Type: connectors.TypeSink, Config: SinkConfig,
		NewConnector: func() connectors.Connector { return &connector{tasks: -1} },
		NewSinkTask:  func() connectors.SinkTask { return &SinkTask{} },
	})
	connectors.Register(&connectors.Plugin{
		Class: SourceClass, Aliases: []string{"RedisStreamSource", "com.redis.kafka.connect.RedisStreamSourceConnector"},
		Type: connectors.TypeSource, Config: SourceConfig,
		NewConnector:  func() connectors.Connector { return &connector{tasks: 1} },
		NewSourceTask: func() connectors.SourceTask { return &SourceTask{} },
	})
}

// connector runs tasks identical tasks, or tasks.max of them when tasks < 0.
type connector struct{ tasks int }

func (*connector) Start(context.Context, connectors.Config) error { return nil }
func (c *connector) TaskConfigs(max int) ([]map[string]string, error) {
	n := c.tasks
	if n < 0 {
		n = max
	}
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out, nil
}
func (*connector) Stop() error { return nil }

func newClient(ctx context.Context, uri string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(uri)
	if err != nil {
		return nil, fmt.Errorf("redis.uri: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	c := goredis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, connectors.Retriable(fmt.Errorf("redis: connecting to %s: %w", opts.Addr, err))
	}
	return c, nil
}

// transient says whether a Redis error is worth retrying: network
// failures are, errors Redis answered with are not.
func transient(err error) bool {
	var ne net.Error
	var re goredis.Error
	switch {
	case errors.As(err, &re):
		return false
	case errors.As(err, &ne), errors.Is(err, goredis.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return strings.Contains(err.Error(), "connection") || strings.Contains(err.Error(), "EOF")
}

// text is the Redis form of a key or value.
func text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding %T as JSON: %w", v, err)
	}
	return string(b), nil
}

// SinkTask writes records to Redis.
type SinkTask struct {
	client   *goredis.Client
	command  string
	keyspace string
	sep      string
	tc       *connectors.TaskContext
}

func (t *SinkTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.command = strings.ToUpper(cfg.String("redis.command"))
	t.keyspace = cfg.String("redis.keyspace")
	t.sep = cfg.String("redis.separator")
	t.tc = tc
	var err error
	t.client, err = newClient(ctx, cfg.String("redis.uri"))
	return err
}

func (t *SinkTask) space(topic string) string {
	return strings.ReplaceAll(t.keyspace, "${topic}", topic)
}

func (t *SinkTask) key(r connectors.Record) (string, error) {
	if r.Key == nil {
		return "", fmt.Errorf("redis: %s needs a record key (record at %s-%d@%d has none)", t.command, r.Topic, r.Partition, r.Offset)
	}
	k, err := text(r.Key)
	if err != nil {
		return "", fmt.Errorf("redis: key of the record at %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if space := t.space(r.Topic); space != "" {
		k = space + t.sep + k
	}
	return k, nil
}

// valueFields turns a map value into field/value pairs, and any other
// value into the field "value".
func valueFields(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		s, err := text(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": s}, nil
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		s, err := text(x)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

// Put writes the records in one pipeline, in order.
func (t *SinkTask) Put(ctx context.Context, records []connectors.Record) error {
	pipe := t.client.Pipeline()
	queued := 0
	for _, r := range records {
		if err := t.queue(ctx, pipe, r); err != nil {
			if err := t.tc.Report(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		queued++
	}
	if queued == 0 {
		return nil
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		if transient(err) {
			return connectors.Retriable(fmt.Errorf("redis: writing %d records: %w", queued, err))
		}
		for _, c := range cmds {
			if c.Err() != nil {
				return fmt.Errorf("redis: %v: %w", c.Args(), c.Err())
			}
		}
		return fmt.Errorf("redis: writing %d records: %w", queued, err)
	}
	return nil
}

func (t *SinkTask) queue(ctx context.Context, pipe goredis.Pipeliner, r connectors.Record) error {
	switch t.command {
	case "SET", "HSET":
		k, err := t.key(r)
		if err != nil {
			return err
		}
		if r.Value == nil {
			pipe.Del(ctx, k)
			return nil
		}
		if t.command == "SET" {
			v, err := text(r.Value)
			if err != nil {
				return err
			}
			pipe.Set(ctx, k, v, 0)
			return nil
		}
		f, err := valueFields(r.Value)
		if err != nil {
			return fmt.Errorf("redis: HSET %s: %w", k, err)
		}
		if len(f) == 0 {
			pipe.Del(ctx, k)
			return nil
		}
		pipe.HSet(ctx, k, f)
	case "XADD":
		if r.Value == nil {
			return nil
		}
		f, err := valueFields(r.Value)
		if err != nil {
			return fmt.Errorf("redis: XADD %s: %w", t.space(r.Topic), err)
		}
		if len(f) == 0 {
			return nil // a stream entry needs a field
		}
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: t.space(r.Topic), Values: f})
	case "PUBLISH":
		if r.Value == nil {
			return nil
		}
		v, err := text(r.Value)
		if err != nil {
			return err
		}
		pipe.Publish(ctx, t.space(r.Topic), v)
	}
	return nil
}

// Flush has nothing to do: Put has written everything when it returns.
func (t *SinkTask) Flush(context.Context) error { return nil }

func (t *SinkTask) Stop() error {
	if t.client == nil {
		return nil
	}
	return t.client.Close()
}

// SourceTask reads one stream.
type SourceTask struct {
	client *goredis.Client
	stream string
	topic  string
	block  time.Duration
	count  int64
	last   string // id of the last entry read
}

func (t *SourceTask) partition() map[string]any { return map[string]any{"stream": t.stream} }

func (t *SourceTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.stream = cfg.String("redis.stream.name")
	t.topic = strings.ReplaceAll(cfg.String("topic"), "${stream}", t.stream)
	t.block = cfg.Millis("redis.stream.block")
	t.count = cfg.Long("redis.stream.count")
	var err error
	if t.client, err = newClient(ctx, cfg.String("redis.uri")); err != nil {
		return err
	}
	if off := tc.Offset(t.partition()); off != nil {
		if id, ok := off["offset"].(string); ok && id != "" {
			t.last = id
			return nil
		}
	}
	t.last = cfg.String("redis.stream.offset")
	if t.last == "$" {
		// Fix "now" once, so that entries added between polls are not missed.
		msgs, err := t.client.XRevRangeN(ctx, t.stream, "+", "-", 1).Result()
		if err != nil {
			t.client.Close()
			return fmt.Errorf("redis: reading the last entry of stream %s: %w", t.stream, err)
		}
		t.last = "0-0"
		if len(msgs) == 1 {
			t.last = msgs[0].ID
		}
	}
	return nil
}

func (t *SourceTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	res, err := t.client.XRead(ctx, &goredis.XReadArgs{Streams: []string{t.stream, t.last}, Count: t.count, Block: t.block}).Result()
	if errors.Is(err, goredis.Nil) || ctx.Err() != nil {
		return nil, nil
	}
	if err != nil {
		err = fmt.Errorf("redis: XREAD %s %s: %w", t.stream, t.last, err)
		if transient(err) {
			return nil, connectors.Retriable(err)
		}
		return nil, err
	}
	var out []connectors.SourceRecord
	for _, s := range res {
		for _, m := range s.Messages {
			value := make(map[string]any, len(m.Values))
			for k, v := range m.Values {
				value[k] = v
			}
			ts := time.Now()
			if ms, _, ok := strings.Cut(m.ID, "-"); ok {
				if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
					ts = time.UnixMilli(n)
				}
			}
			out = append(out, connectors.SourceRecord{
				Record: connectors.Record{Topic: t.topic, Key: m.ID, Value: value, Timestamp: ts,
					Headers: []connectors.Header{{Key: "redis.stream", Value: []byte(t.stream)}, {Key: "redis.stream.id", Value: []byte(m.ID)}}},
				SourcePartition: t.partition(), SourceOffset: map[string]any{"offset": m.ID},
			})
			t.last = m.ID
		}
	}
	return out, nil
}

func (t *SourceTask) Stop() error {
	if t.client == nil {
		return nil
	}
	return t.client.Close()
}
