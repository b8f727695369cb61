package connectors

import (
	"reflect"
	"testing"
	"time"
)

// The leader's task balance: sticky within each member's share, the rest
// spread in member order, a task moving away from a member still running
// it given to nobody for one generation.
func TestBalanceTasks(t *testing.T) {
	conns := []planConnector{{"a", 4}, {"b", 2}}
	cases := []struct {
		name    string
		members []planMember
		want    map[string]map[string][]int
	}{
		{"first assignment",
			[]planMember{{id: "m1", worker: "w1"}, {id: "m2", worker: "w2"}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2}}, "m2": {"a": {3}, "b": {0, 1}}}},
		{"a second worker joins: half of w1's tasks are revoked, nothing assigned to w2 yet",
			[]planMember{{id: "m1", worker: "w1", running: map[string][]int{"a": {0, 1, 2, 3}, "b": {0, 1}}}, {id: "m2", worker: "w2"}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2}}, "m2": {}}},
		{"after the revocation the freed tasks go to w2",
			[]planMember{{id: "m1", worker: "w1", running: map[string][]int{"a": {0, 1, 2}}}, {id: "m2", worker: "w2"}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2}}, "m2": {"a": {3}, "b": {0, 1}}}},
		{"a worker leaves: its tasks go to the others, the rest stay",
			[]planMember{{id: "m1", worker: "w1", running: map[string][]int{"a": {0, 1}}}, {id: "m3", worker: "w3", running: map[string][]int{"b": {1}}}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2}}, "m3": {"a": {3}, "b": {0, 1}}}},
		{"a task claimed twice stays with the first claimant and is revoked from the other",
			[]planMember{{id: "m1", worker: "w1", running: map[string][]int{"a": {0}}}, {id: "m2", worker: "w2", running: map[string][]int{"a": {0}, "b": {0}}}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2}}, "m2": {"a": {3}, "b": {0, 1}}}},
		{"tasks of a shrunk connector are ignored",
			[]planMember{{id: "m1", worker: "w1", running: map[string][]int{"b": {5}, "gone": {0}}}},
			map[string]map[string][]int{"m1": {"a": {0, 1, 2, 3}, "b": {0, 1}}}},
	}
	for _, c := range cases {
		if got := balanceTasks(c.members, conns, nil, nil); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

// The scheduled rebalance delay: the tasks of a worker that left are held
// back (given to nobody) until the delay ends, given back to the worker
// if it returns first, and assigned to the others, a worker that joined
// meanwhile first, when it ends.
func TestAssignHoldsLostTasks(t *testing.T) {
	conns := []planConnector{{"a", 4}}
	t0 := time.Unix(1000, 0)
	const delay = time.Minute
	type step struct {
		what     string
		at       time.Duration // after t0
		members  []planMember
		want     map[string]map[string][]int
		wantHeld map[string][]int
	}
	w1 := func(running ...int) planMember {
		return planMember{id: "m1", worker: "w1", running: map[string][]int{"a": running}}
	}
	w2 := func(id string, running ...int) planMember {
		return planMember{id: id, worker: "w2", running: map[string][]int{"a": running}}
	}
	start := step{"two workers share the tasks", 0, []planMember{w1(), w2("m2")},
		map[string]map[string][]int{"m1": {"a": {0, 1}}, "m2": {"a": {2, 3}}}, nil}
	cases := []struct {
		name  string
		steps []step
	}{
		{"the worker comes back in time", []step{start,
			{"w2 leaves: its tasks are held", 0, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}}, map[string][]int{"a": {2, 3}}},
			{"still held later in the delay", 30 * time.Second, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}}, map[string][]int{"a": {2, 3}}},
			{"w2 is back (another member id): it gets them again", 40 * time.Second, []planMember{w1(0, 1), w2("m2b")},
				map[string]map[string][]int{"m1": {"a": {0, 1}}, "m2b": {"a": {2, 3}}}, nil},
			{"nothing is held any more: the delay is over", 2 * delay, []planMember{w1(0, 1), w2("m2b", 2, 3)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}, "m2b": {"a": {2, 3}}}, nil},
		}},
		{"the delay ends", []step{start,
			{"w2 leaves", 0, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}}, map[string][]int{"a": {2, 3}}},
			{"a rebalance just before the deadline keeps them held", delay - time.Millisecond, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}}, map[string][]int{"a": {2, 3}}},
			{"at the deadline they go to w1", delay, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1, 2, 3}}}, nil},
			{"w2 coming back later is a new worker: it gets its share by balance", 2 * delay, []planMember{w1(0, 1, 2, 3), w2("m2c")},
				map[string]map[string][]int{"m1": {"a": {0, 1}}, "m2c": {}}, nil},
		}},
		{"a new worker joins during the delay", []step{start,
			{"w2 leaves", 0, []planMember{w1(0, 1)},
				map[string]map[string][]int{"m1": {"a": {0, 1}}}, map[string][]int{"a": {2, 3}}},
			{"w3 joins: it gets nothing yet, and w1 keeps its tasks", 10 * time.Second,
				[]planMember{w1(0, 1), {id: "m3", worker: "w3"}},
				map[string]map[string][]int{"m1": {"a": {0, 1}}, "m3": {}}, map[string][]int{"a": {2, 3}}},
			{"when the delay ends the held tasks go to w3", delay,
				[]planMember{w1(0, 1), {id: "m3", worker: "w3"}},
				map[string]map[string][]int{"m1": {"a": {0, 1}}, "m3": {"a": {2, 3}}}, nil},
		}},
	}
	for _, c := range cases {
		a := taskAssignor{delay: delay}
		for _, s := range c.steps {
			got, held := a.assign(s.members, conns, t0.Add(s.at))
			if want := s.want; !reflect.DeepEqual(got, want) || !reflect.DeepEqual(held, s.wantHeld) {
				t.Errorf("%s, %s:\n got %v held %v\nwant %v held %v", c.name, s.what, got, held, s.want, s.wantHeld)
			}
		}
	}
}

// Without a delay, the tasks of a worker that left are assigned at once.
func TestAssignWithoutDelay(t *testing.T) {
	conns := []planConnector{{"a", 4}}
	a := taskAssignor{delay: -1}
	now := time.Unix(1000, 0)
	a.assign([]planMember{{id: "m1", worker: "w1"}, {id: "m2", worker: "w2"}}, conns, now)
	got, held := a.assign([]planMember{{id: "m1", worker: "w1", running: map[string][]int{"a": {0, 1}}}}, conns, now)
	if want := map[string]map[string][]int{"m1": {"a": {0, 1, 2, 3}}}; !reflect.DeepEqual(got, want) || held != nil {
		t.Errorf("got %v held %v, want %v and nothing held", got, held, want)
	}
}

// scheduled.rebalance.max.delay.ms sets the delay; its 0 (reassign at
// once) is WorkerConfig's negative, as WorkerConfig's zero is the default.
func TestScheduledRebalanceDelayProperty(t *testing.T) {
	for v, want := range map[string]time.Duration{"2500": 2500 * time.Millisecond, "0": -1} {
		cfg, _, ignored, err := WorkerConfigFromProperties(WorkerConfig{}, map[string]string{"scheduled.rebalance.max.delay.ms": v})
		if err != nil || len(ignored) > 0 || cfg.ScheduledRebalanceMaxDelay != want {
			t.Errorf("%s: got %v (ignored %v, %v), want %v", v, cfg.ScheduledRebalanceMaxDelay, ignored, err, want)
		}
	}
	if _, _, _, err := WorkerConfigFromProperties(WorkerConfig{}, map[string]string{"scheduled.rebalance.max.delay.ms": "-5"}); err == nil {
		t.Error("a negative delay was accepted")
	}
	cfg := WorkerConfig{Brokers: []string{"x:9092"}}
	if err := cfg.fill(); err != nil || cfg.ScheduledRebalanceMaxDelay != 5*time.Minute {
		t.Errorf("default: %v, %v; want 5m", cfg.ScheduledRebalanceMaxDelay, err)
	}
}
