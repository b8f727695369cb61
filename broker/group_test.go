package broker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupTestConfig makes group tests quick: no initial rebalance delay and
// short sessions allowed.
func groupTestConfig(c *Config) {
	c.GroupInitialRebalanceDelay = -1
	c.GroupMinSessionTimeout = 500 * time.Millisecond
	c.OffsetsTopicPartitions = 4
}

func produceN(t testing.TB, addr, topic string, partitions int32, n int) {
	t.Helper()
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if partitions > 0 {
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatalf("create topic: %v", err)
		}
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// saramaMember is a sarama consumer-group member that reports what it
// consumes and which partitions it owns.
type saramaMember struct {
	name     string
	seen     func(partition int32, offset int64)
	mu       sync.Mutex
	claims   []int32
	setups   int
	setupsCh chan struct{}
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.claims = slices.Clone(s.Claims()[groupTopic])
	m.setups++
	m.mu.Unlock()
	select {
	case m.setupsCh <- struct{}{}:
	default:
	}
	return nil
}

func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.claims = nil
	m.mu.Unlock()
	return nil
}

func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m.seen(msg.Partition, msg.Offset)
		s.MarkMessage(msg, "")
	}
	return nil
}

const groupTopic = "group-events"

func saramaGroupConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_0_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 2 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	return cfg
}

// TestGroupChildMember is not a test: TestSaramaGroupRebalances runs it in
// a child process as a group member it can SIGKILL.
func TestGroupChildMember(t *testing.T) {
	addr := os.Getenv("EDDY_GROUP_CHILD_ADDR")
	if addr == "" {
		t.Skip("runs only as a child of TestSaramaGroupRebalances")
	}
	cg, err := sarama.NewConsumerGroup([]string{addr}, "g1", saramaGroupConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	m := &saramaMember{name: "child", setupsCh: make(chan struct{}, 1), seen: func(p int32, o int64) {
		mu.Lock()
		fmt.Fprintf(out, "rec %d %d\n", p, o)
		out.Flush()
		mu.Unlock()
	}}
	for {
		if err := cg.Consume(context.Background(), []string{groupTopic}, m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSaramaGroupRebalances: three sarama members share an 8-partition
// topic; one leaves, one crashes (its session expires), a new one joins;
// every record is consumed and at the end each partition has exactly one
// owner.
func TestSaramaGroupRebalances(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	const perPhase = 2000
	produceN(t, b.Addr(), groupTopic, 8, perPhase)

	var seenMu sync.Mutex
	seen := map[[2]int64]bool{}
	record := func(p int32, o int64) {
		seenMu.Lock()
		seen[[2]int64{int64(p), o}] = true
		seenMu.Unlock()
	}
	seenCount := func() int {
		seenMu.Lock()
		defer seenMu.Unlock()
		return len(seen)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	type running struct {
		m      *saramaMember
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) running {
		cg, err := sarama.NewConsumerGroup([]string{b.Addr()}, "g1", saramaGroupConfig())
		if err != nil {
			t.Fatal(err)
		}
		m := &saramaMember{name: name, seen: record, setupsCh: make(chan struct{}, 1)}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer cg.Close()
			for cctx.Err() == nil {
				if err := cg.Consume(cctx, []string{groupTopic}, m); err != nil && cctx.Err() == nil {
					t.Errorf("%s: consume: %v", name, err)
					return
				}
			}
		}()
		return running{m, cancel, done}
	}

	// A member in a child process, to crash.
	child := exec.Command(os.Args[0], "-test.run=^TestGroupChildMember$")
	child.Env = append(os.Environ(), "EDDY_GROUP_CHILD_ADDR="+b.Addr())
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	childRecords := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p int32
			var o int64
			if _, err := fmt.Sscanf(sc.Text(), "rec %d %d", &p, &o); err == nil {
				record(p, o)
				select {
				case childRecords <- struct{}{}:
				default:
				}
			}
		}
	}()

	a, bm := start("a"), start("b")
	waitFor("the first records", func() bool { return seenCount() > 0 })

	// a leaves cleanly.
	a.cancel()
	<-a.done

	// More records, then the child crashes once it has consumed some.
	produceN(t, b.Addr(), groupTopic, 0, perPhase)
	select {
	case <-childRecords:
	case <-ctx.Done():
		t.Fatal("the child member consumed nothing")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	// A new member joins; more records.
	c := start("c")
	produceN(t, b.Addr(), groupTopic, 0, perPhase)
	defer func() {
		bm.cancel()
		c.cancel()
		<-bm.done
		<-c.done
	}()

	waitFor("every record to be consumed", func() bool { return seenCount() == 3*perPhase })
	// After the child's session expired, b and c own the 8 partitions
	// between them, each exactly once.
	waitFor("b and c to own all 8 partitions", func() bool {
		bm.m.mu.Lock()
		c.m.mu.Lock()
		defer bm.m.mu.Unlock()
		defer c.m.mu.Unlock()
		all := append(slices.Clone(bm.m.claims), c.m.claims...)
		slices.Sort(all)
		return slices.Equal(all, []int32{0, 1, 2, 3, 4, 5, 6, 7})
	})

	adm := kadm.NewClient(newKgo(t, b.Addr()))
	described, err := adm.DescribeGroups(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	d := described["g1"]
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Errorf("group g1: state %s with %d members, want Stable with 2", d.State, len(d.Members))
	}
}

func newKgo(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestCooperativeStickyKeepsPartitions: franz-go members with the
// cooperative-sticky balancer; when a second member joins, the first loses
// only the partitions that move, never one it keeps.
func TestCooperativeStickyKeepsPartitions(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "coop", 8, 800)

	type tracker struct {
		mu       sync.Mutex
		owned    map[int32]bool
		revoked  []int32
		assigned int
	}
	newMember := func(tr *tracker) *kgo.Client {
		tr.owned = map[int32]bool{}
		return newKgo(t, b.Addr(),
			kgo.ConsumerGroup("coop-group"), kgo.ConsumeTopics("coop"),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				tr.mu.Lock()
				defer tr.mu.Unlock()
				for _, p := range m["coop"] {
					tr.owned[p] = true
				}
				tr.assigned++
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				tr.mu.Lock()
				defer tr.mu.Unlock()
				for _, p := range m["coop"] {
					delete(tr.owned, p)
					tr.revoked = append(tr.revoked, p)
				}
			}),
		)
	}
	owned := func(tr *tracker) []int32 {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		var ps []int32
		for p := range tr.owned {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		return ps
	}
	poll := func(cl *kgo.Client, stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			cl.PollFetches(pctx)
			cancel()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()

	var ta, tb tracker
	ca := newMember(&ta)
	wg.Add(1)
	go func() { defer wg.Done(); poll(ca, stop) }()
	for len(owned(&ta)) != 8 {
		if ctx.Err() != nil {
			t.Fatal("first member never owned all 8 partitions")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := owned(&ta)

	cb := newMember(&tb)
	wg.Add(1)
	go func() { defer wg.Done(); poll(cb, stop) }()
	for {
		a, bb := owned(&ta), owned(&tb)
		if len(a)+len(bb) == 8 && len(bb) > 0 && len(a) > 0 {
			all := append(slices.Clone(a), bb...)
			slices.Sort(all)
			if slices.Equal(all, before) {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no stable split: a=%v b=%v", a, bb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for _, p := range ta.revoked {
		if ta.owned[p] {
			t.Errorf("partition %d was revoked from the first member although it kept it", p)
		}
	}
	if len(ta.revoked) != 8-len(ta.owned) {
		t.Errorf("first member lost %d partitions (%v) but gave up %d", len(ta.revoked), ta.revoked, 8-len(ta.owned))
	}
}

// TestCommittedOffsetsSurviveRestart commits offsets, restarts the broker
// on the same directory and fetches them back; lag is computed from them.
func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *Config) { c.DataDir = dir; groupTestConfig(c) }
	b := startBroker(t, cfg)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "commits", 3, 30)
	adm := kadm.NewClient(newKgo(t, b.Addr()))
	want := kadm.Offsets{}
	want.Add(kadm.Offset{Topic: "commits", Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "m0"})
	want.Add(kadm.Offset{Topic: "commits", Partition: 2, At: 7, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "restart-group", want)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if lag := b.GroupLag("restart-group"); len(lag) != 2 || lag[0].Lag != 5 || lag[1].Lag != 3 {
		t.Errorf("lag = %+v, want partition 0 lag 5 and partition 2 lag 3", lag)
	}
	b.Close()

	b2 := startBroker(t, cfg)
	adm2 := kadm.NewClient(newKgo(t, b2.Addr()))
	got, err := adm2.FetchOffsets(ctx, "restart-group")
	if err != nil || got.Error() != nil {
		t.Fatalf("fetch: %v %v", err, got.Error())
	}
	for _, o := range []kadm.Offset{{Topic: "commits", Partition: 0, At: 5, Metadata: "m0"}, {Topic: "commits", Partition: 2, At: 7}} {
		r, ok := got.Lookup(o.Topic, o.Partition)
		if !ok || r.At != o.At || r.Metadata != o.Metadata {
			t.Errorf("after restart %s/%d = %+v (found %v), want offset %d metadata %q", o.Topic, o.Partition, r.Offset, ok, o.At, o.Metadata)
		}
	}
	if _, ok := got.Lookup("commits", 1); ok {
		t.Errorf("partition 1 was never committed but has an offset")
	}

	// Group administration: the group is listed, can be deleted while empty,
	// and its offsets go with it.
	listed, err := adm2.ListGroups(ctx)
	if err != nil || !slices.Contains(listed.Groups(), "restart-group") {
		t.Fatalf("list groups: %v %v", listed.Groups(), err)
	}
	del, err := adm2.DeleteGroup(ctx, "restart-group")
	if err != nil || del.Err != nil {
		t.Fatalf("delete group: %v %v", err, del.Err)
	}
	got, err = adm2.FetchOffsets(ctx, "restart-group")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("offsets left after delete: %v", got)
	}
	if _, err := adm2.DeleteGroup(ctx, "restart-group"); err == nil || !strings.Contains(err.Error(), "GROUP_ID_NOT_FOUND") {
		t.Errorf("deleting a missing group: %v, want GROUP_ID_NOT_FOUND", err)
	}
}

// TestConcurrentFirstCommits: many groups committing at once on a fresh
// broker all succeed, although the first of them creates
// __consumer_offsets while the others wait for it.
func TestConcurrentFirstCommits(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "first-commits", 1, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			adm := kadm.NewClient(newKgo(t, b.Addr()))
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "first-commits", Partition: 0, At: 1, LeaderEpoch: -1})
			resp, err := adm.CommitOffsets(ctx, fmt.Sprintf("first-group-%d", i), offs)
			if err == nil {
				err = resp.Error()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("commit: %v", err)
		}
	}
}
