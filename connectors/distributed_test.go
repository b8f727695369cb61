package connectors_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/datagen"
)

// tasksByWorker counts a connector's RUNNING tasks per worker id.
func tasksByWorker(w *connectors.Worker, name string) map[string]int {
	st, err := w.Status(name)
	if err != nil {
		return nil
	}
	m := map[string]int{}
	for _, t := range st.Tasks {
		if t.State == connectors.StateRunning {
			m[t.WorkerID]++
		}
	}
	return m
}

// Two workers of one group share a connector's tasks; stopping one moves
// its tasks to the other, which continues from the offsets the first one
// wrote: every record of the sequence arrives.
func TestTwoWorkersShareTasks(t *testing.T) {
	addr := startBroker(t)
	group := func(id string) func(*connectors.WorkerConfig) {
		return func(c *connectors.WorkerConfig) {
			c.GroupID, c.WorkerID = "connect-cluster", id
			c.ScheduledRebalanceMaxDelay = -1 // w2's tasks move to w1 as soon as it leaves
		}
	}
	w1 := startWorker(t, addr, group("w1"))
	w2 := startWorker(t, addr, group("w2"))
	const total = 4000
	if _, _, err := w1.CreateConnector("gen", map[string]string{"connector.class": "DatagenSource", "quickstart": "orders",
		"kafka.topic": "orders", "tasks.max": "4", "records.per.second": "2000", "iterations": "4000"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tasks on both workers", func() bool {
		m := tasksByWorker(w1, "gen")
		return m["w1"] == 2 && m["w2"] == 2
	})
	// The other worker answers for the same connector.
	if info, err := w2.Connector("gen"); err != nil || len(info.Tasks) != 4 {
		t.Fatalf("w2 sees %+v, %v", info, err)
	}
	// w2 learns of w1's tasks from the status topic, a moment later.
	waitFor(t, 10*time.Second, "w2's view of the tasks", func() bool {
		m := tasksByWorker(w2, "gen")
		return m["w1"] == 2 && m["w2"] == 2
	})
	// Restarts are accepted by any worker (they travel through the configs
	// topic to the worker running the task), and the group settles again.
	var remote int
	st, _ := w1.Status("gen")
	for _, task := range st.Tasks {
		if task.WorkerID == "w2" {
			remote = *task.ID
		}
	}
	if err := w1.RestartTask("gen", remote); err != nil {
		t.Fatalf("restarting task %d, which runs on w2, through w1: %v", remote, err)
	}
	if err := w2.Restart("gen", true, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tasks on both workers after the restart", func() bool {
		m := tasksByWorker(w1, "gen")
		return m["w1"] == 2 && m["w2"] == 2
	})
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "all tasks on w1", func() bool { return tasksByWorker(w1, "gen")["w1"] == 4 })

	// Every order id arrives (at least once).
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition("orders", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	seen := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < total {
		select {
		case m := <-pc.Messages():
			seen[string(m.Key)] = true
		case <-timeout:
			t.Fatalf("%d distinct orders of %d arrived", len(seen), total)
		}
	}
}
