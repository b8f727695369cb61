package connectors

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The worker's Prometheus metrics, per connector and task. Kafka Connect
// has the same measurements as JMX beans (source-task-metrics,
// sink-task-metrics, task-error-metrics); the names here follow
// Prometheus conventions, with the Kafka metric each mirrors in its help.
// They live on a registry of the worker's own, served at GET /metrics on
// the REST listener (an addition: Kafka Connect has no such path), and are
// also registered with WorkerConfig.Registerer when one is given.

// Metric names, for docs and tests.
const (
	MetricSourceRecordsPolled  = "eddy_connect_source_records_polled_total"
	MetricSourceRecordsWritten = "eddy_connect_source_records_written_total"
	MetricSinkRecordsRead      = "eddy_connect_sink_records_read_total"
	MetricSinkRecordsPut       = "eddy_connect_sink_records_put_total"
	MetricRecordErrors         = "eddy_connect_record_errors_total"
	MetricRecordsSkipped       = "eddy_connect_records_skipped_total"
	MetricRetries              = "eddy_connect_retries_total"
	MetricDLQRecords           = "eddy_connect_dead_letter_records_total"
	MetricDLQFailures          = "eddy_connect_dead_letter_failures_total"
	MetricOffsetCommits        = "eddy_connect_offset_commits_total"
	MetricTaskFailures         = "eddy_connect_task_failures_total"
	MetricTasks                = "eddy_connect_tasks"
	MetricPollDuration         = "eddy_connect_source_poll_duration_seconds"
	MetricPutDuration          = "eddy_connect_sink_put_duration_seconds"
	MetricCommitDuration       = "eddy_connect_offset_commit_duration_seconds"
)

// durationBuckets span 100µs to about 26s.
var durationBuckets = prometheus.ExponentialBuckets(0.0001, 4, 10)

type workerMetrics struct {
	reg        *prometheus.Registry
	external   prometheus.Registerer // WorkerConfig.Registerer, or nil
	collectors []prometheus.Collector

	polled, written, read, put     *prometheus.CounterVec
	errs, skipped, retries         *prometheus.CounterVec
	dlq, dlqFailures, taskFailures *prometheus.CounterVec
	commits                        *prometheus.CounterVec
	pollTime, putTime, commitTime  *prometheus.HistogramVec
}

// taskMetrics are one task's series, resolved once when the task starts.
type taskMetrics struct {
	polled, written, read, put prometheus.Counter
	errs, skipped, retries     prometheus.Counter
	dlq, dlqFailures           prometheus.Counter
	commitsOK, commitsFailed   prometheus.Counter
	failures                   prometheus.Counter
	pollTime, putTime          prometheus.Observer
	commitTime                 prometheus.Observer
}

func newWorkerMetrics(w *Worker, external prometheus.Registerer) (*workerMetrics, error) {
	labels := []string{"connector", "task"}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append(labels[:2:2], extra...))
	}
	m := &workerMetrics{
		reg:      prometheus.NewRegistry(),
		external: external,
		polled: counter(MetricSourceRecordsPolled,
			"Records a source task returned from poll, before transforms (Kafka: source-record-poll-total)."),
		written: counter(MetricSourceRecordsWritten,
			"Records a source task wrote to Kafka and had acknowledged, after transforms dropped some (Kafka: source-record-write-total)."),
		read: counter(MetricSinkRecordsRead,
			"Records a sink task read from Kafka (Kafka: sink-record-read-total)."),
		put: counter(MetricSinkRecordsPut,
			"Records handed to a sink task's put and accepted by it, after transforms (Kafka: sink-record-send-total)."),
		errs: counter(MetricRecordErrors,
			"Records that failed in a converter, transform or the task (Kafka: total-record-errors)."),
		skipped: counter(MetricRecordsSkipped,
			"Failed records skipped under errors.tolerance=all (Kafka: total-records-skipped)."),
		retries: counter(MetricRetries,
			"Retries of operations that failed with a retriable error (Kafka: total-retries)."),
		dlq: counter(MetricDLQRecords,
			"Failed records written to the dead letter queue topic (Kafka: deadletterqueue-produce-requests)."),
		dlqFailures: counter(MetricDLQFailures,
			"Failed records that could not be written to the dead letter queue topic (Kafka: deadletterqueue-produce-failures)."),
		taskFailures: counter(MetricTaskFailures,
			"Times a task stopped in the FAILED state."),
		commits: counter(MetricOffsetCommits,
			"Offset commits of a task, by result: a source task's offsets written to the offsets topic, a sink task's flush and consumer group commit (Kafka: offset-commit-completion-total, offset-commit-skip-total).",
			"result"),
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets}, labels)
	}
	m.pollTime = histogram(MetricPollDuration,
		"Time a source task's poll took, for polls that returned records (Kafka: poll-batch-avg-time-ms, poll-batch-max-time-ms).")
	m.putTime = histogram(MetricPutDuration,
		"Time a sink task's put took for one batch, retries included (Kafka: put-batch-avg-time-ms, put-batch-max-time-ms).")
	m.commitTime = histogram(MetricCommitDuration,
		"Time an offset commit took: writing a source task's offsets, or a sink task's flush and group commit (Kafka: offset-commit-avg-time-ms).")
	m.collectors = []prometheus.Collector{m.polled, m.written, m.read, m.put, m.errs, m.skipped, m.retries,
		m.dlq, m.dlqFailures, m.taskFailures, m.commits, m.pollTime, m.putTime, m.commitTime, &taskStateCollector{w: w}}
	for _, c := range m.collectors {
		m.reg.MustRegister(c)
	}
	if external != nil {
		for i, c := range m.collectors {
			if err := external.Register(c); err != nil {
				for _, done := range m.collectors[:i] {
					external.Unregister(done)
				}
				return nil, errors.Join(errors.New("connectors: registering the worker's metrics with WorkerConfig.Registerer"), err)
			}
		}
	}
	return m, nil
}

// close unregisters the metrics from WorkerConfig.Registerer, so that a
// new worker can register there again.
func (m *workerMetrics) close() {
	if m.external == nil {
		return
	}
	for _, c := range m.collectors {
		m.external.Unregister(c)
	}
}

// task resolves one task's series; a source task gets no sink series and
// a sink task no source ones (their counters there count nowhere).
func (m *workerMetrics) task(connector string, task int, typ Type) *taskMetrics {
	l := prometheus.Labels{"connector": connector, "task": strconv.Itoa(task)}
	commit := func(result string) prometheus.Counter {
		return m.commits.With(prometheus.Labels{"connector": connector, "task": l["task"], "result": result})
	}
	nowhere := func(*prometheus.CounterVec) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"})
	}
	src, sink := nowhere, nowhere
	discard := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unregistered"})
	pollTime, putTime := prometheus.Observer(discard), prometheus.Observer(discard)
	if typ == TypeSource {
		src = func(v *prometheus.CounterVec) prometheus.Counter { return v.With(l) }
		pollTime = m.pollTime.With(l)
	} else {
		sink = func(v *prometheus.CounterVec) prometheus.Counter { return v.With(l) }
		putTime = m.putTime.With(l)
	}
	return &taskMetrics{
		polled: src(m.polled), written: src(m.written), read: sink(m.read), put: sink(m.put),
		errs: m.errs.With(l), skipped: m.skipped.With(l), retries: m.retries.With(l),
		dlq: sink(m.dlq), dlqFailures: sink(m.dlqFailures), failures: m.taskFailures.With(l),
		commitsOK: commit("success"), commitsFailed: commit("failure"),
		pollTime: pollTime, putTime: putTime, commitTime: m.commitTime.With(l),
	}
}

// forget drops a deleted connector's series.
func (m *workerMetrics) forget(connector string) {
	l := prometheus.Labels{"connector": connector}
	for _, v := range []*prometheus.CounterVec{m.polled, m.written, m.read, m.put, m.errs, m.skipped,
		m.retries, m.dlq, m.dlqFailures, m.taskFailures, m.commits} {
		v.DeletePartialMatch(l)
	}
	for _, v := range []*prometheus.HistogramVec{m.pollTime, m.putTime, m.commitTime} {
		v.DeletePartialMatch(l)
	}
}

// taskStateCollector reports, at scrape time, how many of each connector's
// tasks running in this worker are in each state.
type taskStateCollector struct{ w *Worker }

var descTasks = prometheus.NewDesc(MetricTasks,
	"Tasks of a connector running in this worker, by state (RUNNING, PAUSED, FAILED, ...).",
	[]string{"connector", "state"}, nil)

func (c *taskStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descTasks }

func (c *taskStateCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	w.mu.Lock()
	runs := make([]*connectorRun, 0, len(w.connectors))
	for _, cr := range w.connectors {
		runs = append(runs, cr)
	}
	w.mu.Unlock()
	for _, cr := range runs {
		cr.mu.Lock()
		tasks := cr.tasks
		cr.mu.Unlock()
		counts := map[string]int{}
		for _, t := range tasks {
			s, _ := t.status()
			counts[s]++
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), cr.name, state)
		}
	}
}

// MetricsHandler serves the worker's metrics in Prometheus' text format
// (the REST API's GET /metrics).
func (w *Worker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{})
}
