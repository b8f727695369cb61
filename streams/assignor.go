package streams

import (
	"encoding/json"
	"sort"

	"github.com/IBM/sarama"
)

// assignor is the app's sarama.BalanceStrategy. It assigns whole tasks, so
// that the partitions of co-partitioned inputs (same sub-topology, same
// partition number) go to one member, and it keeps tasks with the member
// that has them open (members say which in their subscription's user data)
// as long as that member does not get more than its share: every member
// gets the number of tasks divided by the number of members, some one more.
type assignor struct{ a *App }

// BalanceStrategyName is the name of the streams apps' group protocol.
const BalanceStrategyName = "eddy-streams"

func (s *assignor) Name() string { return BalanceStrategyName }

// SubscriptionUserData tells the leader which tasks this member has open.
func (s *assignor) SubscriptionUserData([]string) ([]byte, error) {
	return json.Marshal(s.a.ownedTasks())
}

func (s *assignor) AssignmentData(string, map[string][]int32, int32) ([]byte, error) {
	return nil, nil
}

func (s *assignor) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	tasks := s.a.tasksFor(topics)
	return planTasks(members, tasks), nil
}

func planTasks(members map[string]sarama.ConsumerGroupMemberMetadata, tasks map[TaskID][]topicPartition) sarama.BalanceStrategyPlan {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	plan := sarama.BalanceStrategyPlan{}
	if len(ids) == 0 {
		return plan
	}
	prev := map[TaskID]string{}
	for _, m := range ids {
		var owned []TaskID
		if json.Unmarshal(members[m].UserData, &owned) == nil {
			for _, t := range owned {
				prev[t] = m
			}
		}
	}
	order := make([]TaskID, 0, len(tasks))
	for id := range tasks {
		order = append(order, id)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].Partition != order[j].Partition {
			return order[i].Partition < order[j].Partition
		}
		return order[i].SubTopology < order[j].SubTopology
	})
	// Balanced within one task: every member gets base tasks, extra of
	// them one more. Tasks stay with their previous owner up to base, then
	// up to base+1 while extra allows; the rest go to the least loaded.
	base, extra := len(order)/len(ids), len(order)%len(ids)
	load := map[string]int{}
	owner := map[TaskID]string{}
	for _, t := range order {
		if m, ok := prev[t]; ok && load[m] < base {
			owner[t] = m
			load[m]++
		}
	}
	for _, t := range order {
		if _, done := owner[t]; done {
			continue
		}
		if m, ok := prev[t]; ok && load[m] == base && extra > 0 {
			owner[t] = m
			load[m]++
			extra--
		}
	}
	for _, t := range order {
		if _, ok := owner[t]; ok {
			continue
		}
		best := ""
		for _, m := range ids {
			if load[m] > base || load[m] == base && extra == 0 {
				continue
			}
			if best == "" || load[m] < load[best] {
				best = m
			}
		}
		if load[best] == base {
			extra--
		}
		owner[t] = best
		load[best]++
	}
	for _, t := range order {
		for _, tp := range tasks[t] {
			plan.Add(owner[t], tp.topic, tp.partition)
		}
	}
	return plan
}
