package connectors_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
)

// rebalanceTimeout is the group's rebalance timeout in the join test:
// far above the test's deadline, so a Close that waits for the join to
// end fails the test by timing out.
const rebalanceTimeout = 5 * time.Minute

// joinStuckMember joins group as a member of the eddy-connect protocol
// that never heartbeats nor rejoins: once another member joins, the
// coordinator holds that member's JoinGroup until the rebalance timeout.
func joinStuckMember(t *testing.T, addr, group string) {
	t.Helper()
	conf := sarama.NewConfig()
	conf.Version = sarama.V2_8_0_0
	b := sarama.NewBroker(addr)
	if err := b.Open(conf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ud, _ := json.Marshal(map[string]string{"worker_id": "zz-stuck"})
	req := &sarama.JoinGroupRequest{Version: 1, GroupId: group, ProtocolType: "consumer",
		SessionTimeout:   int32(rebalanceTimeout / time.Millisecond),
		RebalanceTimeout: int32(rebalanceTimeout / time.Millisecond)}
	if err := req.AddGroupProtocolMetadata("eddy-connect",
		&sarama.ConsumerGroupMemberMetadata{Topics: []string{"connect-configs"}, UserData: ud}); err != nil {
		t.Fatal(err)
	}
	join, err := b.JoinGroup(req)
	if err != nil {
		t.Fatal(err)
	}
	if join.Err != sarama.ErrNoError {
		t.Fatalf("JoinGroup: %v", join.Err)
	}
	sync := &sarama.SyncGroupRequest{GroupId: group, GenerationId: join.GenerationId, MemberId: join.MemberId}
	if err := sync.AddGroupAssignmentMember(join.MemberId, &sarama.ConsumerGroupMemberAssignment{}); err != nil {
		t.Fatal(err)
	}
	if resp, err := b.SyncGroup(sync); err != nil || resp.Err != sarama.ErrNoError {
		t.Fatalf("SyncGroup: %v, %v", resp, err)
	}
}

// groupState describes group: its state and its members' client ids.
func groupState(admin sarama.ClusterAdmin, group string) (string, []string) {
	ds, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(ds) != 1 {
		return "", nil
	}
	var clients []string
	for _, m := range ds[0].Members {
		clients = append(clients, m.ClientId)
	}
	return ds[0].State, clients
}

// Close returns promptly while the distributed worker is joining its
// group, even when the coordinator would hold the join until the group's
// rebalance timeout (here 5 minutes, waiting for a member that never
// rejoins), and the worker leaves the group.
func TestCloseWhileJoining(t *testing.T) {
	addr := startBroker(t)
	const group = "closejoin"
	joinStuckMember(t, addr, group)

	w, err := connectors.NewWorker(context.Background(), connectors.WorkerConfig{
		Brokers: []string{addr}, GroupID: group, WorkerID: "w1", OffsetsPartitions: 1, StatusPartitions: 1,
		Logger: testLogger(t),
		Sarama: func(sc *sarama.Config) {
			sc.Consumer.Group.Rebalance.Timeout = rebalanceTimeout
			// Nor does the client give up on the held JoinGroup first.
			sc.Net.ReadTimeout = 2 * rebalanceTimeout
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin([]string{addr}, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The worker's JoinGroup is held: the group waits for the stuck member.
	waitFor(t, 20*time.Second, "the group to be rebalancing", func() bool {
		state, _ := groupState(admin, group)
		return state == "PreparingRebalance"
	})

	if _, clients := groupState(admin, group); !slices.Contains(clients, "eddy-connect-worker") {
		t.Fatalf("the joining worker is not a member of the group: %v", clients)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Logf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("Close did not return while the worker was joining its group (rebalance timeout %s)", rebalanceTimeout)
	}
	// The worker left: only the stuck member remains.
	waitFor(t, 10*time.Second, "the worker to leave the group", func() bool {
		_, clients := groupState(admin, group)
		return !slices.Contains(clients, "eddy-connect-worker")
	})
}
