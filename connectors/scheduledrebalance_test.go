package connectors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// startLog records which worker started which task, and whether a task
// ever ran in two places at once.
type startLog struct {
	mu      sync.Mutex
	starts  map[string]map[int]int // worker → task → starts
	running map[int]int
	overlap bool
}

func newStartLog() *startLog {
	return &startLog{starts: map[string]map[int]int{}, running: map[int]int{}}
}

// snapshot copies the starts so far: which worker started the tasks
// first depends on whether the connector was created before the second
// worker joined.
func (l *startLog) snapshot() map[string]map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := map[string]map[int]int{}
	for w, m := range l.starts {
		c[w] = map[int]int{}
		for id, n := range m {
			c[w][id] = n
		}
	}
	return c
}

// since returns the starts of task on worker after the snapshot before.
func (l *startLog) since(before map[string]map[int]int, worker string, task int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.starts[worker][task] - before[worker][task]
}

// loggedSource is an idle source task that reports to a startLog.
type loggedSource struct {
	log    *startLog
	worker string
	id     int
}

func (s *loggedSource) Start(_ context.Context, _ connectors.Config, tc *connectors.TaskContext) error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.id = tc.Task
	if s.log.starts[s.worker] == nil {
		s.log.starts[s.worker] = map[int]int{}
	}
	s.log.starts[s.worker][s.id]++
	s.log.running[s.id]++
	if s.log.running[s.id] > 1 {
		s.log.overlap = true
	}
	return nil
}

func (s *loggedSource) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
	return nil, nil
}

func (s *loggedSource) Stop() error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.running[s.id]--
	return nil
}

// delayedWorker starts a worker of group "delayed" whose tasks report to
// log, with the given scheduled rebalance delay.
func delayedWorker(t *testing.T, addr, id string, delay time.Duration, log *startLog) *connectors.Worker {
	ps := connectors.NewPlugins()
	ps.Add(&connectors.Plugin{Class: "test.LoggedSource", Type: connectors.TypeSource, Config: connectors.NewConfigDef(),
		NewConnector:  func() connectors.Connector { return nTasksConnector{} },
		NewSourceTask: func() connectors.SourceTask { return &loggedSource{log: log, worker: id} }})
	return startWorker(t, addr, func(c *connectors.WorkerConfig) {
		c.GroupID, c.WorkerID, c.Plugins, c.ScheduledRebalanceMaxDelay = "delayed", id, ps, delay
	})
}

// taskStates maps a connector's task ids to "STATE@worker" as w reports
// them.
func taskStates(w *connectors.Worker, name string) map[int]string {
	st, err := w.Status(name)
	if err != nil {
		return nil
	}
	m := map[int]string{}
	for _, task := range st.Tasks {
		m[*task.ID] = task.State + "@" + task.WorkerID
	}
	return m
}

// splitTasks starts w1 and w2 with the given delay, creates a connector
// of 4 tasks and waits for 2 to run on each; it returns the ids of w2's.
func splitTasks(t *testing.T, addr string, delay time.Duration, log *startLog) (w1, w2 *connectors.Worker, onW2 []int) {
	w1 = delayedWorker(t, addr, "w1", delay, log)
	w2 = delayedWorker(t, addr, "w2", delay, log)
	if _, _, err := w1.CreateConnector("idle", map[string]string{"connector.class": "test.LoggedSource", "tasks.max": "4"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "2 tasks on each worker", func() bool {
		m := tasksByWorker(w1, "idle")
		return m["w1"] == 2 && m["w2"] == 2
	})
	st, _ := w1.Status("idle")
	for _, task := range st.Tasks {
		if task.WorkerID == "w2" {
			onW2 = append(onW2, *task.ID)
		}
	}
	return w1, w2, onW2
}

// awaitHeld waits until w1 reports w2's tasks (ids) UNASSIGNED and two
// tasks running on itself: the rebalance after w2 left has happened and
// w1's assignment holds w2's tasks back. (Were they given to w1, they
// would be in w1's assignment and not reported UNASSIGNED.)
func awaitHeld(t *testing.T, w1 *connectors.Worker, ids []int) {
	t.Helper()
	waitFor(t, 30*time.Second, "w2's tasks held back", func() bool {
		m := taskStates(w1, "idle")
		for _, id := range ids {
			if m[id] != connectors.StateUnassigned+"@w2" {
				return false
			}
		}
		return tasksByWorker(w1, "idle")["w1"] == 2
	})
}

// A worker that leaves (here Close, a graceful shutdown, which counts as
// leaving as in Kafka Connect) has its tasks held back for the scheduled
// rebalance delay; when the delay ends, with no other change in the
// group, the leader rebalances and they run on the remaining worker.
func TestScheduledRebalanceDelayExpires(t *testing.T) {
	addr := startBroker(t)
	log := newStartLog()
	w1, w2, onW2 := splitTasks(t, addr, 3*time.Second, log)
	before := log.snapshot()

	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	awaitHeld(t, w1, onW2)
	for _, id := range onW2 {
		if n := log.since(before, "w1", id); n != 0 {
			t.Errorf("task %d started on w1 during the delay", id)
		}
	}
	// The delay ends: w1 rejoins by itself and gets them.
	waitFor(t, 30*time.Second, "all 4 tasks on w1 after the delay", func() bool { return tasksByWorker(w1, "idle")["w1"] == 4 })
	for _, id := range onW2 {
		if n := log.since(before, "w1", id); n != 1 {
			t.Errorf("task %d was started %d times on w1, want 1", id, n)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.overlap {
		t.Error("a task ran on both workers at once")
	}
}

// A worker that comes back within the delay (the same worker id) gets its
// tasks back; the other worker never runs them, and keeps running its own
// without a restart.
func TestScheduledRebalanceWorkerReturns(t *testing.T) {
	addr := startBroker(t)
	log := newStartLog()
	w1, w2, onW2 := splitTasks(t, addr, time.Minute, log)
	before := log.snapshot()

	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	awaitHeld(t, w1, onW2)
	w2 = delayedWorker(t, addr, "w2", time.Minute, log)
	// (w2 answers for its own tasks from memory; w1 would repeat the old
	// w2's last status records as soon as they are no longer held.)
	waitFor(t, 30*time.Second, "w2's tasks running on it again", func() bool {
		m := taskStates(w2, "idle")
		for _, id := range onW2 {
			if m[id] != connectors.StateRunning+"@w2" {
				return false
			}
		}
		return tasksByWorker(w2, "idle")["w2"] == 2 && tasksByWorker(w1, "idle")["w1"] == 2
	})
	for id := range 4 {
		want := map[string]int{} // w1's tasks were not restarted
		for _, x := range onW2 {
			if x == id {
				want["w2"] = 1 // by the restarted w2
			}
		}
		for _, worker := range []string{"w1", "w2"} {
			if got := log.since(before, worker, id); got != want[worker] {
				t.Errorf("task %d was started %d times on %s since w2 left, want %d", id, got, worker, want[worker])
			}
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.overlap {
		t.Error("a task ran on both workers at once")
	}
}
