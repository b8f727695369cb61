package broker

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessions walks one fetch session (KIP-227) through its life with
// raw requests, as franz-go and librdkafka use sessions: open it with a full
// fetch (epoch 0), continue it with the next epochs sending only what
// changed, let the broker answer from the offsets it keeps, forget a
// partition, and get the right errors for a wrong epoch, an unknown
// session and a closed one.
func TestFetchSessions(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, ctx, cl, "sess", 2)
	produce := func(p int32, vals ...string) {
		t.Helper()
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sess", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, "sess")
	if err != nil {
		t.Fatal(err)
	}
	topicID := md.Topics["sess"].ID
	produce(0, "a0", "a1")
	produce(1, "b0")

	type part struct {
		p      int32
		offset int64
	}
	fetch := func(id, epoch int32, parts []part, forget []int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
		req.SessionID, req.SessionEpoch = id, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "sess", topicID
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.p, p.offset, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		if len(forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID, ft.Partitions = "sess", topicID, forget
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		// One connection, in order: sessions are per broker.
		kresp, err := cl.Broker(int(b.cfg.NodeID)).Request(ctx, req)
		if err != nil {
			t.Fatalf("fetch (session %d, epoch %d): %v", id, epoch, err)
		}
		return kresp.(*kmsg.FetchResponse)
	}
	// values returns the record values of every partition in resp.
	values := func(resp *kmsg.FetchResponse) map[int32][]string {
		t.Helper()
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		got := map[int32][]string{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					t.Fatalf("fetch partition %d: %v", rp.Partition, err)
				}
				fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "sess", Partition: rp.Partition}, &rp, kgo.DefaultDecompressor(), nil)
				got[rp.Partition] = []string{}
				for _, r := range fp.Records {
					got[rp.Partition] = append(got[rp.Partition], string(r.Value))
				}
			}
		}
		return got
	}
	equal := func(what string, got map[int32][]string, want map[int32][]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
		for p, w := range want {
			g, ok := got[p]
			if !ok || len(g) != len(w) {
				t.Fatalf("%s: got %v, want %v", what, got, want)
			}
			for i := range w {
				if g[i] != w[i] {
					t.Fatalf("%s: got %v, want %v", what, got, want)
				}
			}
		}
	}

	// Epoch 0 opens a session: a full fetch of both partitions.
	resp := fetch(0, 0, []part{{0, 0}, {1, 0}}, nil)
	id := resp.SessionID
	if id == 0 {
		t.Fatalf("a fetch with epoch 0 opened no session")
	}
	equal("full fetch", values(resp), map[int32][]string{0: {"a0", "a1"}, 1: {"b0"}})

	// Epoch 1: both partitions move on; nothing new, so neither is in the
	// incremental answer (its high watermark is the one already told).
	resp = fetch(id, 1, []part{{0, 2}, {1, 1}}, nil)
	equal("epoch 1, nothing new", values(resp), map[int32][]string{})

	// Epoch 2 names no partition: the broker fetches from the offsets the
	// session keeps and returns only the partition that has new records.
	produce(1, "b1")
	resp = fetch(id, 2, nil, nil)
	equal("epoch 2, new records in partition 1", values(resp), map[int32][]string{1: {"b1"}})

	// Epoch 3 forgets partition 0: new records there are no longer fetched.
	produce(0, "a2")
	resp = fetch(id, 3, []part{{1, 2}}, []int32{0})
	equal("epoch 3, partition 0 forgotten", values(resp), map[int32][]string{})

	// A wrong epoch and an unknown session are refused, as Kafka does.
	if resp := fetch(id, 7, nil, nil); !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.InvalidFetchSessionEpoch) {
		t.Errorf("epoch 7 where 4 was due: %v, want INVALID_FETCH_SESSION_EPOCH", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := fetch(id+1000, 1, nil, nil); !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.FetchSessionIDNotFound) {
		t.Errorf("unknown session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}
	// The refused epoch did not advance the session: epoch 4 still works.
	resp = fetch(id, 4, []part{{0, 2}}, nil)
	equal("epoch 4, partition 0 back", values(resp), map[int32][]string{0: {"a2"}})

	// Epoch -1 closes the session; continuing it then fails.
	values(fetch(id, -1, []part{{0, 3}}, nil))
	if resp := fetch(id, 5, nil, nil); !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.FetchSessionIDNotFound) {
		t.Errorf("closed session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestFetchSessionsKgo checks that franz-go's consumer keeps one session
// going: every fetch after the first continues it, so no fetch is spent on
// a session error (which would double the round trips per record).
func TestFetchSessionsKgo(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, ctx, cl, "sess-kgo", 1)
	const batches = 20
	for i := range batches {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sess-kgo", Value: incompressible(100 << 10)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons := newKgoClient(t, b.Addr(), kgo.ConsumeTopics("sess-kgo"), kgo.FetchMaxPartitionBytes(150<<10))
	for got := 0; got < batches; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	if n := counterValue(t, b.metrics.fetchSessionBadEpoch) + counterValue(t, b.metrics.fetchSessionNotFound); n > 0 {
		t.Errorf("%v fetches were refused with a session error while reading %d batches", n, batches)
	}
}

// counterValue reads a counter's current value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
