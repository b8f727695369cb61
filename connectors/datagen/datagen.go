// Package datagen provides a source connector generating realistic test
// data — page views, orders or users — at a limited rate and
// deterministically: record i of a connector depends only on random.seed
// and i, so two runs with the same seed produce the same records, and a
// restarted task continues the sequence where its committed offset left
// it. Settings follow Confluent's datagen connector where they overlap:
//
//	connector.class=DatagenSource
//	kafka.topic=pageviews
//	quickstart=pageviews          pageviews | orders | users
//	records.per.second=100        for the whole connector; 0: unlimited
//	iterations=-1                 records in all; -1: forever
//	random.seed=42
//	tasks.max=1                   tasks share the sequence: task k of n makes records k, k+n, ...
//
// Values are maps (JSON objects with the default converter):
//
//	pageviews  key user_id   {"viewtime":ms,"user_id":"User_3","page_id":"Page_17","url":"/docs"}
//	orders     key order_id  {"order_id":12,"ordertime":ms,"customer_id":"User_8","item":"Item_42","quantity":2,"price":19.99}
//	users      key user_id   {"user_id":"User_5","registertime":ms,"region":"Region_3","gender":"FEMALE"}
//
// Timestamps inside values count from 2026-01-01T00:00:00Z in steps
// derived from i, so they are deterministic too; the record timestamp is
// the wall clock. Importing the package registers the connector.
package datagen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// Class is the connector's class name.
const Class = "io.eddystreams.connect.datagen.DatagenConnector"

// Quickstarts are the schemas offered.
var Quickstarts = []string{"pageviews", "orders", "users"}

// Config defines the connector's settings.
var Config = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "kafka.topic", Type: connectors.String, Importance: connectors.High,
		Doc: "Topic to write to; the quickstart's name when unset."}).
	Define(connectors.ConfigKey{Name: "quickstart", Type: connectors.String, Default: "pageviews", Importance: connectors.High,
		Validate: connectors.OneOf(Quickstarts...), Recommended: Quickstarts, Doc: "Which schema to generate."}).
	Define(connectors.ConfigKey{Name: "records.per.second", Type: connectors.Double, Default: "10", Importance: connectors.Medium,
		Doc: "Rate limit for the whole connector; 0 means as fast as possible."}).
	Define(connectors.ConfigKey{Name: "iterations", Type: connectors.Long, Default: "-1", Importance: connectors.Medium,
		Doc: "Number of records to generate in all; -1 means forever."}).
	Define(connectors.ConfigKey{Name: "random.seed", Type: connectors.Long, Default: "42", Importance: connectors.Low,
		Doc: "Seed of the generator; the same seed gives the same records."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: Class, Aliases: []string{"DatagenSource", "Datagen"}, Type: connectors.TypeSource, Config: Config,
		NewConnector:  func() connectors.Connector { return &connector{} },
		NewSourceTask: func() connectors.SourceTask { return &Task{} },
	})
}

type connector struct{}

func (*connector) Start(context.Context, connectors.Config) error { return nil }
func (*connector) Stop() error                                    { return nil }
func (*connector) TaskConfigs(n int) ([]map[string]string, error) {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"task.index": strconv.Itoa(i), "task.count": strconv.Itoa(n)}
	}
	return out, nil
}

// Task generates one share of the sequence.
type Task struct {
	topic, quickstart string
	seed              uint64
	iterations        int64
	index, count      int64
	interval          time.Duration // between this task's records
	next              int64         // next global record index this task makes
	due               time.Time
}

func (t *Task) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.quickstart = cfg.String("quickstart")
	t.topic = cfg.String("kafka.topic")
	if t.topic == "" {
		t.topic = t.quickstart
	}
	t.seed = uint64(cfg.Long("random.seed"))
	t.iterations = cfg.Long("iterations")
	raw := cfg.Props()
	t.index, _ = strconv.ParseInt(raw["task.index"], 10, 64)
	t.count, _ = strconv.ParseInt(raw["task.count"], 10, 64)
	if t.count < 1 {
		t.count = 1
	}
	if rate := cfg.Double("records.per.second"); rate > 0 {
		t.interval = time.Duration(float64(time.Second) * float64(t.count) / rate)
	}
	t.next = t.index
	if off := tc.Offset(t.partition()); off != nil {
		if n, ok := off["next"].(int64); ok {
			t.next = n
		} else if f, ok := off["next"].(float64); ok {
			t.next = int64(f)
		}
	}
	t.due = time.Now()
	return nil
}

func (t *Task) partition() map[string]any {
	return map[string]any{"quickstart": t.quickstart, "task": t.index, "tasks": t.count}
}

func (t *Task) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	if t.iterations >= 0 && t.next >= t.iterations {
		<-ctx.Done() // done: idle until stopped
		return nil, nil
	}
	now := time.Now()
	if wait := t.due.Sub(now); wait > 0 {
		tm := time.NewTimer(min(wait, time.Second))
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return nil, nil
		}
		now = time.Now()
	}
	// Everything due by now, up to 1000 records a poll.
	var recs []connectors.SourceRecord
	for len(recs) < 1000 && (t.interval == 0 || !t.due.After(now)) {
		if t.iterations >= 0 && t.next >= t.iterations {
			break
		}
		key, value := Generate(t.quickstart, t.seed, t.next)
		t.next += t.count
		t.due = t.due.Add(t.interval)
		recs = append(recs, connectors.SourceRecord{
			Record:          connectors.Record{Topic: t.topic, Key: key, Value: value, Timestamp: now},
			SourcePartition: t.partition(),
			SourceOffset:    map[string]any{"next": t.next},
		})
	}
	if t.interval > 0 && now.Sub(t.due) > time.Second {
		t.due = now // don't burst after a pause
	}
	return recs, nil
}

func (t *Task) Stop() error { return nil }

var (
	epoch   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	urls    = []string{"/", "/pricing", "/docs", "/blog", "/signup", "/login", "/about", "/careers"}
	genders = []string{"MALE", "FEMALE", "OTHER"}
)

// Generate returns record i of a quickstart for a seed: the same inputs
// always give the same key and value.
func Generate(quickstart string, seed uint64, i int64) (key any, value map[string]any) {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	ts := epoch + i*100 + int64(r.IntN(100))
	switch quickstart {
	case "orders":
		customer := fmt.Sprintf("User_%d", r.IntN(100))
		return i, map[string]any{
			"order_id": i, "ordertime": ts, "customer_id": customer,
			"item": fmt.Sprintf("Item_%d", r.IntN(500)), "quantity": int64(1 + r.IntN(5)),
			"price": float64(100+r.IntN(9900)) / 100,
		}
	case "users":
		user := fmt.Sprintf("User_%d", i%1000)
		return user, map[string]any{
			"user_id": user, "registertime": ts,
			"region": fmt.Sprintf("Region_%d", 1+r.IntN(9)), "gender": genders[r.IntN(len(genders))],
		}
	default: // pageviews
		user := fmt.Sprintf("User_%d", r.IntN(100))
		return user, map[string]any{
			"viewtime": ts, "user_id": user, "page_id": fmt.Sprintf("Page_%d", r.IntN(100)),
			"url": urls[r.IntN(len(urls))],
		}
	}
}
