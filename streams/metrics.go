package streams

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streams/eddy/state"
)

// The app's Prometheus metrics, registered on Config.Registerer (none when
// it is nil). Every series has the constant label application_id; per-task
// series add task ("<sub-topology>_<partition>", Kafka Streams' task id)
// and per-store series add store. They follow Kafka Streams' task and store
// metrics (process-total, process-latency, commit-latency, commit-total,
// dropped-records-total, restore-total, restore-remaining-records-total,
// suppression-buffer-size and -count) under Prometheus names.
const (
	MetricProcessedRecords         = "eddy_streams_processed_records_total"
	MetricProcessLatency           = "eddy_streams_process_latency_seconds"
	MetricCommits                  = "eddy_streams_commits_total"
	MetricCommitLatency            = "eddy_streams_commit_latency_seconds"
	MetricRestoredRecords          = "eddy_streams_restored_records_total"
	MetricRestoreRemainingRecords  = "eddy_streams_restore_remaining_records"
	MetricLateRecordsDropped       = "eddy_streams_late_records_dropped_total"
	MetricSuppressionBufferRecords = "eddy_streams_suppression_buffer_records"
	MetricSuppressionBufferBytes   = "eddy_streams_suppression_buffer_bytes"
	MetricCacheSavedRecords        = "eddy_streams_cache_saved_records_total"
)

// appMetrics are an app's series. A nil *appMetrics records nothing.
type appMetrics struct {
	processed        *prometheus.CounterVec // task
	processLatency   prometheus.Histogram
	commits          prometheus.Counter
	commitLatency    prometheus.Histogram
	restored         *prometheus.CounterVec // task, store
	restoreRemaining *prometheus.GaugeVec   // task, store
	late             *prometheus.CounterVec // task
	suppressRecords  *prometheus.GaugeVec   // task, store
	suppressBytes    *prometheus.GaugeVec   // task, store
	cacheSaved       *prometheus.CounterVec // task, store
}

// newAppMetrics creates the series of application app and registers them
// on reg. A second app with the same application id on the same registerer
// (two instances in one process) shares the first one's series.
func newAppMetrics(app string, reg prometheus.Registerer) (*appMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	cl := prometheus.Labels{"application_id": app}
	m := &appMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricProcessedRecords, ConstLabels: cl,
			Help: "Input records processed, by task.",
		}, []string{"task"}),
		processLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: MetricProcessLatency, ConstLabels: cl,
			Help: "Time to process one input record through its task's topology. Tasks process records in batches of up to 256; each batch is observed once, with its mean time per record.",
			// 1µs to about 4s.
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricCommits, ConstLabels: cl,
			Help: "Commits of processed input offsets (after outputs and changelog writes were acknowledged and store checkpoints written).",
		}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: MetricCommitLatency, ConstLabels: cl,
			Help: "Time a commit took: flushing store caches, waiting for every produced record to be acknowledged, writing checkpoints and committing offsets.",
			// 100µs to about 26s.
			Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10),
		}),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRestoredRecords, ConstLabels: cl,
			Help: "Changelog records applied to stores while restoring them, by task and store.",
		}, []string{"task", "store"}),
		restoreRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricRestoreRemainingRecords, ConstLabels: cl,
			Help: "Changelog records (offsets) a store still has to restore before its task processes; 0 once restored.",
		}, []string{"task", "store"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricLateRecordsDropped, ConstLabels: cl,
			Help: "Records windowed aggregations and stream-stream joins dropped because their window had closed (once per closed window a record would have updated), by task.",
		}, []string{"task"}),
		suppressRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricSuppressionBufferRecords, ConstLabels: cl,
			Help: "Keys held back in a suppression buffer, by task and buffer store.",
		}, []string{"task", "store"}),
		suppressBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricSuppressionBufferBytes, ConstLabels: cl,
			Help: "Bytes (encoded keys and values plus 17 each) held in a suppression buffer, by task and buffer store.",
		}, []string{"task", "store"}),
		cacheSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricCacheSavedRecords, ConstLabels: cl,
			Help: "Store writes the write cache absorbed because a later write of the same key replaced them before a commit: changelog records not sent. Counted at commits, by task and store.",
		}, []string{"task", "store"}),
	}
	var err error
	m.processed = register(reg, m.processed, &err)
	m.processLatency = register(reg, m.processLatency, &err)
	m.commits = register(reg, m.commits, &err)
	m.commitLatency = register(reg, m.commitLatency, &err)
	m.restored = register(reg, m.restored, &err)
	m.restoreRemaining = register(reg, m.restoreRemaining, &err)
	m.late = register(reg, m.late, &err)
	m.suppressRecords = register(reg, m.suppressRecords, &err)
	m.suppressBytes = register(reg, m.suppressBytes, &err)
	m.cacheSaved = register(reg, m.cacheSaved, &err)
	if err != nil {
		return nil, fmt.Errorf("streams: register the metrics of %s: %w", app, err)
	}
	return m, nil
}

// register registers c on reg and returns it, or the collector already
// registered in its place (an app with the same application id on the same
// registerer). Other failures are joined to *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(C); ok {
			return ex
		}
	}
	*errp = errors.Join(*errp, err)
	return c
}

// taskMetrics are one task's series, resolved once. A nil *taskMetrics
// records nothing.
type taskMetrics struct {
	app       *appMetrics
	task      string
	processed prometheus.Counter
	late      prometheus.Counter
}

func (m *appMetrics) forTask(id TaskID) *taskMetrics {
	if m == nil {
		return nil
	}
	task := id.String()
	return &taskMetrics{app: m, task: task,
		processed: m.processed.WithLabelValues(task),
		late:      m.late.WithLabelValues(task),
	}
}

// processedBatch records a batch of n records processed in d.
func (m *taskMetrics) processedBatch(n int, d time.Duration) {
	if m == nil || n == 0 {
		return
	}
	m.processed.Add(float64(n))
	m.app.processLatency.Observe(d.Seconds() / float64(n))
}

func (m *taskMetrics) lateRecord() {
	if m != nil {
		m.late.Inc()
	}
}

// suppression returns the gauges of a suppression buffer (nil, nil without
// metrics).
func (m *taskMetrics) suppression(store string) (records, bytes prometheus.Gauge) {
	if m == nil {
		return nil, nil
	}
	return m.app.suppressRecords.WithLabelValues(m.task, store), m.app.suppressBytes.WithLabelValues(m.task, store)
}

// restoreProgress returns a state.Restorer Progress function that moves
// the restoration series of one store.
func (m *taskMetrics) restoreProgress(store string) func(state.RestoreProgress) {
	if m == nil {
		return nil
	}
	restored := m.app.restored.WithLabelValues(m.task, store)
	remaining := m.app.restoreRemaining.WithLabelValues(m.task, store)
	var seen int64
	return func(p state.RestoreProgress) {
		restored.Add(float64(p.Records - seen))
		seen = p.Records
		left := p.EndOffset - 1 - p.Offset
		if p.Done || left < 0 {
			left = 0
		}
		remaining.Set(float64(left))
	}
}

// cacheSaved adds what the caches of the task's stores saved since the last
// call.
func (m *taskMetrics) cacheSaved(t *task) {
	if m == nil {
		return
	}
	for name, s := range t.stores {
		c := s.store.Cache()
		if c == nil {
			continue
		}
		saved := c.Saved()
		if d := saved - s.savedSeen; d > 0 {
			m.app.cacheSaved.WithLabelValues(m.task, name).Add(float64(d))
		}
		s.savedSeen = saved
	}
}

// closed removes the gauges of a task that is no longer here.
func (m *taskMetrics) closed(t *task) {
	if m == nil {
		return
	}
	for name := range t.stores {
		m.app.suppressRecords.DeleteLabelValues(m.task, name)
		m.app.suppressBytes.DeleteLabelValues(m.task, name)
		m.app.restoreRemaining.DeleteLabelValues(m.task, name)
	}
}

func (m *appMetrics) committed(d time.Duration) {
	if m == nil {
		return
	}
	m.commits.Inc()
	m.commitLatency.Observe(d.Seconds())
}
