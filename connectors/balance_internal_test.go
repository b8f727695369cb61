package connectors

import (
	"reflect"
	"testing"
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
		if got := balanceTasks(c.members, conns); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}
