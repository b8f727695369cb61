package broker

import (
	"crypto/rand"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeLogDirs asks for partition sizes with kadm, as consoles and
// kafka-log-dirs.sh do: every partition of every topic, and then one topic,
// whose sizes must match the bytes produced to it.
func TestDescribeLogDirs(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "dirs-a", "dirs-b"); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for i := range 10 {
		r := &kgo.Record{Topic: "dirs-a", Partition: 1, Value: incompressible(1000 + i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatalf("describe all log dirs: %v", err)
	}
	dirs := all[b.cfg.NodeID]
	if len(dirs) != 1 {
		t.Fatalf("broker %d: %d log dirs, want 1 (%v)", b.cfg.NodeID, len(dirs), all)
	}
	var dir kadm.DescribedLogDir
	for _, d := range dirs {
		dir = d
	}
	if dir.Err != nil {
		t.Fatalf("log dir %s: %v", dir.Dir, dir.Err)
	}
	if dir.Dir != b.cfg.DataDir {
		t.Errorf("log dir %q, want the data directory %q", dir.Dir, b.cfg.DataDir)
	}
	if dir.TotalBytes <= 0 || dir.UsableBytes <= 0 || dir.UsableBytes > dir.TotalBytes {
		t.Errorf("total %d, usable %d bytes: want 0 < usable <= total", dir.TotalBytes, dir.UsableBytes)
	}
	size := func(topic string, p int32) int64 {
		t.Helper()
		dp, ok := dir.Topics[topic][p]
		if !ok {
			t.Fatalf("%s/%d not described", topic, p)
		}
		return dp.Size
	}
	if s := size("dirs-a", 1); s < 10*1000 {
		t.Errorf("dirs-a/1 is %d bytes; 10 records of 1000+ bytes were produced to it", s)
	}
	if s := size("dirs-a", 0); s != 0 {
		t.Errorf("dirs-a/0 is %d bytes, want 0 (nothing produced)", s)
	}
	if s := size("dirs-b", 1); s != 0 {
		t.Errorf("dirs-b/1 is %d bytes, want 0", s)
	}

	one, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"dirs-b": {0: {}}})
	if err != nil {
		t.Fatalf("describe log dirs of dirs-b: %v", err)
	}
	one.Each(func(d kadm.DescribedLogDir) {
		if got := len(d.Topics["dirs-b"]); got != 1 {
			t.Errorf("dirs-b: %d partitions described, want just the one asked for", got)
		}
		if _, ok := d.Topics["dirs-a"]; ok {
			t.Errorf("dirs-a described, but only dirs-b was asked for")
		}
	})

	// kadm drops unknown topics before asking; a raw request names one.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = "no-such-topic", []int32{0}
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(b.cfg.NodeID)).Request(ctx, req) // straight to the broker, no sharding by leader
	if err != nil {
		t.Fatalf("describe log dirs of an unknown topic: %v", err)
	}
	resp := kresp.(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 0 || resp.ErrorCode != 0 {
		t.Errorf("unknown topic: got error %d, dirs %+v; want one dir with no topics", resp.ErrorCode, resp.Dirs)
	}
}

// incompressible returns n random bytes, which no codec shrinks.
func incompressible(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
