package connectors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-streams/eddy/connectors"
)

// scrape GETs url and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
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

// value returns the value of the series of family name whose labels
// include want (name, value pairs), a histogram's sample count; -1 when
// there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// A file → topic → file run moves the per-task counters served at GET
// /metrics; a bad record under errors.tolerance=all counts as an error,
// a skip and a dead letter.
func TestWorkerMetrics(t *testing.T) {
	addr := startBroker(t)
	reg := prometheus.NewRegistry()
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) { c.Registerer = reg })
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()

	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var want []string
	for i := range 30 {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	appendLines(t, in, want...)
	for name, cfg := range map[string]map[string]string{
		"src":  {"connector.class": "FileStreamSource", "file": in, "topic": "lines"},
		"sink": {"connector.class": "FileStreamSink", "file": out, "topics": "lines"},
	} {
		if _, _, err := w.CreateConnector(name, cfg, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "30 lines in the sink file", func() bool { return len(lines(out)) == 30 })

	var fams map[string]*dto.MetricFamily
	waitFor(t, 10*time.Second, "counters at 30 and an offset commit by each task", func() bool {
		fams = scrape(t, srv.URL+"/metrics")
		return value(fams, connectors.MetricSourceRecordsWritten, "connector", "src", "task", "0") == 30 &&
			value(fams, connectors.MetricSinkRecordsPut, "connector", "sink", "task", "0") == 30 &&
			value(fams, connectors.MetricOffsetCommits, "connector", "src", "result", "success") >= 1 &&
			value(fams, connectors.MetricOffsetCommits, "connector", "sink", "result", "success") >= 1
	})
	for _, c := range []struct {
		name, connector string
		want            float64
	}{
		{connectors.MetricSourceRecordsPolled, "src", 30},
		{connectors.MetricSinkRecordsRead, "sink", 30},
		{connectors.MetricRecordErrors, "sink", 0},
	} {
		if got := value(fams, c.name, "connector", c.connector, "task", "0"); got != c.want {
			t.Errorf("%s{connector=%q} = %v, want %v", c.name, c.connector, got, c.want)
		}
	}
	if got := value(fams, connectors.MetricOffsetCommits, "connector", "src", "result", "failure"); got != 0 {
		t.Errorf("failed source offset commits = %v", got)
	}
	for _, c := range []struct{ name, connector string }{
		{connectors.MetricPollDuration, "src"}, {connectors.MetricPutDuration, "sink"},
		{connectors.MetricCommitDuration, "src"}, {connectors.MetricCommitDuration, "sink"},
	} {
		if got := value(fams, c.name, "connector", c.connector); got < 1 {
			t.Errorf("%s{connector=%q} has %v observations, want some", c.name, c.connector, got)
		}
	}
	if got := value(fams, connectors.MetricPutDuration, "connector", "src"); got != -1 {
		t.Errorf("a source task has a put duration series")
	}
	if got := value(fams, connectors.MetricTasks, "connector", "sink", "state", connectors.StateRunning); got != 1 {
		t.Errorf("%s{connector=sink,state=RUNNING} = %v, want 1", connectors.MetricTasks, got)
	}

	// The same series are in the Registerer's registry.
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range gathered {
		if f.GetName() == connectors.MetricSourceRecordsPolled {
			found = len(f.GetMetric()) > 0 && f.GetMetric()[0].GetCounter().GetValue() == 30
		}
	}
	if !found {
		t.Errorf("%s not in WorkerConfig.Registerer's registry with value 30", connectors.MetricSourceRecordsPolled)
	}

	// A record that is not JSON, tolerated and sent to a dead letter topic.
	produce(t, addr, "mixed", `{"n":1}`, `not json`)
	if _, _, err := w.CreateConnector("tolerant", map[string]string{
		"connector.class": "FileStreamSink", "file": filepath.Join(dir, "mixed.txt"), "topics": "mixed",
		"value.converter": "json", "value.converter.schemas.enable": "false",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "one dead letter counted", func() bool {
		fams = scrape(t, srv.URL+"/metrics")
		return value(fams, connectors.MetricDLQRecords, "connector", "tolerant") == 1
	})
	for name, want := range map[string]float64{
		connectors.MetricRecordErrors:    1,
		connectors.MetricRecordsSkipped:  1,
		connectors.MetricSinkRecordsRead: 2,
		connectors.MetricSinkRecordsPut:  1,
	} {
		if got := value(fams, name, "connector", "tolerant"); got != want {
			t.Errorf("%s{connector=tolerant} = %v, want %v", name, got, want)
		}
	}
	consumeAll(t, addr, "dlq", 1)

	// A deleted connector's series go; Close unregisters from Registerer.
	if err := w.DeleteConnector("tolerant"); err != nil {
		t.Fatal(err)
	}
	if got := value(scrape(t, srv.URL+"/metrics"), connectors.MetricDLQRecords, "connector", "tolerant"); got != -1 {
		t.Errorf("deleted connector's dead letter series still there: %v", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if gathered, _ := reg.Gather(); len(gathered) != 0 {
		t.Errorf("after Close the Registerer still has %d families", len(gathered))
	}
}
