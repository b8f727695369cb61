package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests of issue 3, log lifecycle: compaction, retention, DeleteRecords, time lookups and
// configs, driven through real clients. Time is a fake clock injected through Config.Now, and
// the cleaner's background passes are turned off (hour-long intervals); the tests run passes
// themselves with applyRetention and compactAll.

type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

func startLifecycleBroker(t *testing.T, clock *testClock, mutate ...func(*Config)) *Broker {
	return startBroker(t, append([]func(*Config){func(c *Config) {
		c.Now = clock.now
		c.RetentionCheckInterval = time.Hour
		c.CleanerBackoff = time.Hour
	}}, mutate...)...)
}

func createTopicWithConfigs(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, 1, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// TestCompactionThroughClients: 100,000 updates over 1,000 keys, with tombstones, compacted;
// franz-go and sarama consumers reading from the beginning see exactly the newest value of each
// live key, and nothing of the deleted ones once delete.retention.ms has passed.
func TestCompactionThroughClients(t *testing.T) {
	ctx := testCtx(t)
	clock := &testClock{}
	clock.ms.Store(time.Now().UnixMilli())
	b := startLifecycleBroker(t, clock)
	cl := newKgoClient(t, b.Addr(), kgo.ProducerLinger(5*time.Millisecond))
	adm := kadm.NewClient(cl)
	const topic = "changelog"
	createTopicWithConfigs(t, ctx, adm, topic, map[string]*string{
		"cleanup.policy":      kmsg.StringPtr("compact"),
		"segment.bytes":       kmsg.StringPtr("262144"),
		"delete.retention.ms": kmsg.StringPtr("60000"),
	})

	const updates, keys = 100_000, 1000
	want := map[string]string{} // "" never used as a value: absent means deleted
	var recs []*kgo.Record
	for i := range updates {
		k := fmt.Sprintf("key-%04d", (i*7919)%keys)
		r := &kgo.Record{Topic: topic, Key: []byte(k)}
		if i%11 == 5 || (i >= updates-keys && (i*7919)%keys%10 == 0) { // tombstones; every tenth key ends deleted
			delete(want, k)
		} else {
			v := fmt.Sprintf("v%d-%s", i, strings.Repeat("p", i%50))
			r.Value = []byte(v)
			want[k] = v
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Keyless records are refused on a compacted topic, as in Kafka.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
	}
	// Roll the active segment so that every update is cleanable: segment.ms=1 and a later record.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kmsg.StringPtr("1")}}, topic); err != nil {
		t.Fatal(err)
	}
	sentinel := func(name string) {
		r := &kgo.Record{Topic: topic, Key: []byte(name), Value: []byte(name), Timestamp: time.UnixMilli(clock.ms.Load() + 3600_000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sentinel("~sentinel-1")
	want["~sentinel-1"] = "~sentinel-1"
	p := b.topics.partition(topic, 0)
	before := p.log.Size()
	end := p.log.EndOffset()

	b.compactAll() // first pass: duplicates go, tombstones stay (first seen)
	if p.log.Size() >= before/10 || p.log.EndOffset() != end {
		t.Fatalf("after compaction: size %d (before %d), end %d (before %d)", p.log.Size(), before, p.log.EndOffset(), end)
	}
	got, tombstones := consumeAllKgo(t, ctx, b.Addr(), topic)
	checkNewest(t, "franz-go after pass 1", got, want)
	if tombstones == 0 {
		t.Error("tombstones removed on their first pass, before delete.retention.ms")
	}

	// After delete.retention.ms, the next pass removes them.
	clock.ms.Add(61_000)
	sentinel("~sentinel-2") // dirty bytes for the pass, and a roll
	sentinel("~sentinel-3")
	want["~sentinel-2"], want["~sentinel-3"] = "~sentinel-2", "~sentinel-3"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.cleanable.dirty.ratio", Value: kmsg.StringPtr("0")}}, topic); err != nil {
		t.Fatal(err)
	}
	b.compactAll()
	got, tombstones = consumeAllKgo(t, ctx, b.Addr(), topic)
	checkNewest(t, "franz-go after pass 2", got, want)
	if tombstones != 0 {
		t.Errorf("%d tombstones left after delete.retention.ms", tombstones)
	}
	gotSarama := consumeAllSarama(t, b.Addr(), topic)
	checkNewest(t, "sarama", gotSarama, want)
	// Exactly one record per live key (and sentinel), except in the uncleaned active segment.
	if n := countRecordsKgo(t, ctx, b.Addr(), topic); n != len(want) {
		t.Errorf("%d records after compaction, want %d (one per live key)", n, len(want))
	}
}

// consumeAllKgo reads topic partition 0 from the start to the end offset: the newest value per
// key (deleted keys absent) and how many tombstones were read.
func consumeAllKgo(t *testing.T, ctx context.Context, addr, topic string) (map[string]string, int) {
	t.Helper()
	got := map[string]string{}
	tombstones := 0
	eachRecordKgo(t, ctx, addr, topic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(got, string(r.Key))
			tombstones++
		} else {
			got[string(r.Key)] = string(r.Value)
		}
	})
	return got, tombstones
}

func countRecordsKgo(t *testing.T, ctx context.Context, addr, topic string) int {
	n := 0
	eachRecordKgo(t, ctx, addr, topic, func(*kgo.Record) { n++ })
	return n
}

func eachRecordKgo(t *testing.T, ctx context.Context, addr, topic string, fn func(*kgo.Record)) {
	t.Helper()
	adm := kadm.NewClient(newKgoClient(t, addr))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl := newKgoClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if r.Offset >= end.Offset-1 {
				done = true
			}
		})
		if done {
			return
		}
	}
}

func consumeAllSarama(t *testing.T, addr, topic string) map[string]string {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := map[string]string{}
	timeout := time.After(time.Minute)
	for {
		select {
		case m := <-pc.Messages():
			if m.Value == nil {
				delete(got, string(m.Key))
			} else {
				got[string(m.Key)] = string(m.Value)
			}
			if m.Offset >= end-1 {
				return got
			}
		case err := <-pc.Errors():
			t.Fatalf("sarama: %v", err)
		case <-timeout:
			t.Fatalf("sarama: timed out with %d keys", len(got))
		}
	}
}

func checkNewest(t *testing.T, who string, got, want map[string]string) {
	t.Helper()
	bad := 0
	for k, v := range want {
		if got[k] != v && bad < 5 {
			t.Errorf("%s: key %s = %.20q, want %.20q", who, k, got[k], v)
			bad++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && bad < 5 {
			t.Errorf("%s: deleted key %s has a value", who, k)
			bad++
		}
	}
}

// TestRetentionDeleteRecordsListOffsets: retention by time and by size on real segments, with
// consumers reset by their policy; DeleteRecords; ListOffsets by timestamp and max timestamp.
func TestRetentionDeleteRecordsListOffsets(t *testing.T) {
	ctx := testCtx(t)
	clock := &testClock{}
	clock.ms.Store(2_000_000_000_000)
	b := startLifecycleBroker(t, clock)
	cl := newKgoClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	const topic = "events"
	createTopicWithConfigs(t, ctx, adm, topic, map[string]*string{
		"segment.bytes": kmsg.StringPtr("2048"),
		"retention.ms":  kmsg.StringPtr("100000"),
	})
	// 200 records, one per produce, timestamps 1s apart ending at the clock.
	base := clock.ms.Load() - 200_000
	for i := range 200 {
		r := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(strings.Repeat("v", 100)), Timestamp: time.UnixMilli(base + int64(i)*1000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// ListOffsets by timestamp, before anything is deleted.
	lo, err := adm.ListOffsetsAfterMilli(ctx, base+50_500, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup(topic, 0); o.Err != nil || o.Offset != 51 || o.Timestamp != base+51_000 {
		t.Fatalf("ListOffsetsAfterMilli: %+v", o)
	}
	// Kafka answers -1 after the last timestamp; kadm turns that into the end offset.
	if lo, _ = adm.ListOffsetsAfterMilli(ctx, base+10_000_000, topic); func() bool { o, _ := lo.Lookup(topic, 0); return o.Offset != 200 }() {
		t.Fatalf("lookup after the last timestamp: %+v", lo)
	}
	maxReq := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	maxReq.Topics = append(maxReq.Topics, rt)
	maxResp, err := maxReq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := maxResp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 199 || p.Timestamp != base+199_000 {
		t.Fatalf("max timestamp: %+v", p)
	}

	// Retention by time: records older than 100s go, whole segments at a time.
	b.applyRetention()
	starts, _ := adm.ListStartOffsets(ctx, topic)
	start, _ := starts.Lookup(topic, 0)
	if start.Offset < 80 || start.Offset > 101 {
		t.Fatalf("log start offset %d after retention.ms 100s", start.Offset)
	}
	// A consumer at offset 0 gets OFFSET_OUT_OF_RANGE and resets to the earliest offset.
	cons := newKgoClient(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	if first := fs.Records()[0].Offset; first != start.Offset {
		t.Fatalf("consumer reset to %d, log starts at %d", first, start.Offset)
	}

	// Retention by size, changed live.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kmsg.StringPtr("4096")}}, topic); err != nil {
		t.Fatal(err)
	}
	b.applyRetention()
	if size := b.topics.partition(topic, 0).log.Size(); size > 4096+2048 || size < 4096 {
		t.Fatalf("size %d after retention.bytes 4096", size)
	}

	// DeleteRecords moves the log start offset.
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 195}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := del.Lookup(topic, 0); d.Err != nil || d.LowWatermark != 195 {
		t.Fatalf("DeleteRecords: %+v", d)
	}
	starts, _ = adm.ListStartOffsets(ctx, topic)
	if s, _ := starts.Lookup(topic, 0); s.Offset != 195 {
		t.Fatalf("start offset %d after DeleteRecords", s.Offset)
	}
	del, _ = adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 500}}})
	if d, _ := del.Lookup(topic, 0); !errors.Is(d.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("DeleteRecords beyond the end: %+v", d)
	}
	// Not on a compacted topic.
	createTopicWithConfigs(t, ctx, adm, "compacted", map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	del, _ = adm.DeleteRecords(ctx, kadm.Offsets{"compacted": {0: {Topic: "compacted", Partition: 0, At: 0}}})
	if d, _ := del.Lookup("compacted", 0); !errors.Is(d.Err, kerr.PolicyViolation) {
		t.Fatalf("DeleteRecords on a compacted topic: %+v", d)
	}
}

// TestConfigRoundTrips: configs through kadm and sarama's ClusterAdmin: sources, validation
// naming the setting, AlterConfigs and IncrementalAlterConfigs applied live and kept across a
// restart.
func TestConfigRoundTrips(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	clock := &testClock{}
	clock.ms.Store(time.Now().UnixMilli())
	setDir := func(c *Config) {
		c.DataDir = dir
		c.TopicDefaults = map[string]string{"log.retention.ms": "3600000"}
	}
	b := startLifecycleBroker(t, clock, setDir)
	cl := newKgoClient(t, b.Addr())
	adm := kadm.NewClient(cl)

	// CreateTopics refuses a bad value with INVALID_CONFIG naming the setting.
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("-7")}, "bad")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(resp.ErrMessage, "retention.ms") {
		t.Fatalf("bad config: %v %q", err, resp.ErrMessage)
	}
	createTopicWithConfigs(t, ctx, adm, "t1", map[string]*string{"cleanup.policy": kmsg.StringPtr("compact,delete"), "segment.bytes": kmsg.StringPtr("100000")})

	describe := func() map[string]kadm.Config {
		rcs, err := adm.DescribeTopicConfigs(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("t1", nil)
		if err != nil || rc.Err != nil {
			t.Fatal(err, rc.Err)
		}
		out := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			out[c.Key] = c
		}
		return out
	}
	cs := describe()
	for name, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"cleanup.policy":         {"compact,delete", kmsg.ConfigSourceDynamicTopicConfig},
		"segment.bytes":          {"100000", kmsg.ConfigSourceDynamicTopicConfig},
		"retention.ms":           {"3600000", kmsg.ConfigSourceStaticBrokerConfig},
		"delete.retention.ms":    {"86400000", kmsg.ConfigSourceDefaultConfig},
		"message.timestamp.type": {"CreateTime", kmsg.ConfigSourceDefaultConfig},
	} {
		c := cs[name]
		if c.MaybeValue() != want.value || c.Source != want.source {
			t.Errorf("%s = %q from %v, want %q from %v", name, c.MaybeValue(), c.Source, want.value, want.source)
		}
	}
	if syn := cs["retention.ms"].Synonyms; len(syn) != 2 || syn[0].Key != "log.retention.ms" || syn[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms synonyms: %+v", syn)
	}

	// IncrementalAlterConfigs through kadm: set, delete, append; applied live.
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "segment.bytes", Op: kadm.DeleteConfig},
		{Name: "retention.ms", Value: kmsg.StringPtr("1000")},
		{Name: "message.timestamp.type", Value: kmsg.StringPtr("LogAppendTime")},
	}, "t1")
	if err != nil {
		t.Fatal(err)
	}
	cs = describe()
	if rm := cs["retention.ms"]; cs["segment.bytes"].Source != kmsg.ConfigSourceDefaultConfig || rm.MaybeValue() != "1000" {
		t.Fatalf("after alter: %+v %+v", cs["segment.bytes"], cs["retention.ms"])
	}
	// LogAppendTime applies at once: the broker's clock stamps the batch.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t1", Key: []byte("k"), Value: []byte("v"), Timestamp: time.UnixMilli(5)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lo, _ := adm.ListOffsetsAfterMilli(ctx, clock.ms.Load(), "t1")
	if o, _ := lo.Lookup("t1", 0); o.Offset != 0 || o.Timestamp != clock.ms.Load() {
		t.Fatalf("LogAppendTime not applied: %+v (clock %d)", o, clock.ms.Load())
	}
	// Invalid values through IncrementalAlterConfigs name the setting.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.cleanable.dirty.ratio", Value: kmsg.StringPtr("2")}}, "t1")
	if err == nil && (len(ar) != 1 || !errors.Is(ar[0].Err, kerr.InvalidConfig) || !strings.Contains(ar[0].ErrMessage, "min.cleanable.dirty.ratio")) {
		t.Fatalf("bad ratio: %+v", ar)
	}

	// sarama's ClusterAdmin: DescribeConfig, AlterConfig (replaces all), IncrementalAlterConfig.
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V2_8_0_0
	sa, err := sarama.NewClusterAdmin([]string{b.Addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	if err := sa.AlterConfig(sarama.TopicResource, "t1", map[string]*string{"retention.bytes": kmsg.StringPtr("12345")}, false); err != nil {
		t.Fatal(err)
	}
	entries, err := sa.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		found[e.Name] = e
	}
	if e := found["retention.bytes"]; e.Value != "12345" || e.Source != sarama.SourceTopic {
		t.Errorf("sarama retention.bytes: %+v", e)
	}
	if e := found["cleanup.policy"]; e.Value != "delete" || e.Source != sarama.SourceDefault {
		t.Errorf("AlterConfig did not replace cleanup.policy: %+v", e)
	}
	if err := sa.IncrementalAlterConfig(sarama.TopicResource, "t1", map[string]sarama.IncrementalAlterConfigsEntry{
		"cleanup.policy": {Operation: sarama.IncrementalAlterConfigsOperationAppend, Value: kmsg.StringPtr("compact")},
	}, false); err != nil {
		t.Fatal(err)
	}
	if err := sa.AlterConfig(sarama.TopicResource, "t1", map[string]*string{"segment.ms": kmsg.StringPtr("0")}, false); err == nil || !strings.Contains(err.Error(), "segment.ms") {
		t.Errorf("sarama bad segment.ms: %v", err)
	}
	if lc := b.liveConfig(b.topics.get("t1")); !lc.compact || !lc.delete || lc.retentionBytes != 12345 {
		t.Errorf("live config not applied: %+v", lc)
	}

	// Kept across a restart.
	b.Close()
	b = startLifecycleBroker(t, clock, setDir)
	if lc := b.liveConfig(b.topics.get("t1")); !lc.compact || !lc.delete || lc.retentionBytes != 12345 {
		t.Errorf("configs lost in a restart: %+v", lc)
	}
	// The broker resource is described too.
	bc, err := kadm.NewClient(newKgoClient(t, b.Addr())).DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, rc := range bc {
		for _, c := range rc.Configs {
			if c.Key == "log.retention.ms" && c.MaybeValue() == "3600000" && c.Source == kmsg.ConfigSourceStaticBrokerConfig {
				ok = true
			}
		}
	}
	if !ok {
		t.Errorf("broker configs: %+v", bc)
	}
}

// TestCompactionKeepsProducerState: a producer's batches are all compacted
// away (another producer overwrote its key), then the partition's producer
// state is loaded as after a crash. The state must still know the first
// producer's last sequence, so its retries are still recognised: compaction
// snapshots the state before it removes the batches a rebuild from the log
// would need.
func TestCompactionKeepsProducerState(t *testing.T) {
	ctx := testCtx(t)
	clock := &testClock{}
	clock.ms.Store(time.Now().UnixMilli())
	b := startLifecycleBroker(t, clock)
	const topic = "pid-compacted"
	first := newKgoClient(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(first)
	createTopicWithConfigs(t, ctx, adm, topic, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0"),
		"segment.ms":                kmsg.StringPtr("1"), // every later record rolls the segment
	})
	const n = 20
	for i := range n { // one batch each: sequences 0..n-1
		if err := first.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: fmt.Appendf(nil, "first-%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pid, _, err := first.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second producer overwrites the key; a later record rolls it out of the active segment.
	second := newKgoClient(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	for i, k := range []string{"k", "roll"} {
		r := &kgo.Record{Key: []byte(k), Value: []byte("second"), Timestamp: time.UnixMilli(clock.ms.Load() + int64(i+1)*3600_000)}
		if err := second.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := b.topics.partition(topic, 0)
	b.compactAll()
	got, _ := consumeAllKgo(t, ctx, b.Addr(), topic)
	if got["k"] != "second" {
		t.Fatalf("after compaction k = %q, want the second producer's value", got["k"])
	}
	if n := countRecordsKgo(t, ctx, b.Addr(), topic); n != 2 {
		t.Fatalf("%d records after compaction, want 2: the first producer's batches should be gone", n)
	}

	// What a restart after a crash does: load the state from the snapshot and the log.
	if err := p.loadProducerState(); err != nil {
		t.Fatalf("load producer state: %v", err)
	}
	p.producers.mu.Lock()
	e := p.producers.producers[pid]
	p.producers.mu.Unlock()
	if e == nil || len(e.Batches) == 0 {
		t.Fatalf("producer %d unknown after compaction and a reload: its sequence is lost", pid)
	}
	if last := e.Batches[len(e.Batches)-1].LastSeq; last != n-1 {
		t.Errorf("producer %d's last sequence after the reload is %d, want %d", pid, last, n-1)
	}
}
