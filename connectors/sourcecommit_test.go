package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
)

// commitLog is what a commitTask tells the test; the task itself keeps
// its own state unsynchronized, as the runtime calls Poll, Commit and
// Stop from one goroutine (the race detector checks that).
type commitLog struct {
	mu       sync.Mutex
	commits  int      // Commit calls
	covered  int      // records covered by the last Commit
	problems []string // Commit calls made before the offsets were stored
	events   []string // "commit" and "stop", in order
}

func (l *commitLog) add(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *commitLog) get() (commits, covered int, problems, events []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.commits, l.covered, append([]string(nil), l.problems...), append([]string(nil), l.events...)
}

// commitTask returns records {"n": 1}, {"n": 2}, ... up to total, a few
// per Poll, and checks in each Commit that the offset of the last record
// it returned is in the offsets topic.
type commitTask struct {
	log      *commitLog
	total    int
	failFrom int // Commit calls up to this one fail
	readBack func(ctx context.Context) (int, error)

	returned int // last n returned by Poll
	commits  int
	inPoll   atomic.Bool
}

func (t *commitTask) Start(context.Context, connectors.Config, *connectors.TaskContext) error {
	return nil
}

func (t *commitTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	t.inPoll.Store(true)
	defer t.inPoll.Store(false)
	if t.returned >= t.total {
		// Nothing more: block a little, as a task without data does.
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		return nil, nil
	}
	var out []connectors.SourceRecord
	for range 3 {
		if t.returned >= t.total {
			break
		}
		t.returned++
		out = append(out, connectors.SourceRecord{
			Record:          connectors.Record{Topic: "commit-out", Value: fmt.Sprint(t.returned)},
			SourcePartition: map[string]any{"p": "x"},
			SourceOffset:    map[string]any{"n": t.returned},
		})
	}
	return out, nil
}

func (t *commitTask) Commit(ctx context.Context) error {
	t.commits++
	if t.inPoll.Load() {
		t.log.add(func() { t.log.problems = append(t.log.problems, "Commit during Poll") })
	}
	stored, err := t.readBack(ctx)
	returned := t.returned
	t.log.add(func() {
		t.log.commits++
		t.log.events = append(t.log.events, "commit")
		switch {
		case err != nil:
			t.log.problems = append(t.log.problems, fmt.Sprintf("reading the offsets topic: %v", err))
		case stored < returned:
			t.log.problems = append(t.log.problems, fmt.Sprintf("Commit with %d records returned, but the offsets topic holds n=%d", returned, stored))
		default:
			t.log.covered = returned
		}
	})
	if t.commits <= t.failFrom {
		return errors.New("commit failed on purpose")
	}
	return nil
}

func (t *commitTask) Stop() error {
	t.log.add(func() { t.log.events = append(t.log.events, "stop") })
	return nil
}

// storedN reads the offsets topic from the start to its end and returns
// the "n" of the last offset stored for connector's partition {"p":"x"}
// (0 when there is none).
func storedN(ctx context.Context, client sarama.Client, topic, connector string) (int, error) {
	key, _ := json.Marshal([]any{connector, map[string]any{"p": "x"}})
	if err := client.RefreshMetadata(topic); err != nil {
		return 0, err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	n := 0
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return 0, err
		}
		err = func() error {
			defer pc.Close()
			timeout := time.NewTimer(time.Minute)
			defer timeout.Stop()
			for {
				select {
				case m := <-pc.Messages():
					if string(m.Key) == string(key) {
						var off struct{ N int }
						if err := json.Unmarshal(m.Value, &off); err != nil {
							return err
						}
						n = off.N
					}
					if m.Offset+1 >= end {
						return nil
					}
				case <-timeout.C:
					return fmt.Errorf("%s[%d]: timed out before offset %d", topic, p, end)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

func commitPlugins(t *testing.T, addr string, log *commitLog, total, failFrom int) *connectors.Plugins {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ps := connectors.NewPlugins()
	ps.Add(&connectors.Plugin{Class: "test.CommitSource", Type: connectors.TypeSource, Config: connectors.NewConfigDef(),
		NewConnector: func() connectors.Connector { return oneTaskConnector{} },
		NewSourceTask: func() connectors.SourceTask {
			return &commitTask{log: log, total: total, failFrom: failFrom,
				readBack: func(ctx context.Context) (int, error) {
					return storedN(ctx, client, "connect-offsets", "committer")
				}}
		}})
	return ps
}

// Commit is called after each flush that wrote offsets, only once the
// offsets are in the offsets topic, between Polls; a failing Commit is
// logged and the task goes on.
func TestSourceCommitAfterOffsetFlush(t *testing.T) {
	addr := startBroker(t)
	log := &commitLog{}
	const total = 60
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) {
		c.Plugins = commitPlugins(t, addr, log, total, 2)
		c.OffsetsPartitions = 1
		c.OffsetFlushInterval = 20 * time.Millisecond
	})
	if _, _, err := w.CreateConnector("committer", map[string]string{
		"connector.class": "test.CommitSource", "value.converter": "org.apache.kafka.connect.storage.StringConverter"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "a Commit covering every record", func() bool {
		commits, covered, problems, _ := log.get()
		if len(problems) > 0 {
			t.Fatalf("after %d commits: %v", commits, problems)
		}
		return covered == total && commits > 2
	})
	// The first two Commits failed; the task kept running and was called again.
	st, err := w.TaskStatus("committer", 0)
	if err != nil || st.State != connectors.StateRunning {
		t.Fatalf("task status %+v, %v; want RUNNING despite the failed Commits", st, err)
	}
	if got := consumeAll(t, addr, "commit-out", total); string(got[total-1].Value) != fmt.Sprint(total) {
		t.Fatalf("last record %q", got[total-1].Value)
	}
	if err := w.DeleteConnector("committer"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the task stopped", func() bool {
		_, _, _, events := log.get()
		return len(events) > 0 && events[len(events)-1] == "stop"
	})
	_, _, problems, events := log.get()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	// A clean stop commits before Stop.
	if len(events) < 2 || events[len(events)-2] != "commit" {
		t.Fatalf("events end with %v, want a commit before the stop", events[max(0, len(events)-3):])
	}
}

// With a flush interval too long to pass, the offsets of a cleanly
// stopped task are written by the final flush, and Commit follows them,
// before Stop.
func TestSourceCommitOnCleanStop(t *testing.T) {
	addr := startBroker(t)
	log := &commitLog{}
	const total = 10
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) {
		c.Plugins = commitPlugins(t, addr, log, total, 0)
		c.OffsetsPartitions = 1
		c.OffsetFlushInterval = time.Hour
	})
	if _, _, err := w.CreateConnector("committer", map[string]string{
		"connector.class": "test.CommitSource", "value.converter": "org.apache.kafka.connect.storage.StringConverter"}, false); err != nil {
		t.Fatal(err)
	}
	consumeAll(t, addr, "commit-out", total)
	if commits, _, _, _ := log.get(); commits != 0 {
		t.Fatalf("%d Commits before any flush", commits)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	commits, covered, problems, events := log.get()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if commits != 1 || covered != total || len(events) != 2 || events[0] != "commit" || events[1] != "stop" {
		t.Fatalf("after Close: %d commits covering %d records, events %v; want one commit covering %d, then stop",
			commits, covered, events, total)
	}
}
