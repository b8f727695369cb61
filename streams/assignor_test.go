package streams

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/IBM/sarama"
)

// tasksOf makes the tasks of sub-topologies reading the given topics, all
// with n partitions.
func tasksOf(n int32, subs ...[]string) map[TaskID][]topicPartition {
	out := map[TaskID][]topicPartition{}
	for st, topics := range subs {
		for p := range n {
			for _, topic := range topics {
				id := TaskID{SubTopology: st, Partition: p}
				out[id] = append(out[id], topicPartition{topic, p})
			}
		}
	}
	return out
}

// membersOwning makes group members whose user data say they have the
// given tasks open.
func membersOwning(t *testing.T, owned map[string][]TaskID) map[string]sarama.ConsumerGroupMemberMetadata {
	t.Helper()
	out := map[string]sarama.ConsumerGroupMemberMetadata{}
	for m, ids := range owned {
		if ids == nil {
			ids = []TaskID{}
		}
		ud, err := json.Marshal(ids)
		if err != nil {
			t.Fatal(err)
		}
		out[m] = sarama.ConsumerGroupMemberMetadata{UserData: ud}
	}
	return out
}

// taskOwners reads the plan back as task -> member, failing when a task's
// partitions are split between members or a task is not assigned.
func taskOwners(t *testing.T, plan sarama.BalanceStrategyPlan, tasks map[TaskID][]topicPartition) map[TaskID]string {
	t.Helper()
	byTP := map[topicPartition]string{}
	for m, topics := range plan {
		for topic, ps := range topics {
			for _, p := range ps {
				tp := topicPartition{topic, p}
				if prev, dup := byTP[tp]; dup {
					t.Fatalf("%v assigned to %s and %s", tp, prev, m)
				}
				byTP[tp] = m
			}
		}
	}
	owners := map[TaskID]string{}
	for id, tps := range tasks {
		for _, tp := range tps {
			m, ok := byTP[tp]
			if !ok {
				t.Fatalf("%v of task %s not assigned", tp, id)
			}
			if o, seen := owners[id]; seen && o != m {
				t.Fatalf("task %s split between %s and %s", id, o, m)
			}
			owners[id] = m
		}
	}
	return owners
}

func loads(owners map[TaskID]string) map[string]int {
	out := map[string]int{}
	for _, m := range owners {
		out[m]++
	}
	return out
}

func TestPlanTasks(t *testing.T) {
	// Sub-topology 0 joins two co-partitioned topics, 1 reads one.
	tasks := tasksOf(4, []string{"orders", "customers"}, []string{"app-rekeyed-repartition"})

	t.Run("no members", func(t *testing.T) {
		if plan := planTasks(nil, tasks); len(plan) != 0 {
			t.Fatalf("plan %v", plan)
		}
	})

	t.Run("co-partitioned and balanced", func(t *testing.T) {
		members := membersOwning(t, map[string][]TaskID{"a": nil, "b": nil, "c": nil})
		owners := taskOwners(t, planTasks(members, tasks), tasks)
		got := loads(owners)
		counts := []int{got["a"], got["b"], got["c"]}
		slices.Sort(counts)
		if fmt.Sprint(counts) != "[2 3 3]" {
			t.Errorf("8 tasks over 3 members: %v", got)
		}
	})

	t.Run("sticky", func(t *testing.T) {
		// a and b had four tasks each; c joins: it takes two, one from
		// each, and nothing else moves.
		var ofA, ofB []TaskID
		for id := range tasks {
			if id.Partition < 2 {
				ofA = append(ofA, id)
			} else {
				ofB = append(ofB, id)
			}
		}
		members := membersOwning(t, map[string][]TaskID{"a": ofA, "b": ofB, "c": nil})
		owners := taskOwners(t, planTasks(members, tasks), tasks)
		got := loads(owners)
		if got["c"] != 2 || got["a"] != 3 || got["b"] != 3 {
			t.Errorf("loads %v, want a=3 b=3 c=2", got)
		}
		moved := 0
		for _, id := range ofA {
			if owners[id] != "a" {
				moved++
			}
		}
		for _, id := range ofB {
			if owners[id] != "b" {
				moved++
			}
		}
		if moved != 2 {
			t.Errorf("%d tasks moved, want 2", moved)
		}
	})

	t.Run("balanced although previous owners had more", func(t *testing.T) {
		// Two tasks over three members, all of them claimed by a.
		small := tasksOf(1, []string{"x"}, []string{"y"})
		var all []TaskID
		for id := range small {
			all = append(all, id)
		}
		members := membersOwning(t, map[string][]TaskID{"a": all, "b": nil, "c": nil})
		got := loads(taskOwners(t, planTasks(members, small), small))
		if got["a"] != 1 || got["b"]+got["c"] != 1 {
			t.Errorf("loads %v", got)
		}
	})

	t.Run("four tasks, three members, two previous owners", func(t *testing.T) {
		// The case a cap of ceil(tasks/members) got wrong: a and b keep
		// two each and c gets nothing.
		small := tasksOf(4, []string{"x"})
		members := membersOwning(t, map[string][]TaskID{
			"a": {{0, 0}, {0, 1}}, "b": {{0, 2}, {0, 3}}, "c": nil,
		})
		got := loads(taskOwners(t, planTasks(members, small), small))
		if got["c"] != 1 || got["a"]+got["b"] != 3 {
			t.Errorf("loads %v, want one task for c", got)
		}
	})

	t.Run("unreadable user data", func(t *testing.T) {
		members := map[string]sarama.ConsumerGroupMemberMetadata{
			"a": {UserData: []byte("not json")}, "b": {UserData: nil},
		}
		got := loads(taskOwners(t, planTasks(members, tasks), tasks))
		if got["a"] != 4 || got["b"] != 4 {
			t.Errorf("loads %v", got)
		}
	})
}
