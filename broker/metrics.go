package broker

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker's Prometheus metrics. They live on a registry of the broker's
// own (never prometheus.DefaultRegisterer), so several brokers in one
// process, as in tests, do not collide; Broker.MetricsHandler serves it.
//
// Cost on the hot path is a few atomic adds:
//   - per-topic throughput is counted in per-partition atomics found with one
//     lock-free sync.Map load per partition of a request (never per record),
//     and turned into per-topic counters only at scrape time;
//   - request counters and latency observers are resolved once per
//     (API, version) and kept in a fixed table indexed by API key;
//   - partition sizes and offsets, and group lag, are read from the topic
//     registry and the group coordinator at scrape time, so appends pay
//     nothing for them.
//
// Fetches send records from the segment files without reading them
// (sendfile), so records out are counted as offsets: from the fetch position
// to the offset after the last batch sent, which the log's read finds anyway.

// Metric names, for docs/operations.md and the tests.
const (
	metricProducedBytes    = "eddy_topic_produced_bytes_total"
	metricProducedRecords  = "eddy_topic_produced_records_total"
	metricFetchedBytes     = "eddy_topic_fetched_bytes_total"
	metricFetchedRecords   = "eddy_topic_fetched_records_total"
	metricRequests         = "eddy_requests_total"
	metricRequestDuration  = "eddy_request_duration_seconds"
	metricConnections      = "eddy_connections"
	metricConnectionsTotal = "eddy_connections_accepted_total"
	metricFsyncWait        = "eddy_produce_fsync_wait_seconds"
	metricPartitionSize    = "eddy_partition_size_bytes"
	metricLogStart         = "eddy_partition_log_start_offset"
	metricLogEnd           = "eddy_partition_log_end_offset"
	metricGroupLag         = "eddy_group_lag"
	metricGroupCommitted   = "eddy_group_committed_offset"
	metricBrokerInfo       = "eddy_broker_info"
	metricFetchSessionErrs = "eddy_fetch_session_errors_total"
)

// maxAPIKey bounds the request table; Kafka's keys are well below it.
const maxAPIKey = 128

type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	// apis[key] holds the pre-resolved series of one API key, created on
	// its first request so that APIs nobody uses add no series.
	apis [maxAPIKey]atomic.Pointer[apiMetrics]

	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	fsyncWait        prometheus.Histogram
	// Fetch session errors, by Kafka error name: a consumer whose session is
	// refused pays a round trip and starts a new one.
	fetchSessionNotFound, fetchSessionBadEpoch prometheus.Counter

	// parts maps *partition to its *partitionCounters.
	parts sync.Map
}

// apiMetrics are one API key's series.
type apiMetrics struct {
	duration prometheus.Observer
	// versions[v] counts requests of version v; created on first use.
	versions []atomic.Pointer[prometheus.Counter]
	key      int16
	name     string
}

// partitionCounters are one partition's throughput; scrapes sum them per topic.
type partitionCounters struct {
	producedBytes   atomic.Uint64
	producedRecords atomic.Uint64
	fetchedBytes    atomic.Uint64
	fetchedRecords  atomic.Uint64
}

// requestBuckets span a fast metadata request to a fetch long poll (at most 30s).
var requestBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newMetrics(b *Broker) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRequests,
			Help: "Requests decoded, by API name and version (requests the broker rejects before decoding are not counted).",
		}, []string{"api", "version"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricRequestDuration,
			Help:    "Time from a request being read to its response being written, by API (includes fsync waits of acks=all produces and fetch long polls).",
			Buckets: requestBuckets,
		}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricConnections,
			Help: "Client connections open now.",
		}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricConnectionsTotal,
			Help: "Client connections accepted since the broker started.",
		}),
		fsyncWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metricFsyncWait,
			Help: "Time an acks=all produce waited for one partition's appended bytes to be fsynced; fsyncs are group-committed, so this includes waiting for an fsync already under way.",
			// 50µs to about 3.3s.
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 17),
		}),
	}
	sessionErrs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricFetchSessionErrs,
		Help: "Fetches refused because their fetch session (KIP-227) was unknown or evicted, or the epoch was not the one due; the consumer then opens a new session.",
	}, []string{"error"})
	m.fetchSessionNotFound = sessionErrs.WithLabelValues("FETCH_SESSION_ID_NOT_FOUND")
	m.fetchSessionBadEpoch = sessionErrs.WithLabelValues("INVALID_FETCH_SESSION_EPOCH")
	m.reg.MustRegister(
		m.requests, m.requestDuration, m.connections, m.connectionsTotal, m.fsyncWait, sessionErrs,
		&brokerCollector{b: b, m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// request counts one decoded request and returns its API's series, for
// observeRequest once the response is written.
func (m *metrics) request(key, version int16) *apiMetrics {
	if key < 0 || int(key) >= maxAPIKey {
		return nil
	}
	am := m.apis[key].Load()
	if am == nil {
		name := kmsg.NameForKey(key)
		n := &apiMetrics{key: key, name: name, duration: m.requestDuration.WithLabelValues(name)}
		if spec, ok := apis[key]; ok {
			n.versions = make([]atomic.Pointer[prometheus.Counter], int(spec.max)+1)
		}
		if !m.apis[key].CompareAndSwap(nil, n) {
			n = m.apis[key].Load()
		}
		am = n
	}
	if version >= 0 && int(version) < len(am.versions) {
		c := am.versions[version].Load()
		if c == nil {
			cnt := m.requests.WithLabelValues(am.name, strconv.Itoa(int(version)))
			am.versions[version].CompareAndSwap(nil, &cnt)
			c = &cnt
		}
		(*c).Inc()
	}
	return am
}

// observeRequest records how long a request took, from read to response written.
func (am *apiMetrics) observeRequest(start time.Time) {
	if am != nil && !start.IsZero() {
		am.duration.Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) connOpened() {
	m.connections.Inc()
	m.connectionsTotal.Inc()
}

func (m *metrics) connClosed() { m.connections.Dec() }

// partition returns p's counters, creating them on p's first use.
func (m *metrics) partition(p *partition) *partitionCounters {
	if v, ok := m.parts.Load(p); ok {
		return v.(*partitionCounters)
	}
	v, _ := m.parts.LoadOrStore(p, &partitionCounters{})
	return v.(*partitionCounters)
}

// produced counts an append of records records in bytes bytes to p.
func (m *metrics) produced(p *partition, records, bytes int) {
	if records == 0 && bytes == 0 {
		return // an idempotent retry answered from the producer state
	}
	pc := m.partition(p)
	pc.producedBytes.Add(uint64(bytes))
	pc.producedRecords.Add(uint64(records))
}

// fetched counts the record bytes of a fetch response that was written.
func (m *metrics) fetched(op *fetchOp) {
	for i := range op.parts {
		fp := &op.parts[i]
		if fp.include && fp.p != nil && fp.records.Size > 0 {
			pc := m.partition(fp.p)
			pc.fetchedBytes.Add(uint64(fp.records.Size))
			if n := fp.records.Next - fp.fetchOffset; n > 0 {
				pc.fetchedRecords.Add(uint64(n))
			}
		}
	}
}

// observeFsyncWait records one wait for durability that started at start.
func (m *metrics) observeFsyncWait(start time.Time) {
	m.fsyncWait.Observe(time.Since(start).Seconds())
}

// brokerCollector reads the topic registry and the group coordinator at
// scrape time: per-topic throughput (summed from partition counters),
// partition sizes and offsets, group lag.
type brokerCollector struct {
	b *Broker
	m *metrics
}

var (
	descProducedBytes = prometheus.NewDesc(metricProducedBytes,
		"Record batch bytes appended to the topic by producers.", []string{"topic"}, nil)
	descProducedRecords = prometheus.NewDesc(metricProducedRecords,
		"Records appended to the topic by producers.", []string{"topic"}, nil)
	descFetchedBytes = prometheus.NewDesc(metricFetchedBytes,
		"Record batch bytes sent to consumers in fetch responses.", []string{"topic"}, nil)
	descFetchedRecords = prometheus.NewDesc(metricFetchedRecords,
		"Records sent to consumers in fetch responses, counted as the offsets from each fetch's position to the end of what it returned: records a compaction removed and transaction markers within that range count too.",
		[]string{"topic"}, nil)
	descPartitionSize = prometheus.NewDesc(metricPartitionSize,
		"Bytes of the partition's segment files.", []string{"topic", "partition"}, nil)
	descLogStart = prometheus.NewDesc(metricLogStart,
		"The partition's log start offset (first offset still readable).", []string{"topic", "partition"}, nil)
	descLogEnd = prometheus.NewDesc(metricLogEnd,
		"The partition's log end offset (next offset to be written; the high watermark on a single node).", []string{"topic", "partition"}, nil)
	descGroupLag = prometheus.NewDesc(metricGroupLag,
		"Records between a consumer group's committed offset and the partition's end offset (from the log start if nothing is committed).",
		[]string{"group", "topic", "partition"}, nil)
	descGroupCommitted = prometheus.NewDesc(metricGroupCommitted,
		"A consumer group's committed offset on a partition (-1: none).", []string{"group", "topic", "partition"}, nil)
	descBrokerInfo = prometheus.NewDesc(metricBrokerInfo,
		"Always 1; labels identify the broker.", []string{"cluster_id", "node_id"}, nil)
)

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProducedBytes, descProducedRecords, descFetchedBytes, descFetchedRecords,
		descPartitionSize, descLogStart, descLogEnd, descGroupLag, descGroupCommitted, descBrokerInfo} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	ch <- prometheus.MustNewConstMetric(descBrokerInfo, prometheus.GaugeValue, 1, b.clusterID, strconv.Itoa(int(b.cfg.NodeID)))
	live := make(map[*partition]bool)
	for _, t := range b.topics.all() {
		var inBytes, inRecords, outBytes, outRecords uint64
		for _, p := range b.topics.partitionsOf(t) {
			live[p] = true
			if v, ok := c.m.parts.Load(p); ok {
				pc := v.(*partitionCounters)
				inBytes += pc.producedBytes.Load()
				inRecords += pc.producedRecords.Load()
				outBytes += pc.fetchedBytes.Load()
				outRecords += pc.fetchedRecords.Load()
			}
			part := strconv.Itoa(int(p.index))
			ch <- prometheus.MustNewConstMetric(descPartitionSize, prometheus.GaugeValue, float64(p.log.Size()), t.name, part)
			ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(p.log.StartOffset()), t.name, part)
			ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.log.EndOffset()), t.name, part)
		}
		ch <- prometheus.MustNewConstMetric(descProducedBytes, prometheus.CounterValue, float64(inBytes), t.name)
		ch <- prometheus.MustNewConstMetric(descProducedRecords, prometheus.CounterValue, float64(inRecords), t.name)
		ch <- prometheus.MustNewConstMetric(descFetchedBytes, prometheus.CounterValue, float64(outBytes), t.name)
		ch <- prometheus.MustNewConstMetric(descFetchedRecords, prometheus.CounterValue, float64(outRecords), t.name)
	}
	// Forget the counters of deleted topics' partitions, so that a topic
	// re-created under the same name starts from zero.
	c.m.parts.Range(func(k, _ any) bool {
		p := k.(*partition)
		if !live[p] && b.topics.partition(p.topic, p.index) != p {
			c.m.parts.Delete(k)
		}
		return true
	})
	for _, g := range b.groups.all() {
		for _, l := range b.GroupLag(g.name) {
			part := strconv.Itoa(int(l.Partition))
			ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(l.Lag), l.Group, l.Topic, part)
			ch <- prometheus.MustNewConstMetric(descGroupCommitted, prometheus.GaugeValue, float64(l.Committed), l.Group, l.Topic, part)
		}
	}
}
