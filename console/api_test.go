package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/console"
	"github.com/eddy-streams/eddy/streams"
)

// The API's answers, as a client decodes them.
type (
	payload struct {
		Encoding, Text, Hex, Base64 string
		Size                        int
	}
	record struct {
		Partition   int32
		Offset      int64
		TimestampMs int64 `json:"timestamp_ms"`
		Key, Value  *payload
		Headers     []struct {
			Key   string
			Value *payload
		}
	}
	recordsAnswer struct {
		LogStartOffset int64 `json:"log_start_offset"`
		LogEndOffset   int64 `json:"log_end_offset"`
		StartOffset    int64 `json:"start_offset"`
		NextOffset     int64 `json:"next_offset"`
		Records        []record
		Note           string
	}
	topic struct {
		Name              string
		Internal          bool
		Partitions        int
		ReplicationFactor int `json:"replication_factor"`
		Records           int64
		SizeBytes         *int64   `json:"size_bytes"`
		RecordsPerSecond  *float64 `json:"records_per_second"`
		PartitionList     []struct {
			Partition      int32
			LogStartOffset int64 `json:"log_start_offset"`
			LogEndOffset   int64 `json:"log_end_offset"`
			Records        int64
			SizeBytes      *int64 `json:"size_bytes"`
		} `json:"partition_list"`
		Configs []struct{ Name, Value, Source string }
	}
	group struct {
		Group, State string
		ProtocolType string `json:"protocol_type"`
		Members      int
		Topics       []string
		TotalLag     *int64 `json:"total_lag"`
		Partitions   []struct {
			Topic        string
			Partition    int32
			Committed    int64 `json:"committed_offset"`
			LogEndOffset int64 `json:"log_end_offset"`
			Lag          int64
		}
	}
	errorAnswer struct{ Error string }
)

func TestTopicsAndRecords(t *testing.T) {
	b := startBroker(t)
	cl, adm := admin(t, b.Addr())
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders"); err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := range 10 {
		r := &kgo.Record{Topic: "orders", Partition: 0, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("text %d", i)),
			Timestamp: base.Add(time.Duration(i) * time.Second)}
		switch i {
		case 2:
			r.Value = []byte(`{"id":2,"items":["a","b"]}`)
			r.Headers = []kgo.RecordHeader{{Key: "source", Value: []byte("web")}, {Key: "bin", Value: []byte{0, 1, 2}}}
		case 3:
			r.Value = []byte{0xff, 0x00, 0x10}
		case 4:
			r.Key, r.Value = nil, nil // a tombstone without key
		}
		recs = append(recs, r)
	}
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte(fmt.Sprint(i))})
	}
	manual, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	produce(t, manual, recs...)
	_, srv := newConsole(t, b.Addr(), "")
	u := srv.URL + "/api/"

	var topics struct {
		Topics     []topic
		SizesError string `json:"sizes_error"`
	}
	get(t, u+"topics", 200, &topics)
	if len(topics.Topics) != 1 || topics.Topics[0].Name != "orders" || topics.Topics[0].Partitions != 2 || topics.Topics[0].Records != 15 ||
		topics.Topics[0].ReplicationFactor != 1 {
		t.Fatalf("topics = %+v", topics)
	}
	// Eddy's broker answers DescribeLogDirs: sizes are known.
	if s := topics.Topics[0].SizeBytes; s == nil || *s <= 0 || topics.SizesError != "" {
		t.Fatalf("size of orders = %v (error %q), want a positive size", s, topics.SizesError)
	}

	var tp topic
	get(t, u+"topics/orders", 200, &tp)
	if len(tp.PartitionList) != 2 || tp.PartitionList[0].LogEndOffset != 10 || tp.PartitionList[1].LogEndOffset != 5 ||
		tp.PartitionList[1].Records != 5 || tp.PartitionList[0].SizeBytes == nil {
		t.Fatalf("topic = %+v", tp)
	}
	found := false
	for _, c := range tp.Configs {
		found = found || c.Name == "retention.ms" && c.Value == "3600000"
	}
	if !found {
		t.Fatalf("configs = %+v, want retention.ms=3600000 (set at creation)", tp.Configs)
	}

	var ra recordsAnswer
	get(t, u+"topics/orders/records?partition=0&from=offset&offset=2&limit=3", 200, &ra)
	if len(ra.Records) != 3 || ra.Records[0].Offset != 2 || ra.NextOffset != 5 || ra.LogEndOffset != 10 {
		t.Fatalf("records from 2 = %+v", ra)
	}
	js, bin, null := ra.Records[0], ra.Records[1], ra.Records[2]
	if js.Value.Encoding != "json" || !strings.Contains(js.Value.Text, "\n  \"items\": [") || js.Key.Text != "k2" {
		t.Fatalf("JSON record = %+v %+v", js.Key, js.Value)
	}
	if len(js.Headers) != 2 || js.Headers[0].Key != "source" || js.Headers[0].Value.Text != "web" || js.Headers[1].Value.Hex != "000102" {
		t.Fatalf("headers = %+v", js.Headers)
	}
	if bin.Value.Encoding != "binary" || bin.Value.Hex != "ff0010" || bin.Value.Base64 != "/wAQ" || bin.Value.Size != 3 {
		t.Fatalf("binary record = %+v", bin.Value)
	}
	if null.Key != nil || null.Value != nil {
		t.Fatalf("null key and value = %+v %+v", null.Key, null.Value)
	}
	if js.TimestampMs != base.Add(2*time.Second).UnixMilli() {
		t.Fatalf("timestamp = %d", js.TimestampMs)
	}

	// By time: the first record at or after base+3.5s is offset 4.
	get(t, u+fmt.Sprintf("topics/orders/records?partition=0&from=timestamp&timestamp=%d&limit=2", base.Add(3500*time.Millisecond).UnixMilli()), 200, &ra)
	if len(ra.Records) != 2 || ra.Records[0].Offset != 4 || ra.Records[1].Offset != 5 {
		t.Fatalf("records by time = %+v", ra)
	}
	get(t, u+"topics/orders/records?partition=0&from=timestamp&timestamp="+base.Add(3500*time.Millisecond).UTC().Format(time.RFC3339Nano), 200, &ra)
	if len(ra.Records) != 6 || ra.Records[0].Offset != 4 {
		t.Fatalf("records by RFC 3339 time = %d records from %d", len(ra.Records), ra.StartOffset)
	}
	get(t, u+fmt.Sprintf("topics/orders/records?partition=0&from=timestamp&timestamp=%d", base.Add(time.Hour).UnixMilli()), 200, &ra)
	if len(ra.Records) != 0 || ra.Note == "" {
		t.Fatalf("records after the last = %+v", ra)
	}
	get(t, u+"topics/orders/records?partition=1&from=end&limit=2", 200, &ra)
	if len(ra.Records) != 2 || ra.Records[0].Offset != 3 || ra.Records[1].Value.Text != "4" {
		t.Fatalf("last 2 records = %+v", ra)
	}
	get(t, u+"topics/orders/records?partition=1", 200, &ra)
	if len(ra.Records) != 5 || ra.NextOffset != 5 {
		t.Fatalf("all of partition 1 = %+v", ra)
	}

	// Bad input: a clear error, never a hang.
	for _, c := range []struct {
		query string
		code  int
		msg   string
	}{
		{"topics/orders/records?partition=7", 404, "no partition 7"},
		{"topics/orders/records?partition=x", 400, "partition"},
		{"topics/orders/records?limit=0", 400, "limit 0"},
		{"topics/orders/records?limit=100000", 400, "limit"},
		{"topics/orders/records?from=middle", 400, "want beginning, end, offset or timestamp"},
		{"topics/orders/records?from=offset&offset=-3", 400, "offset"},
		{"topics/orders/records?from=timestamp&timestamp=yesterday", 400, "timestamp"},
		{"topics/nosuch/records", 404, `topic "nosuch" does not exist`},
		{"topics/nosuch", 404, `topic "nosuch" does not exist`},
		{"nosuch", 404, "no such API"},
	} {
		var e errorAnswer
		get(t, u+c.query, c.code, &e)
		if !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: error %q, want it to say %q", c.query, e.Error, c.msg)
		}
	}
	// Asking for a missing topic did not create it (the broker creates
	// topics on metadata requests that allow it).
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has("nosuch") {
		t.Fatal("the console created topic nosuch")
	}

	// Throughput: records produced while the console samples show a rate.
	waitFor(t, 20*time.Second, "a positive rate for orders", func() (bool, string) {
		produce(t, cl, &kgo.Record{Topic: "orders", Value: []byte("more")})
		var th struct {
			Total  struct{ Points [][2]float64 }
			Topics []struct {
				Topic  string
				Points [][2]float64
			}
		}
		get(t, u+"throughput?topic=orders", 200, &th)
		for _, s := range th.Topics {
			for _, p := range s.Points {
				if s.Topic == "orders" && p[1] > 0 {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%+v", th)
	})
	var ov struct {
		ClusterID        string `json:"cluster_id"`
		Brokers          []struct{ Host string }
		Topics           int
		Records          int64
		RecordsPerSecond *float64 `json:"records_per_second"`
	}
	get(t, u+"overview", 200, &ov)
	if ov.ClusterID == "" || len(ov.Brokers) != 1 || ov.Topics != 1 || ov.Records < 15 || ov.RecordsPerSecond == nil {
		t.Fatalf("overview = %+v", ov)
	}
}

func TestGroupsLag(t *testing.T) {
	b := startBroker(t)
	_, adm := admin(t, b.Addr())
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "payments"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "payments", Partition: int32(i % 2), Value: []byte("p")})
	}
	manual, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	produce(t, manual, recs...)
	// The group committed 1 of partition 0's 5 records and 3 of partition
	// 1's: lag 4 + 2.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "payments", Partition: 0, At: 1, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "payments", Partition: 1, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	_, srv := newConsole(t, b.Addr(), "")
	u := srv.URL + "/api/"

	var gs struct{ Groups []group }
	get(t, u+"groups", 200, &gs)
	if len(gs.Groups) != 1 || gs.Groups[0].Group != "billing" || gs.Groups[0].TotalLag == nil || *gs.Groups[0].TotalLag != 6 ||
		gs.Groups[0].State != "Empty" || strings.Join(gs.Groups[0].Topics, ",") != "payments" {
		t.Fatalf("groups = %+v", gs)
	}
	var g group
	get(t, u+"groups/billing", 200, &g)
	if len(g.Partitions) != 2 || g.Partitions[0].Lag != 4 || g.Partitions[0].Committed != 1 || g.Partitions[0].LogEndOffset != 5 ||
		g.Partitions[1].Lag != 2 || *g.TotalLag != 6 {
		t.Fatalf("group = %+v", g)
	}

	// A live member: the group is Stable and the member is listed.
	member, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("payments"),
		kgo.ClientID("live-consumer"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for n := 0; n < 10; {
		f := member.PollFetches(pctx)
		if err := pctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10: %v", n, err)
		}
		n += f.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(pctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "group live Stable with its member and no lag", func() (bool, string) {
		var g group
		get(t, u+"groups/live", 200, &g)
		return g.State == "Stable" && g.Members == 1 && g.TotalLag != nil && *g.TotalLag == 0, fmt.Sprintf("%+v", g)
	})

	// A name with a slash and a space, escaped in the URL as the pages do.
	if err := adm.CommitAllOffsets(ctx, "team/billing v2", offs); err != nil {
		t.Fatal(err)
	}
	get(t, u+"groups/"+url.PathEscape("team/billing v2"), 200, &g)
	if g.Group != "team/billing v2" || g.TotalLag == nil || *g.TotalLag != 6 {
		t.Fatalf("group with a slash = %+v", g)
	}

	var e errorAnswer
	get(t, u+"groups/nosuch", 404, &e)
	if !strings.Contains(e.Error, `group "nosuch" does not exist`) {
		t.Fatalf("unknown group: %q", e.Error)
	}
}

func TestStreamsApps(t *testing.T) {
	b := startBroker(t)
	cl, adm := admin(t, b.Addr())
	_, srv := newConsole(t, b.Addr(), "")
	u := srv.URL + "/api/"
	type app struct {
		ApplicationID string `json:"application_id"`
		Subtopologies []console.Subtopology
		GroupState    string `json:"group_state"`
		TotalLag      *int64 `json:"total_lag"`
		Error         string
	}
	var ans struct {
		TopicExists bool `json:"topic_exists"`
		Apps        []app
	}
	get(t, u+"streams", 200, &ans)
	if ans.TopicExists || len(ans.Apps) != 0 {
		t.Fatalf("streams without the topic = %+v", ans)
	}
	tds, err := adm.ListTopicsWithInternal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has(console.StreamsAppsTopic) {
		t.Fatal("the console created " + console.StreamsAppsTopic)
	}

	if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")},
		console.StreamsAppsTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, "lines"); err != nil {
		t.Fatal(err)
	}
	desc := console.StreamsApp{ApplicationID: "wordcount", UpdatedMs: 1733580000000, Instances: 1, Subtopologies: []console.Subtopology{{
		ID: 0, Nodes: []console.TopologyNode{
			{Name: "KSTREAM-SOURCE-0000000000", Type: "source", Topics: []string{"lines"}, Successors: []string{"KSTREAM-SINK-0000000001"}},
			{Name: "KSTREAM-SINK-0000000001", Type: "sink", Topics: []string{"words"}},
		}}}}
	old := desc
	old.Instances = 9
	v, _ := json.Marshal(desc)
	vOld, _ := json.Marshal(old)
	produce(t, cl,
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("wordcount"), Value: vOld},
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("wordcount"), Value: v},
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("broken"), Value: []byte("{not json")},
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("gone"), Value: v},
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("gone")}, // tombstone
		&kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("bad-edge"), Value: []byte(
			`{"application_id":"bad-edge","subtopologies":[{"id":0,"nodes":[{"name":"a","type":"source","successors":["nowhere"]}]}]}`)},
	)
	// The app's consumer group has committed nothing of "lines" yet but
	// exists with offsets: lag shows.
	produce(t, cl, &kgo.Record{Topic: "lines", Value: []byte("a b")}, &kgo.Record{Topic: "lines", Value: []byte("c")})
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "lines", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(context.Background(), "wordcount", offs); err != nil {
		t.Fatal(err)
	}

	get(t, u+"streams", 200, &ans)
	if !ans.TopicExists || len(ans.Apps) != 3 {
		t.Fatalf("streams = %+v", ans)
	}
	byID := map[string]app{}
	for _, a := range ans.Apps {
		byID[a.ApplicationID] = a
	}
	wc := byID["wordcount"]
	if len(wc.Subtopologies) != 1 || len(wc.Subtopologies[0].Nodes) != 2 || wc.Subtopologies[0].Nodes[1].Topics[0] != "words" ||
		wc.Error != "" || wc.TotalLag == nil || *wc.TotalLag != 2 || wc.GroupState != "Empty" {
		t.Fatalf("wordcount = %+v", wc)
	}
	if !strings.Contains(byID["broken"].Error, "not a streams app description") {
		t.Fatalf("broken = %+v", byID["broken"])
	}
	if !strings.Contains(byID["bad-edge"].Error, "successor nowhere") {
		t.Fatalf("bad-edge = %+v", byID["bad-edge"])
	}
}

func TestConnectorsProxy(t *testing.T) {
	b := startBroker(t)
	w, connectURL := startConnect(t, b.Addr(), "gen")
	c, srv := newConsole(t, b.Addr(), connectURL)
	if err := c.PingConnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/api/"
	type conn struct {
		Name, Type, Class, State, Topics string
		Tasks                            []struct {
			ID    int
			State string
		}
	}
	var ans struct {
		Configured bool
		Connectors []conn
	}
	get(t, u+"connectors", 200, &ans)
	if !ans.Configured || len(ans.Connectors) != 1 || ans.Connectors[0].Name != "gen" || ans.Connectors[0].State != "RUNNING" ||
		ans.Connectors[0].Type != "source" || ans.Connectors[0].Class != "DatagenSource" || len(ans.Connectors[0].Tasks) != 1 ||
		ans.Connectors[0].Topics != "gen-views" {
		t.Fatalf("connectors = %+v", ans)
	}
	act := http.Header{"X-Eddy-Console": {"1"}}
	var e errorAnswer
	call(t, "POST", u+"connectors/gen/pause", nil, 403, &e) // without the header
	call(t, "POST", u+"connectors/gen/pause", act, 200, nil)
	waitConnector(t, w, "gen", "PAUSED")
	call(t, "POST", u+"connectors/gen/resume", act, 200, nil)
	waitConnector(t, w, "gen", "RUNNING")
	call(t, "POST", u+"connectors/gen/restart", act, 200, nil)
	waitConnector(t, w, "gen", "RUNNING")
	call(t, "POST", u+"connectors/nosuch/pause", act, 404, &e)
	if !strings.Contains(e.Error, "nosuch") {
		t.Fatalf("unknown connector: %q", e.Error)
	}
	call(t, "POST", u+"connectors/gen/explode", act, 400, &e)

	// Connect down: a clear 502.
	down, srv2 := newConsole(t, b.Addr(), "http://127.0.0.1:1")
	if err := down.PingConnect(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach Kafka Connect") {
		t.Fatalf("PingConnect of a Connect that is down: %v", err)
	}
	get(t, srv2.URL+"/api/connectors", 502, &e)
	if !strings.Contains(e.Error, "cannot reach Kafka Connect at http://127.0.0.1:1") {
		t.Fatalf("Connect down: %q", e.Error)
	}
	// No Connect configured.
	_, srv3 := newConsole(t, b.Addr(), "")
	get(t, srv3.URL+"/api/connectors", 200, &ans)
	if ans.Configured {
		t.Fatal("configured without a URL")
	}
	call(t, "POST", srv3.URL+"/api/connectors/gen/pause", act, 409, &e)
}

func TestUnreachableCluster(t *testing.T) {
	c, err := console.New(console.Config{Brokers: []string{"127.0.0.1:1"}, Logger: quietLogger(), RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Kafka cluster at 127.0.0.1:1") || !strings.Contains(err.Error(), "is a broker running there?") {
		t.Fatalf("Ping = %v", err)
	}
	srv := newServer(t, c)
	var e errorAnswer
	get(t, srv+"/api/overview", 502, &e)
	if !strings.Contains(e.Error, "Kafka cluster at 127.0.0.1:1") || !strings.Contains(e.Error, "is a broker running there?") {
		t.Fatalf("overview of a cluster that is down: %q", e.Error)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []console.Config{
		{},
		{Brokers: []string{" , "}},
		{Brokers: []string{"127.0.0.1:9092"}, ConnectURL: "localhost:8083"},
	} {
		if c, err := console.New(cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestServedByBroker mounts the console on the broker's own HTTP listener,
// as "eddy broker --http" does: pages at /, metrics still at /metrics.
func TestServedByBroker(t *testing.T) {
	slot := &lateHandler{}
	b := startBrokerWith(t, slot)
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slot.set(c)
	base := "http://" + b.HTTPAddr()
	for path, want := range map[string]string{
		"/":                 "<title>Eddy console</title>",
		"/static/app.js":    "hashchange",
		"/static/style.css": "--accent",
		"/metrics":          "# TYPE",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want %q in the body", path, resp.StatusCode, want)
		}
	}
	var ov struct{ Brokers []struct{ Port int } }
	get(t, base+"/api/overview", 200, &ov)
	if len(ov.Brokers) != 1 || ov.Brokers[0].Port == 0 {
		t.Fatalf("overview = %+v", ov)
	}
}

// TestRealStreamsApp runs a real Eddy streams app and checks that the
// console lists it with the topology the app published to
// StreamsAppsTopic, and its consumer group.
func TestRealStreamsApp(t *testing.T) {
	b := startBroker(t)
	cl, adm := admin(t, b.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "text"); err != nil {
		t.Fatal(err)
	}
	sb := streams.NewBuilder()
	lines := streams.From(sb, "text", streams.Consumed[string, string]{})
	words := streams.FlatMapValues(lines, func(_, line string) []string { return strings.Fields(line) })
	counts := streams.GroupBy(words, func(_, word string) string { return word }, streams.Grouped[string, string]{Name: "words"}).
		Count(streams.Materialized[string, int64]{Name: "counts"})
	streams.MapValues(counts.ToStream(), func(_ string, n int64) string { return fmt.Sprint(n) }).
		To("word-counts", streams.Produced[string, string]{})
	topology, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	sapp, err := streams.NewApp(topology, streams.Config{ApplicationID: "wordcount", Brokers: []string{b.Addr()},
		StateDir: t.TempDir(), InMemoryStores: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sapp.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("streams app: %v", err)
		}
	}()
	produce(t, cl, &kgo.Record{Topic: "text", Value: []byte("a b a")})

	_, srv := newConsole(t, b.Addr(), "")
	type app struct {
		ApplicationID string `json:"application_id"`
		Subtopologies []console.Subtopology
		GroupState    string `json:"group_state"`
		Error         string
	}
	waitFor(t, 30*time.Second, "the wordcount app listed with its topology and a Stable group", func() (bool, string) {
		var ans struct{ Apps []app }
		get(t, srv.URL+"/api/streams", 200, &ans)
		if len(ans.Apps) != 1 {
			return false, fmt.Sprintf("%+v", ans)
		}
		a := ans.Apps[0]
		var sources []string
		for _, st := range a.Subtopologies {
			for _, n := range st.Nodes {
				if n.Type == "source" {
					sources = append(sources, n.Topics...)
				}
			}
		}
		return a.ApplicationID == "wordcount" && a.Error == "" && len(a.Subtopologies) == 2 && a.GroupState == "Stable" &&
			strings.Contains(strings.Join(sources, ","), "text"), fmt.Sprintf("%+v", a)
	})
}

// Large values are cut for display, and one answer stops at a size bound
// with the rest on the next page.
func TestLargeRecords(t *testing.T) {
	b := startBroker(t)
	cl, adm := admin(t, b.Addr())
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, "blobs"); err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("x", 70<<10)) // 70 KiB: shown as its first 64 KiB
	var recs []*kgo.Record
	for range 80 { // 80 × 64 KiB shown > the 4 MiB an answer holds
		recs = append(recs, &kgo.Record{Topic: "blobs", Value: big})
	}
	for i := 0; i < len(recs); i += 10 {
		produce(t, cl, recs[i:i+10]...)
	}
	_, srv := newConsole(t, b.Addr(), "")
	var ra struct {
		recordsAnswer
		Records []struct {
			Offset int64
			Value  struct {
				Text      string
				Size      int
				Truncated bool
			}
		}
	}
	get(t, srv.URL+"/api/topics/blobs/records?limit=500", 200, &ra)
	n := len(ra.Records)
	if n == 0 || n >= 80 || ra.NextOffset != int64(n) || !strings.Contains(ra.Note, "next page") {
		t.Fatalf("%d records, next offset %d, note %q: want fewer than 80 and the rest on the next page", n, ra.NextOffset, ra.Note)
	}
	v := ra.Records[0].Value
	if !v.Truncated || v.Size != 70<<10 || len(v.Text) != 64<<10 {
		t.Fatalf("a 70 KiB value: truncated %v, size %d, %d bytes shown", v.Truncated, v.Size, len(v.Text))
	}
	get(t, fmt.Sprintf("%s/api/topics/blobs/records?limit=500&from=offset&offset=%d", srv.URL, ra.NextOffset), 200, &ra)
	if len(ra.Records)+n != 80 || ra.NextOffset != 80 {
		t.Fatalf("next page: %d records to offset %d; want the other %d", len(ra.Records), ra.NextOffset, 80-n)
	}
}

// Mounted under a prefix with http.StripPrefix, the pages and the API are
// found there (the pages use relative URLs).
func TestUnderPrefix(t *testing.T) {
	b := startBroker(t)
	c, _ := newConsole(t, b.Addr(), "")
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", c))
	base := newServer(t, mux)
	resp, err := http.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `src="static/app.js"`) {
		t.Fatalf("GET /console/: %d\n%s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/console/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "--accent") {
		t.Fatalf("GET /console/static/style.css: %d", resp.StatusCode)
	}
	var ov struct {
		ClusterID string `json:"cluster_id"`
	}
	get(t, base+"/console/api/overview", 200, &ov)
	if ov.ClusterID == "" {
		t.Fatal("no cluster id under the prefix")
	}
}
