package console

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// StreamsApp is how an Eddy streams app describes itself in
// StreamsAppsTopic (the record's key is ApplicationID, its value this as
// JSON). The console draws Subtopologies as a graph and shows the lag of
// the consumer group named ApplicationID.
type StreamsApp struct {
	ApplicationID string        `json:"application_id"`
	UpdatedMs     int64         `json:"updated_ms"`
	Instances     int           `json:"instances"`
	Subtopologies []Subtopology `json:"subtopologies"`
}

// Subtopology is a part of a topology connected by its own nodes; its
// tasks run independently (Kafka Streams' sub-topologies).
type Subtopology struct {
	ID    int            `json:"id"`
	Nodes []TopologyNode `json:"nodes"`
}

// TopologyNode is a source, processor or sink of a sub-topology. Sources
// list the topics they read, sinks the topic they write, processors the
// state stores they use.
type TopologyNode struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"` // source, processor or sink
	Topics     []string `json:"topics"`
	Stores     []string `json:"stores"`
	Successors []string `json:"successors"`
}

// streamsAppView is an app on the streams page.
type streamsAppView struct {
	StreamsApp
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	GroupState string `json:"group_state,omitempty"`
	TotalLag   *int64 `json:"total_lag"`
	LagError   string `json:"lag_error,omitempty"`
	Error      string `json:"error,omitempty"` // the record is not a valid description
}

// streamsAnswer is GET api/streams.
type streamsAnswer struct {
	Topic       string           `json:"topic"`
	TopicExists bool             `json:"topic_exists"`
	Apps        []streamsAppView `json:"apps"`
}

// maxAppsRecords bounds how much of StreamsAppsTopic is read; it is
// compacted, so it holds little more than one record per app.
const maxAppsRecords = 10000

func (c *Console) streamsApps(ctx context.Context, r *http.Request) (any, error) {
	ans := streamsAnswer{Topic: StreamsAppsTopic, Apps: []streamsAppView{}}
	exists, err := c.topicExists(ctx, StreamsAppsTopic)
	if err != nil || !exists {
		return ans, err
	}
	ans.TopicExists = true
	starts, err := c.adm.ListStartOffsets(ctx, StreamsAppsTopic)
	if err != nil {
		return nil, err
	}
	ends, err := c.adm.ListEndOffsets(ctx, StreamsAppsTopic)
	if err != nil {
		return nil, err
	}
	ranges := map[int32][2]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok && e.Err == nil && s.Err == nil {
			ranges[e.Partition] = [2]int64{s.Offset, e.Offset}
		}
	})
	recs, err := c.read(ctx, StreamsAppsTopic, ranges, maxAppsRecords)
	if err != nil {
		return nil, err
	}
	// The latest record per key wins; a key's records are all in one
	// partition, in offset order.
	latest := map[string]streamsAppView{}
	for _, rec := range recs {
		key := string(rec.Key)
		if rec.Value == nil {
			delete(latest, key) // tombstone: the app was removed
			continue
		}
		v := streamsAppView{Partition: rec.Partition, Offset: rec.Offset}
		if err := json.Unmarshal(rec.Value, &v.StreamsApp); err != nil {
			v.Error = fmt.Sprintf("not a streams app description: %v", err)
		} else if err := v.StreamsApp.check(); err != nil {
			v.Error = err.Error()
		}
		if v.ApplicationID == "" {
			v.ApplicationID = key
		}
		latest[key] = v
	}
	var ids []string
	for _, v := range latest {
		ids = append(ids, v.ApplicationID)
	}
	var lags kadm.DescribedGroupLags
	var lagErr error
	if len(ids) > 0 {
		lags, lagErr = c.adm.Lag(ctx, ids...)
	}
	for _, key := range slices.Sorted(maps.Keys(latest)) {
		v := latest[key]
		if l, ok := lags[v.ApplicationID]; ok && !(l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0) {
			g := describe(l)
			v.GroupState, v.TotalLag, v.LagError = g.State, g.TotalLag, g.Error
		} else if lagErr != nil {
			v.LagError = lagErr.Error()
		}
		if v.Subtopologies == nil {
			v.Subtopologies = []Subtopology{}
		}
		ans.Apps = append(ans.Apps, v)
	}
	return ans, nil
}

// check reports what makes a description unusable for drawing.
func (a *StreamsApp) check() error {
	var problems []string
	for _, st := range a.Subtopologies {
		names := map[string]bool{}
		for _, n := range st.Nodes {
			if n.Name == "" {
				problems = append(problems, fmt.Sprintf("sub-topology %d has a node without a name", st.ID))
			}
			names[n.Name] = true
			switch n.Type {
			case "source", "processor", "sink":
			default:
				problems = append(problems, fmt.Sprintf("node %s has type %q (want source, processor or sink)", n.Name, n.Type))
			}
		}
		for _, n := range st.Nodes {
			for _, s := range n.Successors {
				if !names[s] {
					problems = append(problems, fmt.Sprintf("node %s has successor %s, not in sub-topology %d", n.Name, s, st.ID))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("bad topology: %s", strings.Join(problems, "; "))
	}
	return nil
}
