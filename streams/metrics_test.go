package streams_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// scrape fetches url and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample is the value of the series of family name whose labels include
// want (0 when there is none); histograms give their sample count.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// awaitMetrics scrapes until ok accepts what it sees.
func awaitMetrics(t *testing.T, url string, what string, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		fams := scrape(t, url)
		if ok(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			for name, f := range fams {
				if strings.HasPrefix(name, "eddy_streams_") {
					fmt.Fprintln(&sb, f.String())
				}
			}
			t.Fatalf("metrics never showed %s:\n%s", what, sb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The app's Prometheus metrics move as it processes, commits, drops a late
// record, buffers a window, and as a second app restores its stores.
func TestAppMetrics(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 1, "clicks", "clicks-per-minute")
	b := streams.NewBuilder()
	clicks := streams.From(b, "clicks", streams.Consumed[string, string]{})
	streams.WindowedBy(clicks.GroupByKey(streams.Grouped[string, string]{}), streams.TimeWindows{Size: time.Minute}).
		Count(streams.Materialized[string, int64]{Name: "per-minute"}).
		Suppress(streams.Suppressed{UntilWindowCloses: true, Name: "final"}).
		ToStream().To("clicks-per-minute", streams.Produced[streams.Windowed[string], int64]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	// 100 clicks of "a" in the first minute, one in the second (which
	// closes the first: no grace), then one more in the first: late.
	var msgs []*sarama.ProducerMessage
	click := func(ts time.Time) {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "clicks", Key: sarama.StringEncoder("a"), Value: sarama.StringEncoder("/"), Timestamp: ts})
	}
	for i := range 100 {
		click(base.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	click(base.Add(time.Minute))
	click(base.Add(30 * time.Second))
	c := saramaConfig()
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	p.Close()

	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	url := srv.URL + "/metrics"
	// A long commit interval: the 101 updates of the first window meet in
	// the store cache, which sends only the last to the changelog. The
	// first commit comes when the app stops.
	_, stop := runApp(t, top, streams.Config{ApplicationID: "metrics", Brokers: []string{addr}, Registerer: reg, CommitInterval: time.Hour})
	app := map[string]string{"application_id": "metrics"}
	task := map[string]string{"application_id": "metrics", "task": "0_0"}
	buffer := map[string]string{"application_id": "metrics", "task": "0_0", "store": "final-store"}
	awaitMetrics(t, url, "102 records processed", func(f map[string]*dto.MetricFamily) bool {
		return sample(f, streams.MetricProcessedRecords, task) == 102
	})
	fams := scrape(t, url)
	if n := sample(fams, streams.MetricLateRecordsDropped, task); n != 1 {
		t.Errorf("late records dropped %v, want 1", n)
	}
	if n := sample(fams, streams.MetricProcessLatency, app); n < 1 {
		t.Errorf("process latency has %v observations", n)
	}
	// The first window was emitted; the second is held back.
	if n := sample(fams, streams.MetricSuppressionBufferRecords, buffer); n != 1 {
		t.Errorf("suppression buffer holds %v records, want 1", n)
	}
	if n := sample(fams, streams.MetricSuppressionBufferBytes, buffer); n <= 17 {
		t.Errorf("suppression buffer holds %v bytes", n)
	}
	if n := sample(fams, streams.MetricCommits, app); n != 0 {
		t.Errorf("%v commits before the first commit interval", n)
	}
	stop()
	fams = scrape(t, url)
	if n := sample(fams, streams.MetricCommits, app); n < 1 {
		t.Errorf("%v commits after stopping", n)
	}
	if n := sample(fams, streams.MetricCommitLatency, app); n < 1 {
		t.Errorf("commit latency has %v observations", n)
	}
	// 102 updates of two windows (the late record updated none): 100
	// replaced ones were never sent.
	perMinute := map[string]string{"application_id": "metrics", "task": "0_0", "store": "per-minute"}
	if n := sample(fams, streams.MetricCacheSavedRecords, perMinute); n != 99 {
		t.Errorf("cache saved %v changelog records of per-minute, want 99", n)
	}
	if n := sample(fams, streams.MetricRestoredRecords, perMinute); n != 0 {
		t.Errorf("restored %v records on the first start", n)
	}

	// A second app of the same id with empty in-memory stores restores
	// them from their changelogs: two windows, and one buffered window.
	_, stop2 := runApp(t, top, streams.Config{ApplicationID: "metrics", Brokers: []string{addr}, Registerer: reg, InMemoryStores: true})
	defer stop2()
	fams = awaitMetrics(t, url, "restoration", func(f map[string]*dto.MetricFamily) bool {
		return sample(f, streams.MetricRestoredRecords, perMinute) == 2
	})
	if n := sample(fams, streams.MetricRestoreRemainingRecords, perMinute); n != 0 {
		t.Errorf("%v records left to restore after restoring", n)
	}
	awaitMetrics(t, url, "the restored suppression buffer", func(f map[string]*dto.MetricFamily) bool {
		return sample(f, streams.MetricRestoredRecords, buffer) >= 1 && sample(f, streams.MetricSuppressionBufferRecords, buffer) == 1
	})
}

// Apps of different ids share a registry; instances of one id share their
// series; a registry holding a different metric of one of the names makes
// NewApp fail with a clear error.
func TestAppMetricsRegistration(t *testing.T) {
	top := testapps.WordCount()
	reg := prometheus.NewRegistry()
	for _, id := range []string{"one", "two", "two"} {
		if _, err := streams.NewApp(top, streams.Config{ApplicationID: id, Brokers: []string{"127.0.0.1:1"}, Registerer: reg}); err != nil {
			t.Fatalf("NewApp %s: %v", id, err)
		}
	}
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: streams.MetricCommits, Help: "something else"}))
	_, err := streams.NewApp(top, streams.Config{ApplicationID: "three", Brokers: []string{"127.0.0.1:1"}, Registerer: clash})
	if err == nil || !strings.Contains(err.Error(), "register the metrics of three") {
		t.Fatalf("NewApp with a clashing registry: %v", err)
	}
}
