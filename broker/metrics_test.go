package broker

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrape GETs url and parses it with Prometheus's own text parser, as a
// Prometheus server would.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// metricValue returns the value of the series of family name whose labels
// include want ("k=v" pairs), and whether there is one. Histograms report
// their sample count.
func metricValue(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustMetric(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	v, ok := metricValue(fams, name, want...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, want)
	}
	return v
}

// TestMetricsMoveWithProduceFetchAndCommit scrapes /metrics from the
// broker's HTTP listener before and after traffic and checks that the
// counters, partition offsets and group lag follow it.
func TestMetricsMoveWithProduceFetchAndCommit(t *testing.T) {
	ctx := testCtx(t)
	b := startBroker(t, func(c *Config) {
		c.HTTPListen = "127.0.0.1:0"
		c.GroupInitialRebalanceDelay = -1
	})
	url := "http://" + b.HTTPAddr() + "/metrics"

	fams := scrape(t, url)
	if v := mustMetric(t, fams, metricBrokerInfo, "cluster_id="+b.ClusterID(), "node_id=0"); v != 1 {
		t.Errorf("%s = %v, want 1", metricBrokerInfo, v)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Errorf("no Go runtime metrics")
	}

	cl := newKgoClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, ctx, cl, "metered", 2)
	const n = 10
	for i := range n {
		r := &kgo.Record{Topic: "metered", Partition: 0, Value: fmt.Appendf(nil, "value-%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	fams = scrape(t, url)
	if v := mustMetric(t, fams, metricProducedRecords, "topic=metered"); v != n {
		t.Errorf("%s = %v, want %d", metricProducedRecords, v, n)
	}
	inBytes := mustMetric(t, fams, metricProducedBytes, "topic=metered")
	if inBytes < n*61 { // every batch has a 61-byte header
		t.Errorf("%s = %v, want at least %d", metricProducedBytes, inBytes, n*61)
	}
	if v := mustMetric(t, fams, metricLogEnd, "topic=metered", "partition=0"); v != n {
		t.Errorf("%s{partition=0} = %v, want %d", metricLogEnd, v, n)
	}
	if v := mustMetric(t, fams, metricLogEnd, "topic=metered", "partition=1"); v != 0 {
		t.Errorf("%s{partition=1} = %v, want 0", metricLogEnd, v)
	}
	if v := mustMetric(t, fams, metricLogStart, "topic=metered", "partition=0"); v != 0 {
		t.Errorf("%s = %v, want 0", metricLogStart, v)
	}
	if v := mustMetric(t, fams, metricPartitionSize, "topic=metered", "partition=0"); v != inBytes {
		t.Errorf("%s = %v, want the %v bytes produced", metricPartitionSize, v, inBytes)
	}
	if v := mustMetric(t, fams, metricFsyncWait); v < n {
		t.Errorf("%s has %v observations, want at least %d (one per acks=all produce)", metricFsyncWait, v, n)
	}
	if v := mustMetric(t, fams, metricRequestDuration, "api=Produce"); v < n {
		t.Errorf("%s{api=Produce} has %v observations, want at least %d", metricRequestDuration, v, n)
	}
	var produces float64
	for _, m := range fams[metricRequests].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "api" && l.GetValue() == "Produce" {
				produces += m.Counter.GetValue()
			}
		}
	}
	if produces < n {
		t.Errorf("%s{api=Produce} summed over versions = %v, want at least %d", metricRequests, produces, n)
	}
	if v := mustMetric(t, fams, metricConnections); v < 1 {
		t.Errorf("%s = %v with a client connected", metricConnections, v)
	}
	if v := mustMetric(t, fams, metricFetchedBytes, "topic=metered"); v != 0 {
		t.Errorf("%s = %v before any fetch", metricFetchedBytes, v)
	}
	if v := mustMetric(t, fams, metricFetchedRecords, "topic=metered"); v != 0 {
		t.Errorf("%s = %v before any fetch", metricFetchedRecords, v)
	}

	// Consume everything in a group and commit.
	gcl := newKgoClient(t, b.Addr(), kgo.ConsumerGroup("meter-group"), kgo.ConsumeTopics("metered"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for got := 0; got < n; {
		fs := gcl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	fams = scrape(t, url)
	if v := mustMetric(t, fams, metricFetchedBytes, "topic=metered"); v < inBytes {
		t.Errorf("%s = %v, want at least the %v bytes produced", metricFetchedBytes, v, inBytes)
	}
	if v := mustMetric(t, fams, metricFetchedRecords, "topic=metered"); v != n {
		t.Errorf("%s = %v, want the %d records consumed", metricFetchedRecords, v, n)
	}
	if v := mustMetric(t, fams, metricGroupCommitted, "group=meter-group", "topic=metered", "partition=0"); v != n {
		t.Errorf("%s = %v, want %d", metricGroupCommitted, v, n)
	}
	if v := mustMetric(t, fams, metricGroupLag, "group=meter-group", "topic=metered", "partition=0"); v != 0 {
		t.Errorf("%s = %v after consuming everything, want 0", metricGroupLag, v)
	}

	// Lag grows with records nobody consumed.
	for range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "metered", Partition: 0, Value: []byte("late")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	fams = scrape(t, url)
	if v := mustMetric(t, fams, metricGroupLag, "group=meter-group", "topic=metered", "partition=0"); v != 3 {
		t.Errorf("%s = %v, want 3", metricGroupLag, v)
	}
	if v := mustMetric(t, fams, metricProducedRecords, "topic=metered"); v != n+3 {
		t.Errorf("%s = %v, want %d", metricProducedRecords, v, n+3)
	}
	gcl.Close()

	// A deleted topic's series go away with it.
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, "metered"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	fams = scrape(t, url)
	for _, name := range []string{metricProducedRecords, metricLogEnd, metricPartitionSize} {
		if v, ok := metricValue(fams, name, "topic=metered"); ok {
			t.Errorf("%s{topic=metered} = %v after the topic was deleted", name, v)
		}
	}
}

// TestMetricsHandlerWithoutHTTPListener checks that a program serving its
// own HTTP can mount MetricsHandler, and that no listener is opened unless
// asked for.
func TestMetricsHandlerWithoutHTTPListener(t *testing.T) {
	b := startBroker(t)
	if b.HTTPAddr() != "" {
		t.Fatalf("HTTPAddr = %q without Config.HTTPListen", b.HTTPAddr())
	}
	srv := httptest.NewServer(b.MetricsHandler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	if _, ok := metricValue(fams, metricConnections); !ok {
		t.Errorf("no %s in %d families", metricConnections, len(fams))
	}
	for name := range fams {
		if !strings.HasPrefix(name, "eddy_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s lacks the eddy_ prefix", name)
		}
	}
}

// TestMetricsHotPathDoesNotAllocate guards the per-request cost: counting
// a produce, a request and a connection allocates nothing once the
// partition and the API have been seen.
func TestMetricsHotPathDoesNotAllocate(t *testing.T) {
	b := startBroker(t)
	tp, err := b.topics.create("hot", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := tp.partitions[0]
	m := b.metrics
	m.produced(p, 1, 100)
	m.request(0, 9)
	allocs := testing.AllocsPerRun(1000, func() {
		m.produced(p, 10, 1000)
		m.request(0, 9)
		m.connOpened()
		m.connClosed()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per produce+request, want 0", allocs)
	}
}

func TestHTTPListenErrors(t *testing.T) {
	_, err := Start(testCtx(t), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "nonsense", Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "HTTP listen") {
		t.Fatalf("Start with a bad HTTPListen: %v, want an error naming the HTTP listener", err)
	}
}
