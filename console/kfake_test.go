package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOtherKafka runs the console against franz-go's kfake, a Kafka
// implementation that is not Eddy's, which moreover refuses
// DescribeLogDirs: sizes are unknown and everything else works.
func TestOtherKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ControlKey(int16(kmsg.DescribeLogDirs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.(*kmsg.DescribeLogDirsRequest).ResponseKind().(*kmsg.DescribeLogDirsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, true
	})
	addr := c.ListenAddrs()[0]
	_, adm := admin(t, addr)
	manual, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	for i := range 6 {
		produce(t, manual, &kgo.Record{Topic: "events", Partition: int32(i % 2), Value: []byte("hello kfake")})
	}
	// 3 records in each partition; the group is 2 behind in partition 0.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "events", Partition: 0, At: 1, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "events", Partition: 1, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(context.Background(), "readers", offs); err != nil {
		t.Fatal(err)
	}
	_, srv := newConsole(t, addr, "")
	u := srv.URL + "/api/"

	var topics struct {
		Topics     []topic
		SizesError string `json:"sizes_error"`
	}
	get(t, u+"topics", 200, &topics)
	if len(topics.Topics) != 1 || topics.Topics[0].Records != 6 || topics.Topics[0].SizeBytes != nil ||
		!strings.Contains(topics.SizesError, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Fatalf("topics = %+v", topics)
	}
	var ra recordsAnswer
	get(t, u+"topics/events/records?partition=0&from=end&limit=1", 200, &ra)
	if len(ra.Records) != 1 || ra.Records[0].Value.Text != "hello kfake" {
		t.Fatalf("records = %+v", ra)
	}
	var g group
	get(t, u+"groups/readers", 200, &g)
	if g.TotalLag == nil || *g.TotalLag != 2 {
		t.Fatalf("group = %+v", g)
	}
	var ov struct {
		SizeBytes  *int64 `json:"size_bytes"`
		SizesError string `json:"sizes_error"`
		Topics     int
	}
	get(t, u+"overview", 200, &ov)
	if ov.SizeBytes != nil || ov.SizesError == "" || ov.Topics != 1 {
		t.Fatalf("overview = %+v", ov)
	}
}
