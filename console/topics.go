package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionInfo is one partition of a topic.
type partitionInfo struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"log_start_offset"`
	EndOffset   int64   `json:"log_end_offset"`
	Records     int64   `json:"records"`
	SizeBytes   *int64  `json:"size_bytes"` // nil: unknown
	Error       string  `json:"error,omitempty"`
}

// topicInfo is a topic in the topics list.
type topicInfo struct {
	Name              string          `json:"name"`
	Internal          bool            `json:"internal"`
	Partitions        int             `json:"partitions"`
	ReplicationFactor int             `json:"replication_factor"`
	Records           int64           `json:"records"`
	SizeBytes         *int64          `json:"size_bytes"`         // nil: unknown
	RecordsPerSecond  *float64        `json:"records_per_second"` // nil: not sampled yet
	Error             string          `json:"error,omitempty"`
	PartitionList     []partitionInfo `json:"partition_list,omitempty"`
}

// topicsAnswer is GET api/topics.
type topicsAnswer struct {
	Topics []topicInfo `json:"topics"`
	// SizesError says why sizes are unknown (the cluster does not answer
	// DescribeLogDirs, or refused it), when they are.
	SizesError string `json:"sizes_error,omitempty"`
}

// clusterTopics describes every topic (with internal ones when internal is
// set): partitions, offsets, sizes and rates. With withPartitions each
// topic also lists its partitions.
func (c *Console) clusterTopics(ctx context.Context, internal, withPartitions bool, only ...string) (topicsAnswer, kadm.Metadata, error) {
	md, err := c.adm.Metadata(ctx, only...)
	if err != nil {
		return topicsAnswer{}, md, err
	}
	var names []string
	for _, td := range md.Topics {
		if td.Err == nil && (internal || !isInternal(td)) {
			names = append(names, td.Topic)
		}
	}
	ans := topicsAnswer{Topics: []topicInfo{}}
	var starts, ends kadm.ListedOffsets
	if len(names) > 0 {
		if starts, err = c.adm.ListStartOffsets(ctx, names...); err != nil {
			return ans, md, err
		}
		if ends, err = c.adm.ListEndOffsets(ctx, names...); err != nil {
			return ans, md, err
		}
	}
	sizes, sizesErr := c.logDirSizes(ctx, names)
	ans.SizesError = errString(sizesErr)
	rates := c.tp.latest()
	for _, name := range md.Topics.Names() {
		td := md.Topics[name]
		if !internal && isInternal(td) {
			continue
		}
		ti := topicInfo{Name: name, Internal: isInternal(td), Partitions: len(td.Partitions), Error: errString(td.Err)}
		if td.Err != nil {
			ans.Topics = append(ans.Topics, ti)
			continue
		}
		var size int64
		sizeKnown := sizesErr == nil
		for _, pd := range td.Partitions.Sorted() {
			ti.ReplicationFactor = max(ti.ReplicationFactor, len(pd.Replicas))
			pi := partitionInfo{Partition: pd.Partition, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR, Error: errString(pd.Err)}
			s, okS := starts.Lookup(name, pd.Partition)
			e, okE := ends.Lookup(name, pd.Partition)
			switch {
			case !okS || !okE:
				pi.Error = "offsets not listed"
			case s.Err != nil:
				pi.Error = s.Err.Error()
			case e.Err != nil:
				pi.Error = e.Err.Error()
			default:
				pi.StartOffset, pi.EndOffset = s.Offset, e.Offset
				pi.Records = max(0, e.Offset-s.Offset)
				ti.Records += pi.Records
			}
			if sizeKnown {
				if n, ok := sizes[name][pd.Partition]; ok {
					pi.SizeBytes = &n
					size += n
				} else {
					sizeKnown = false
				}
			}
			if withPartitions {
				ti.PartitionList = append(ti.PartitionList, pi)
			}
		}
		if sizeKnown {
			ti.SizeBytes = &size
		}
		if r, ok := rates[name]; ok {
			ti.RecordsPerSecond = &r
		}
		ans.Topics = append(ans.Topics, ti)
	}
	return ans, md, nil
}

// logDirSizes is the size of every partition of topics on disk, from
// DescribeLogDirs (Kafka API 35). A cluster that does not serve it gets
// an error, and the console shows sizes as unknown.
func (c *Console) logDirSizes(ctx context.Context, topics []string) (map[string]map[int32]int64, error) {
	sizes := map[string]map[int32]int64{}
	if len(topics) == 0 {
		return sizes, nil
	}
	set := make(kadm.TopicsSet)
	for _, t := range topics {
		set.Add(t)
	}
	dirs, err := c.adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		return nil, err
	}
	var dirErr error
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			dirErr = d.Err
			return
		}
		for t, ps := range d.Topics {
			for p, dp := range ps {
				if sizes[t] == nil {
					sizes[t] = map[int32]int64{}
				}
				sizes[t][p] += dp.Size
			}
		}
	})
	if dirErr != nil {
		return nil, dirErr
	}
	return sizes, nil
}

// brokerInfo is one broker of the cluster.
type brokerInfo struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack,omitempty"`
}

// overviewAnswer is GET api/overview.
type overviewAnswer struct {
	ClusterID        string       `json:"cluster_id"`
	Controller       int32        `json:"controller"`
	Brokers          []brokerInfo `json:"brokers"`
	Topics           int          `json:"topics"`
	InternalTopics   int          `json:"internal_topics"`
	Partitions       int          `json:"partitions"`
	Records          int64        `json:"records"`
	SizeBytes        *int64       `json:"size_bytes"`
	SizesError       string       `json:"sizes_error,omitempty"`
	RecordsPerSecond *float64     `json:"records_per_second"`
	Groups           int          `json:"groups"`
	GroupsError      string       `json:"groups_error,omitempty"`
	ConnectURL       string       `json:"connect_url,omitempty"`
	SampleIntervalMs int64        `json:"sample_interval_ms"`
}

func (c *Console) overview(ctx context.Context, r *http.Request) (any, error) {
	ts, md, err := c.clusterTopics(ctx, false, false)
	if err != nil {
		return nil, err
	}
	ans := overviewAnswer{
		ClusterID:        md.Cluster,
		Controller:       md.Controller,
		Brokers:          []brokerInfo{},
		ConnectURL:       c.cfg.ConnectURL,
		SizesError:       ts.SizesError,
		SampleIntervalMs: c.cfg.SampleInterval.Milliseconds(),
	}
	for _, b := range md.Brokers {
		ans.Brokers = append(ans.Brokers, brokerInfo{b.NodeID, b.Host, b.Port, b.Rack})
	}
	slices.SortFunc(ans.Brokers, func(a, b brokerInfo) int { return int(a.NodeID - b.NodeID) })
	for _, td := range md.Topics {
		if isInternal(td) {
			ans.InternalTopics++
		}
	}
	var size int64
	sizeKnown, rateKnown := ts.SizesError == "", false
	var rateSum float64
	for _, t := range ts.Topics {
		ans.Topics++
		ans.Partitions += t.Partitions
		ans.Records += t.Records
		if t.SizeBytes != nil {
			size += *t.SizeBytes
		} else if t.Error == "" {
			sizeKnown = false
		}
		if t.RecordsPerSecond != nil {
			rateSum += *t.RecordsPerSecond
			rateKnown = true
		}
	}
	if sizeKnown {
		ans.SizeBytes = &size
	}
	if rateKnown {
		ans.RecordsPerSecond = &rateSum
	}
	groups, err := c.adm.ListGroups(ctx)
	if err != nil {
		ans.GroupsError = err.Error()
	} else {
		ans.Groups = len(groups)
	}
	return ans, nil
}

func (c *Console) topics(ctx context.Context, r *http.Request) (any, error) {
	internal, _ := strconv.ParseBool(r.URL.Query().Get("internal"))
	ans, _, err := c.clusterTopics(ctx, internal, false)
	return ans, err
}

// configEntry is a topic setting that is not the cluster's default.
type configEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// topicAnswer is GET api/topics/{topic}.
type topicAnswer struct {
	topicInfo
	Configs      []configEntry `json:"configs"`
	ConfigsError string        `json:"configs_error,omitempty"`
	SizesError   string        `json:"sizes_error,omitempty"`
}

func (c *Console) topic(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("topic")
	if err := c.mustExist(ctx, name); err != nil {
		return nil, err
	}
	ts, _, err := c.clusterTopics(ctx, true, true, name)
	if err != nil {
		return nil, err
	}
	if len(ts.Topics) != 1 {
		return nil, notFound("topic %q does not exist", name)
	}
	ans := topicAnswer{topicInfo: ts.Topics[0], Configs: []configEntry{}, SizesError: ts.SizesError}
	rcs, err := c.adm.DescribeTopicConfigs(ctx, name)
	if err == nil {
		var rc kadm.ResourceConfig
		rc, err = rcs.On(name, nil)
		if err == nil && rc.Err != nil {
			err = rc.Err
		}
		for _, cfg := range rc.Configs {
			if cfg.Source == kmsg.ConfigSourceDefaultConfig {
				continue
			}
			e := configEntry{Name: cfg.Key, Source: cfg.Source.String(), Sensitive: cfg.Sensitive}
			if cfg.Value != nil && !cfg.Sensitive {
				e.Value = *cfg.Value
			}
			ans.Configs = append(ans.Configs, e)
		}
	}
	ans.ConfigsError = errString(err)
	return ans, nil
}

// mustExist answers 404 for a topic the cluster does not have.
func (c *Console) mustExist(ctx context.Context, topic string) error {
	if topic == "" {
		return badRequest("no topic given")
	}
	exists, err := c.topicExists(ctx, topic)
	if err != nil {
		return err
	}
	if !exists {
		return notFound("topic %q does not exist", topic)
	}
	return nil
}

// topicExists asks the cluster, not the client's metadata cache, whether
// it has topic. It lists all topics rather than asking for the one, so
// that a cluster with automatic topic creation does not create it.
func (c *Console) topicExists(ctx context.Context, topic string) (bool, error) {
	req := kmsg.NewPtrMetadataRequest() // no topics: all of them
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return false, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case err == nil:
			return true, nil
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return false, nil
		default:
			return false, fmt.Errorf("topic %q: %w", topic, err)
		}
	}
	return false, nil
}
