package broker

import (
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPartitionsBeyondFileLimit asks for as many partitions as the
// process may open files: CreateTopics and CreatePartitions refuse with
// POLICY_VIOLATION and a message that says what to raise, instead of
// running the broker out of file descriptors. (validate_only, so a broken
// check creates nothing.)
func TestPartitionsBeyondFileLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("no open file limit to read: %v", err)
	}
	if rl.Cur >= maxPartitions {
		t.Skipf("the open file limit (%d) is above the partition cap (%d): the cap refuses first", rl.Cur, maxPartitions)
	}
	n := int32(rl.Cur)
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr())
	createTopic(t, ctx, cl, "few", 1)

	create := kmsg.NewPtrCreateTopicsRequest()
	create.ValidateOnly = true
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "many", n, 1
	create.Topics = append(create.Topics, rt)
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, code int16, msg *string) {
		t.Helper()
		if code != kerr.PolicyViolation.Code || msg == nil || !strings.Contains(*msg, "ulimit -n") {
			m := "<nil>"
			if msg != nil {
				m = *msg
			}
			t.Errorf("%s with %d partitions: %v %q, want POLICY_VIOLATION saying to raise ulimit -n", what, n, kerr.ErrorForCode(code), m)
		}
	}
	check("CreateTopics", cresp.Topics[0].ErrorCode, cresp.Topics[0].ErrorMessage)

	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.ValidateOnly = true
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = "few", n
	grow.Topics = append(grow.Topics, gt)
	gresp, err := grow.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("CreatePartitions", gresp.Topics[0].ErrorCode, gresp.Topics[0].ErrorMessage)

	// A modest count still passes.
	create.Topics[0].NumPartitions = 8
	if cresp, err = create.RequestWith(ctx, cl); err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Errorf("validating 8 partitions: %v %v", err, kerr.ErrorForCode(cresp.Topics[0].ErrorCode))
	}
}
