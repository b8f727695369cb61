package broker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeAll reads every record of topic from the start until the end
// offsets seen now (read_committed when committed is set).
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, committed bool) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(newKgo(t, addr))
	var ends kadm.ListedOffsets
	var err error
	if committed {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		t.Fatal(err)
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newKgo(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	var out []*kgo.Record
	done := func() bool {
		pos := map[int32]int64{}
		for _, r := range out {
			pos[r.Partition] = r.Offset + 1
		}
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if pos[o.Partition] < o.Offset {
				ok = false
			}
		})
		return ok
	}
	for !done() {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("consume %s: timed out with %d records", topic, len(out))
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		// Markers occupy offsets: stop once nothing more arrives and the
		// positions passed every data record.
		if fs.NumRecords() == 0 && len(out) > 0 {
			break
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			// Nothing at all to read: maybe the range holds only markers.
			var any bool
			ends.Each(func(o kadm.ListedOffset) { any = any || o.Offset > 0 })
			if !any {
				break
			}
		}
	}
	return out
}

// TestTransactionsAbortInvisibleToReadCommitted: an aborted transaction's
// records are invisible to read_committed consumers and visible to
// read_uncommitted ones; a committed one is visible to both.
func TestTransactionsAbortInvisibleToReadCommitted(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "txn", 2, 0)
	cl := newKgo(t, b.Addr(), kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"))

	run := func(n int, prefix string, commit kgo.TransactionEndTry) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	run(10, "aborted", kgo.TryAbort)
	run(5, "committed", kgo.TryCommit)

	count := func(recs []*kgo.Record) (aborted, committed int) {
		for _, r := range recs {
			switch string(r.Value)[:7] {
			case "aborted":
				aborted++
			case "committ":
				committed++
			}
		}
		return
	}
	if a, c := count(consumeAll(t, ctx, b.Addr(), "txn", true)); a != 0 || c != 5 {
		t.Errorf("read_committed saw %d aborted and %d committed records, want 0 and 5", a, c)
	}
	if a, c := count(consumeAll(t, ctx, b.Addr(), "txn", false)); a != 10 || c != 5 {
		t.Errorf("read_uncommitted saw %d aborted and %d committed records, want 10 and 5", a, c)
	}

	adm := kadm.NewClient(newKgo(t, b.Addr()))
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(listed) != 1 {
		t.Fatalf("list transactions: %v %v", listed, err)
	}
	for _, tx := range listed {
		if tx.TxnID != "tx-1" || tx.State != "CompleteCommit" {
			t.Errorf("transaction %+v, want tx-1 in CompleteCommit", tx)
		}
	}
	described, err := adm.DescribeTransactions(ctx, "tx-1", "no-such-txn")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := described["tx-1"]; !ok || d.Err != nil || d.State != "CompleteCommit" || d.ProducerID < 0 {
		t.Errorf("DescribeTransactions tx-1 = %+v", d)
	}
	if d := described["no-such-txn"]; d.Err == nil {
		t.Errorf("DescribeTransactions of an unknown id gave no error: %+v", d)
	}
}

// TestTransactionTimeoutAborts: a producer that disappears inside a
// transaction holds back read_committed consumers only until the
// transaction times out; then it is aborted and the producer fenced.
func TestTransactionTimeoutAborts(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "stuck", 1, 0)
	zombie := newKgo(t, b.Addr(), kgo.TransactionalID("tx-zombie"), kgo.DefaultProduceTopic("stuck"),
		kgo.TransactionTimeout(1500*time.Millisecond))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, kgo.StringRecord("never committed")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := b.topics.partition("stuck", 0)
	if lso := p.lastStableOffset(); lso != 0 {
		t.Fatalf("last stable offset %d with a transaction open at 0", lso)
	}
	// Another producer commits after it.
	produceN(t, b.Addr(), "stuck", 0, 3)
	for p.lastStableOffset() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the open transaction was never aborted")
		case <-time.After(50 * time.Millisecond):
		}
	}
	recs := consumeAll(t, ctx, b.Addr(), "stuck", true)
	if len(recs) != 3 {
		t.Errorf("read_committed saw %d records, want the 3 non-transactional ones", len(recs))
	}
	for _, r := range recs {
		if string(r.Value) == "never committed" {
			t.Error("the timed-out transaction's record is visible")
		}
	}
	// The zombie is fenced: committing fails.
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("the zombie producer committed after its transaction was aborted")
	}
}

// TestExactlyOnceConsumeTransformProduce runs franz-go's transactional
// consume-transform-produce loop (GroupTransactSession) over the input,
// restarting the consumer several times, and checks that the output holds
// every input exactly once when read with read_committed.
func TestExactlyOnceConsumeTransformProduce(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	n := 100000
	if testing.Short() {
		n = 10000
	}
	produceN(t, b.Addr(), "eos-in", 4, n)
	produceN(t, b.Addr(), "eos-out", 4, 0)

	// Each session stops after a share of the input, as a consumer that is
	// restarted would; small fetches make sessions end mid-stream.
	total := 0
	runSession := func(stopAfter int) {
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(b.Addr()),
			kgo.TransactionalID("eos-app"),
			kgo.ConsumerGroup("eos-group"),
			kgo.ConsumeTopics("eos-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(3*time.Second),
			kgo.HeartbeatInterval(300*time.Millisecond),
			kgo.RequireStableFetchOffsets(),
			kgo.FetchMaxPartitionBytes(16<<10),
			kgo.FetchMaxBytes(64<<10),
		)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		moved := 0
		for moved < stopAfter && total < n {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fs := sess.PollFetches(pctx)
			cancel()
			if ctx.Err() != nil {
				t.Fatalf("timed out after moving %d records (%d in this session)", total, moved)
			}
			if fs.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Fatalf("begin: %v", err)
			}
			var batch int
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Topic: "eos-out", Key: r.Value, Value: r.Value}, nil)
				batch++
			})
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err != nil {
				t.Fatalf("end: %v", err)
			}
			if committed {
				moved += batch
				total += batch
			}
		}
	}
	for total < n {
		runSession(n / 4)
	}

	seen := make(map[int]int, n)
	for _, r := range consumeAll(t, ctx, b.Addr(), "eos-out", true) {
		i, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("bad output %q", r.Value)
		}
		seen[i]++
	}
	var missing, dup int
	for i := range n {
		switch seen[i] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("output: %d inputs missing, %d duplicated (of %d)", missing, dup, n)
	}
}

// TestTransactionSurvivesBrokerKill: a broker SIGKILLed while a transaction
// is open comes back with the transaction still open (it was recorded),
// and the coordinator aborts it on timeout; nothing of it ever becomes
// visible to read_committed.
func TestTransactionSurvivesBrokerKill(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	child := startCrashChild(t, ctx, dir)
	produceN(t, child.addr, "killed", 2, 0)
	cl := newKgo(t, child.addr, kgo.TransactionalID("tx-killed"), kgo.DefaultProduceTopic("killed"),
		kgo.TransactionTimeout(1500*time.Millisecond), kgo.RecordRetries(0), kgo.RequestRetries(0))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("in-flight-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	child.kill(t)
	cl.Close()

	b := startBroker(t, func(c *Config) { c.DataDir = dir })
	produceN(t, b.Addr(), "killed", 0, 4) // committed, non-transactional
	for _, p := range b.topics.partitionsOf(b.topics.get("killed")) {
		for p.lastStableOffset() < p.log.EndOffset() {
			select {
			case <-ctx.Done():
				t.Fatal("the transaction open at the crash was never aborted")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	recs := consumeAll(t, ctx, b.Addr(), "killed", true)
	if len(recs) != 4 {
		t.Errorf("read_committed saw %d records after the crash, want 4", len(recs))
	}
	for _, r := range recs {
		if len(r.Value) > 9 && string(r.Value[:9]) == "in-flight" {
			t.Errorf("record %q of the killed transaction is visible", r.Value)
		}
	}
}

// TestTransactionDecidedBeforeCrashIsCompleted: a transaction whose commit
// was decided (PrepareCommit recorded) but whose markers were not written
// when the broker stopped is committed when it starts again.
func TestTransactionDecidedBeforeCrashIsCompleted(t *testing.T) {
	dir := t.TempDir()
	withDir := func(c *Config) { c.DataDir = dir; groupTestConfig(c) }
	b := startBroker(t, withDir)
	ctx := testCtx(t)
	produceN(t, b.Addr(), "decided", 1, 0)
	cl := newKgo(t, b.Addr(), kgo.TransactionalID("tx-decided"), kgo.DefaultProduceTopic("decided"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("decided")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Operators see the open transaction and its producer.
	adm := kadm.NewClient(newKgo(t, b.Addr()))
	producers, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"decided": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var open bool
	producers.EachProducer(func(p kadm.DescribedProducer) { open = open || p.CurrentTxnStartOffset == 0 })
	if !open {
		t.Errorf("DescribeProducers shows no transaction open at offset 0: %+v", producers)
	}

	// Record the commit decision as EndTxn's first step would, then stop.
	tm := b.txns.get("tx-decided")
	tm.mu.Lock()
	tm.state = 2 // PrepareCommit
	if err := b.txns.persistLocked(ctx, tm); err != nil {
		t.Fatal(err)
	}
	tm.mu.Unlock()
	cl.Close()
	b.Close()

	b2 := startBroker(t, withDir)
	recs := consumeAll(t, ctx, b2.Addr(), "decided", true)
	if len(recs) != 1 || string(recs[0].Value) != "decided" {
		t.Fatalf("read_committed after restart saw %d records, want the committed one", len(recs))
	}
	if p := b2.topics.partition("decided", 0); p.lastStableOffset() != p.log.EndOffset() {
		t.Errorf("last stable offset %d, log end %d: the transaction is still open", p.lastStableOffset(), p.log.EndOffset())
	}
}

// TestCompactionDropsAbortedTransactions: on a compacted topic, a value
// written by an aborted transaction neither survives compaction nor
// shadows the committed value of its key, and compaction stops at the last
// stable offset.
func TestCompactionDropsAbortedTransactions(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	adm := kadm.NewClient(newKgo(t, b.Addr()))
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("1024"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}, "compacted-txn"); err != nil {
		t.Fatal(err)
	}
	plain := newKgo(t, b.Addr(), kgo.DefaultProduceTopic("compacted-txn"))
	put := func(k, v string) {
		if err := plain.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	put("k", "committed")
	tx := newKgo(t, b.Addr(), kgo.TransactionalID("tx-compact"), kgo.DefaultProduceTopic("compacted-txn"))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("aborted")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // roll segments past the transaction
		put(fmt.Sprintf("filler-%d", i), string(make([]byte, 100)))
	}
	b.compactAll()

	var values []string
	for _, r := range consumeAll(t, ctx, b.Addr(), "compacted-txn", false) {
		if string(r.Key) == "k" {
			values = append(values, string(r.Value))
		}
	}
	if len(values) != 1 || values[0] != "committed" {
		t.Errorf("after compaction key k has values %q, want only the committed one", values)
	}
}
