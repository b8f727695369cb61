package connectors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// idleSource tasks produce nothing; they record how often each task id was
// started and whether one ever ran in two places at once.
type idleSource struct{ id int }

var idle = struct {
	mu      sync.Mutex
	starts  map[int]int
	running map[int]int
	overlap bool
}{starts: map[int]int{}, running: map[int]int{}}

func (s *idleSource) Start(_ context.Context, _ connectors.Config, tc *connectors.TaskContext) error {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	s.id = tc.Task
	idle.starts[s.id]++
	idle.running[s.id]++
	if idle.running[s.id] > 1 {
		idle.overlap = true
	}
	return nil
}

func (s *idleSource) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
	return nil, nil
}

func (s *idleSource) Stop() error {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	idle.running[s.id]--
	return nil
}

type nTasksConnector struct{}

func (nTasksConnector) Start(context.Context, connectors.Config) error { return nil }
func (nTasksConnector) TaskConfigs(n int) ([]map[string]string, error) {
	return make([]map[string]string, n), nil
}
func (nTasksConnector) Stop() error { return nil }

func idlePlugins() *connectors.Plugins {
	ps := connectors.NewPlugins()
	ps.Add(&connectors.Plugin{Class: "test.IdleSource", Type: connectors.TypeSource, Config: connectors.NewConfigDef(),
		NewConnector: func() connectors.Connector { return nTasksConnector{} }, NewSourceTask: func() connectors.SourceTask { return &idleSource{} }})
	return ps
}

// Rebalances are incremental and cooperative: when a second worker joins,
// half the tasks move to it (each stopped on the first worker before it
// starts on the second) and the others keep running, never restarted;
// when it leaves they come back.
func TestCooperativeRebalance(t *testing.T) {
	idle.mu.Lock()
	idle.starts, idle.running, idle.overlap = map[int]int{}, map[int]int{}, false
	idle.mu.Unlock()
	addr := startBroker(t)
	group := func(id string) func(*connectors.WorkerConfig) {
		return func(c *connectors.WorkerConfig) {
			c.GroupID, c.WorkerID, c.Plugins = "coop", id, idlePlugins()
			c.ScheduledRebalanceMaxDelay = -1 // w2's tasks go back to w1 as soon as it leaves
		}
	}
	w1 := startWorker(t, addr, group("w1"))
	if _, _, err := w1.CreateConnector("idle", map[string]string{"connector.class": "test.IdleSource", "tasks.max": "4"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "4 tasks on w1", func() bool { return tasksByWorker(w1, "idle")["w1"] == 4 })

	w2 := startWorker(t, addr, group("w2"))
	waitFor(t, 30*time.Second, "2 tasks on each worker", func() bool {
		m := tasksByWorker(w1, "idle")
		return m["w1"] == 2 && m["w2"] == 2
	})
	st, _ := w1.Status("idle")
	idle.mu.Lock()
	for _, task := range st.Tasks {
		want := 1 // stayed on w1: started once
		if task.WorkerID == "w2" {
			want = 2 // moved: once on w1, once on w2
		}
		if got := idle.starts[*task.ID]; got != want {
			t.Errorf("task %d (now on %s) was started %d times, want %d", *task.ID, task.WorkerID, got, want)
		}
	}
	idle.mu.Unlock()

	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "all 4 tasks back on w1", func() bool { return tasksByWorker(w1, "idle")["w1"] == 4 })
	idle.mu.Lock()
	defer idle.mu.Unlock()
	if idle.overlap {
		t.Error("a task ran on both workers at once")
	}
	total := 0
	for _, n := range idle.starts {
		total += n
	}
	if total != 8 { // 4 at first, 2 moved to w2, 2 back
		t.Errorf("%d task starts in all, want 8: %v", total, idle.starts)
	}
}
