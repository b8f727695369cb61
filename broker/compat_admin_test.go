package broker

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompatAdminTopics drives topic management with franz-go's kadm:
// create, list, add partitions (and use the new ones), delete, and
// re-create a deleted topic, which must come back empty.
func TestCompatAdminTopics(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	// kadm answers listings from the client's metadata cache (up to 5s
	// old); after a topic changes, ask through a new client.
	fresh := func() *kadm.Client { return kadm.NewClient(newKgoClient(t, b.Addr())) }

	created, err := adm.CreateTopics(ctx, 3, 1, nil, "admin-a", "admin-b")
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, name := range []string{"admin-a", "admin-b"} {
		c, ok := created[name]
		switch {
		case !ok:
			t.Fatalf("create topics: no response for %s", name)
		case c.Err != nil:
			t.Fatalf("create %s: %v (%s)", name, c.Err, c.ErrMessage)
		case c.NumPartitions != 3 || c.ReplicationFactor != 1:
			t.Errorf("create %s: %d partitions, replication %d; want 3, 1", name, c.NumPartitions, c.ReplicationFactor)
		case c.ID == (kadm.TopicID{}):
			t.Errorf("create %s: no topic id", name)
		}
	}

	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if got := topics.Names(); !slices.Equal(got, []string{"admin-a", "admin-b"}) {
		t.Fatalf("listed topics %v, want [admin-a admin-b]", got)
	}
	for _, td := range topics {
		if td.ID != created[td.Topic].ID {
			t.Errorf("%s: listed id %v, created with %v", td.Topic, td.ID, created[td.Topic].ID)
		}
		if len(td.Partitions) != 3 {
			t.Errorf("%s: %d partitions listed, want 3", td.Topic, len(td.Partitions))
		}
		for _, pd := range td.Partitions {
			if pd.Err != nil || pd.Leader != 0 || !slices.Equal(pd.Replicas, []int32{0}) || !slices.Equal(pd.ISR, []int32{0}) {
				t.Errorf("%s/%d: leader %d, replicas %v, isr %v, err %v; want leader 0 on replicas and isr [0]",
					td.Topic, pd.Partition, pd.Leader, pd.Replicas, pd.ISR, pd.Err)
			}
		}
	}

	// Add two partitions; the new ones are listed and take records.
	added, err := adm.CreatePartitions(ctx, 2, "admin-a")
	if err == nil {
		err = added.Error()
	}
	if err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	topics, err = fresh().ListTopics(ctx, "admin-a")
	if err != nil {
		t.Fatalf("list admin-a: %v", err)
	}
	if n := len(topics["admin-a"].Partitions); n != 5 {
		t.Fatalf("admin-a has %d partitions after adding 2 to 3, want 5", n)
	}
	// A producer that starts now sees the new partitions.
	pr := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pr.ProduceSync(ctx, &kgo.Record{Topic: "admin-a", Partition: 4, Value: []byte("in a new partition")}).FirstErr(); err != nil {
		t.Fatalf("produce to new partition 4: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, "admin-a")
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	if o, _ := ends.Lookup("admin-a", 4); o.Err != nil || o.Offset != 1 {
		t.Errorf("admin-a/4 end offset %d (err %v), want 1", o.Offset, o.Err)
	}

	// Validate-only requests change nothing.
	vt, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "admin-validate")
	if err == nil {
		err = vt.Error()
	}
	if err != nil {
		t.Fatalf("validate create topic: %v", err)
	}
	vp, err := adm.ValidateCreatePartitions(ctx, 3, "admin-a")
	if err == nil {
		err = vp.Error()
	}
	if err != nil {
		t.Fatalf("validate create partitions: %v", err)
	}
	topics, err = fresh().ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if topics.Has("admin-validate") || len(topics["admin-a"].Partitions) != 5 {
		t.Errorf("validate-only requests changed the topics: %v, admin-a has %d partitions",
			topics.Names(), len(topics["admin-a"].Partitions))
	}

	// Shrinking is refused.
	shrunk, err := adm.UpdatePartitions(ctx, 4, "admin-a")
	if err != nil {
		t.Fatalf("update partitions: %v", err)
	}
	if err := shrunk["admin-a"].Err; !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("shrinking admin-a to 4 partitions: %v, want INVALID_PARTITIONS", err)
	}

	// Delete admin-b after writing to it; re-created, it starts empty.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "admin-b", Partition: 1, Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatalf("produce to admin-b: %v", err)
	}
	deleted, err := adm.DeleteTopics(ctx, "admin-b")
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		t.Fatalf("delete admin-b: %v", err)
	}
	topics, err = fresh().ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if got := topics.Names(); !slices.Equal(got, []string{"admin-a"}) {
		t.Errorf("listed topics after deleting admin-b: %v, want [admin-a]", got)
	}
	again, err := adm.DeleteTopics(ctx, "admin-b")
	if err != nil {
		t.Fatalf("delete admin-b again: %v", err)
	}
	if err := again["admin-b"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting admin-b twice: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	re, err := adm.CreateTopic(ctx, 2, 1, nil, "admin-b")
	if err == nil {
		err = re.Err
	}
	if err != nil {
		t.Fatalf("re-create admin-b: %v", err)
	}
	if re.ID == created["admin-b"].ID {
		t.Errorf("re-created admin-b kept the deleted topic's id %v", re.ID)
	}
	ends, err = fresh().ListEndOffsets(ctx, "admin-b")
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("re-created admin-b/%d: end offset %d (err %v), want 0", o.Partition, o.Offset, o.Err)
		}
	})
	if n := len(ends["admin-b"]); n != 2 {
		t.Errorf("re-created admin-b has %d partitions, want 2", n)
	}
}

// TestCompatAdminErrors checks the error codes clients act on.
func TestCompatAdminErrors(t *testing.T) {
	const maxMessageBytes = 4096
	b := startBroker(t, func(c *Config) {
		c.DisableAutoCreateTopics = true
		c.MaxMessageBytes = maxMessageBytes
	})
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(2), // a wrong answer must fail the test, not retry until the context ends
	)
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, cl, "errors", 2)

	t.Run("CreateTopics", func(t *testing.T) {
		cases := []struct {
			name  string
			topic string
			rf    int16
			want  error
		}{
			{"existing topic", "errors", 1, kerr.TopicAlreadyExists},
			{"replication factor 3", "errors-rf3", 3, kerr.InvalidReplicationFactor},
			{"slash in name", "bad/name", 1, kerr.InvalidTopicException},
			{"space in name", "bad name", 1, kerr.InvalidTopicException},
			{"dot", ".", 1, kerr.InvalidTopicException},
			{"250 characters", strings.Repeat("x", 250), 1, kerr.InvalidTopicException},
		}
		for _, c := range cases {
			resp, err := adm.CreateTopic(ctx, 1, c.rf, nil, c.topic)
			if err == nil {
				err = resp.Err
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%s: create %q: %v, want %v", c.name, c.topic, err, c.want)
			}
		}
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if got := topics.Names(); !slices.Equal(got, []string{"errors"}) {
			t.Errorf("topics after failed creations: %v, want [errors]", got)
		}
	})

	t.Run("MetadataUnknownTopic", func(t *testing.T) {
		// The client asks for auto-creation; the broker must refuse it.
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("no-such-topic")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("metadata: %d topics in response, want 1", len(resp.Topics))
		}
		if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("metadata for unknown topic with auto-create disabled: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		md, err := adm.Metadata(ctx, "no-such-topic")
		if err != nil {
			t.Fatalf("kadm metadata: %v", err)
		}
		if err := md.Topics["no-such-topic"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("kadm metadata for unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if topics.Has("no-such-topic") {
			t.Errorf("no-such-topic was created although auto-creation is disabled")
		}
	})

	t.Run("ProduceUnknownPartition", func(t *testing.T) {
		// franz-go knows the topic has 2 partitions and fails the record.
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "errors", Partition: 7, Value: []byte("x")}).FirstErr()
		if err == nil {
			t.Errorf("franz-go produce to partition 7 of a 2-partition topic succeeded")
		}
		// On the wire, the broker answers UNKNOWN_TOPIC_OR_PARTITION for
		// a partition or topic that does not exist.
		if code := rawProduce(t, ctx, cl, "errors", 7, rawBatch([]byte("x"))); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("raw produce to errors/7: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
		}
		if code := rawProduce(t, ctx, cl, "errors", -1, rawBatch([]byte("x"))); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("raw produce to errors/-1: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
		}
		if code := rawProduce(t, ctx, cl, "no-such-topic", 0, rawBatch([]byte("x"))); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("raw produce to no-such-topic/0: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
		}
	})

	t.Run("MessageTooLarge", func(t *testing.T) {
		big := make([]byte, 2*maxMessageBytes)
		rand.Read(big) // incompressible, though compression is off anyway
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "errors", Partition: 1, Value: big}).FirstErr()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Errorf("franz-go produce of a %d-byte record with message.max.bytes %d: %v, want MESSAGE_TOO_LARGE",
				len(big), maxMessageBytes, err)
		}
		if code := rawProduce(t, ctx, cl, "errors", 1, rawBatch(big)); code != kerr.MessageTooLarge.Code {
			t.Errorf("raw produce of a %d-byte batch: %v, want MESSAGE_TOO_LARGE", len(rawBatch(big)), kerr.ErrorForCode(code))
		}
		// A batch of exactly message.max.bytes is accepted.
		fits := rawBatch(make([]byte, maxMessageBytes))
		fits = rawBatch(make([]byte, 2*maxMessageBytes-len(fits)))
		if len(fits) != maxMessageBytes {
			t.Fatalf("test bug: batch of %d bytes, want %d", len(fits), maxMessageBytes)
		}
		if code := rawProduce(t, ctx, cl, "errors", 1, fits); code != 0 {
			t.Errorf("raw produce of a batch of exactly message.max.bytes: %v", kerr.ErrorForCode(code))
		}
		ends, err := adm.ListEndOffsets(ctx, "errors")
		if err != nil {
			t.Fatalf("list end offsets: %v", err)
		}
		if o, _ := ends.Lookup("errors", 1); o.Offset != 1 {
			t.Errorf("errors/1 end offset %d, want 1 (only the batch that fits is stored)", o.Offset)
		}
	})
}

// TestCompatFetchOutOfRange fetches past the end (and before the start) of
// a partition: the broker answers OFFSET_OUT_OF_RANGE, and franz-go then
// follows its ConsumeResetOffset policy.
func TestCompatFetchOutOfRange(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(), kgo.DefaultProduceTopic("oor"))
	createTopic(t, ctx, cl, "oor", 1)
	const n = 10
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	t.Run("Raw", func(t *testing.T) {
		for _, offset := range []int64{n + 1, n + 1000, -5} {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "oor"
			md, err := kadm.NewClient(cl).Metadata(ctx, "oor")
			if err != nil {
				t.Fatal(err)
			}
			rt.TopicID = md.Topics["oor"].ID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset = offset
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("fetch at %d: %v", offset, err)
			}
			fp := resp.Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(fp.ErrorCode); !errors.Is(err, kerr.OffsetOutOfRange) {
				t.Errorf("fetch at %d of a %d-record partition: %v, want OFFSET_OUT_OF_RANGE", offset, n, err)
			}
			if len(fp.RecordBatches) != 0 {
				t.Errorf("fetch at %d: %d bytes of records with OFFSET_OUT_OF_RANGE", offset, len(fp.RecordBatches))
			}
		}
		// Fetching at the end is not an error: it waits, then returns nothing.
	})

	// consumeFrom starts a direct consumer at offset with reset policy
	// reset and returns the first records it gets, or the first error.
	consumeFrom := func(t *testing.T, offset int64, reset kgo.Offset, want int) ([]*kgo.Record, error) {
		c := newKgoClient(t, b.Addr(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"oor": {0: kgo.NewOffset().At(offset)}}),
			kgo.ConsumeResetOffset(reset))
		defer c.Close()
		var recs []*kgo.Record
		for len(recs) < want {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("got %d of %d records: %v", len(recs), want, ctx.Err())
			}
			if err := fs.Err0(); err != nil {
				return recs, err
			}
			recs = append(recs, fs.Records()...)
		}
		return recs, nil
	}
	offsetsOf := func(recs []*kgo.Record) []int64 {
		var o []int64
		for _, r := range recs {
			o = append(o, r.Offset)
		}
		return o
	}

	t.Run("ResetToStart", func(t *testing.T) {
		recs, err := consumeFrom(t, n+100, kgo.NewOffset().AtStart(), n)
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
		if got, want := offsetsOf(recs), []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
			t.Errorf("after reset to start: offsets %v, want %v", got, want)
		}
		if !bytes.Equal(recs[0].Value, []byte("v0")) {
			t.Errorf("offset 0 value %q, want v0", recs[0].Value)
		}
	})
	t.Run("ResetToEndMinus2", func(t *testing.T) {
		recs, err := consumeFrom(t, n+100, kgo.NewOffset().AtEnd().Relative(-2), 2)
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
		if got, want := offsetsOf(recs), []int64{n - 2, n - 1}; !slices.Equal(got, want) {
			t.Errorf("after reset to end-2: offsets %v, want %v", got, want)
		}
	})
	t.Run("NoReset", func(t *testing.T) {
		_, err := consumeFrom(t, n+100, kgo.NoResetOffset(), 1)
		if !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Errorf("consume past the end without a reset policy: %v, want OFFSET_OUT_OF_RANGE", err)
		}
	})
}

// TestCompatRestart closes the broker and starts a new one on the same
// data directory: topics (with their ids and added partitions) and records
// survive, deletions stay deleted, and producing continues at the old end.
func TestCompatRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	b := startBroker(t, func(c *Config) { c.DataDir = dir })
	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("durable"))
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, cl, "durable", 2)
	createTopic(t, ctx, cl, "doomed", 1)
	if _, err := adm.CreatePartitions(ctx, 1, "durable"); err != nil {
		t.Fatalf("add partition: %v", err)
	}
	if _, err := adm.DeleteTopics(ctx, "doomed"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	before, err := kadm.NewClient(newKgoClient(t, b.Addr())).ListTopics(ctx) // uncached
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	cl.Close()
	cl = newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("durable"))
	const n = 3000
	recs := compatRecords(n, 3)
	var krecs []*kgo.Record
	for _, r := range recs {
		kr := &kgo.Record{Partition: r.partition, Key: r.key, Value: r.value, Timestamp: r.ts}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.key, Value: h.value})
		}
		krecs = append(krecs, kr)
	}
	if err := cl.ProduceSync(ctx, krecs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("close broker: %v", err)
	}

	b = startBroker(t, func(c *Config) { c.DataDir = dir })
	cl = newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("durable"))
	adm = kadm.NewClient(cl)
	after, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics after restart: %v", err)
	}
	if got := after.Names(); !slices.Equal(got, []string{"durable"}) {
		t.Fatalf("topics after restart: %v, want [durable]", got)
	}
	if after["durable"].ID != before["durable"].ID {
		t.Errorf("durable's id changed across the restart: %v, was %v", after["durable"].ID, before["durable"].ID)
	}
	if len(after["durable"].Partitions) != 3 {
		t.Errorf("durable has %d partitions after restart, want 3", len(after["durable"].Partitions))
	}
	got := consumeKgo(t, ctx, b.Addr(), "durable", 3, n)
	checkRoundTrip(t, byPartition(recs, 3), got)

	res := cl.ProduceSync(ctx, &kgo.Record{Partition: 2, Value: []byte("after restart")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if want := int64(len(byPartition(recs, 3)[2])); res[0].Record.Offset != want {
		t.Errorf("first record produced after restart got offset %d, want %d", res[0].Record.Offset, want)
	}
}
