package console

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// groupInfo is a consumer group in the groups list.
type groupInfo struct {
	Group        string   `json:"group"`
	State        string   `json:"state"`
	ProtocolType string   `json:"protocol_type"`
	Protocol     string   `json:"protocol"`
	Coordinator  int32    `json:"coordinator"`
	Members      int      `json:"members"`
	Topics       []string `json:"topics"`
	// TotalLag is the sum of the lag of every partition with a committed
	// offset; nil when it could not be computed (see Error).
	TotalLag *int64 `json:"total_lag"`
	Error    string `json:"error,omitempty"`
}

// memberInfo is a member of a group.
type memberInfo struct {
	MemberID   string            `json:"member_id"`
	InstanceID *string           `json:"instance_id,omitempty"`
	ClientID   string            `json:"client_id"`
	ClientHost string            `json:"client_host"`
	Assigned   []topicAssignment `json:"assigned"`
}

type topicAssignment struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// partitionLag is a group's position on one partition.
type partitionLag struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	Committed      int64  `json:"committed_offset"` // -1: nothing committed
	LogStartOffset int64  `json:"log_start_offset"`
	LogEndOffset   int64  `json:"log_end_offset"`
	Lag            int64  `json:"lag"` // -1: unknown (see Error)
	MemberID       string `json:"member_id,omitempty"`
	ClientID       string `json:"client_id,omitempty"`
	Error          string `json:"error,omitempty"`
}

// groupAnswer is GET api/groups/{group}.
type groupAnswer struct {
	groupInfo
	MemberList []memberInfo   `json:"member_list"`
	Partitions []partitionLag `json:"partitions"`
}

// describe turns a group's lag description into the API's form.
func describe(l kadm.DescribedGroupLag) groupAnswer {
	g := groupAnswer{
		groupInfo: groupInfo{
			Group:        l.Group,
			State:        l.State,
			ProtocolType: l.ProtocolType,
			Protocol:     l.Protocol,
			Coordinator:  l.Coordinator.NodeID,
			Members:      len(l.Members),
			Topics:       []string{},
			Error:        errString(l.Error()),
		},
		MemberList: []memberInfo{},
		Partitions: []partitionLag{},
	}
	for _, m := range l.Members {
		mi := memberInfo{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: []topicAssignment{}}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				mi.Assigned = append(mi.Assigned, topicAssignment{Topic: t.Topic, Partitions: ps})
			}
			slices.SortFunc(mi.Assigned, func(a, b topicAssignment) int { return strings.Compare(a.Topic, b.Topic) })
		}
		g.MemberList = append(g.MemberList, mi)
	}
	if l.Error() != nil {
		return g
	}
	var total int64
	topics := map[string]bool{}
	for _, pl := range l.Lag.Sorted() {
		topics[pl.Topic] = true
		p := partitionLag{
			Topic: pl.Topic, Partition: pl.Partition,
			Committed:      pl.Commit.At,
			LogStartOffset: pl.Start.Offset,
			LogEndOffset:   pl.End.Offset,
			Lag:            pl.Lag,
			Error:          errString(pl.Err),
		}
		if pl.Member != nil {
			p.MemberID, p.ClientID = pl.Member.MemberID, pl.Member.ClientID
		}
		if p.Committed < 0 {
			p.Committed = -1
		}
		if p.Lag > 0 {
			total += p.Lag
		}
		g.Partitions = append(g.Partitions, p)
	}
	g.Topics = slices.Sorted(maps.Keys(topics))
	g.TotalLag = &total
	return g
}

// groupsAnswer is GET api/groups.
type groupsAnswer struct {
	Groups []groupInfo `json:"groups"`
}

func (c *Console) groups(ctx context.Context, r *http.Request) (any, error) {
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	ans := groupsAnswer{Groups: []groupInfo{}}
	if len(listed) == 0 {
		return ans, nil
	}
	lags, err := c.adm.Lag(ctx, listed.Groups()...)
	if err != nil && len(lags) == 0 {
		return nil, err
	}
	for _, name := range listed.Groups() {
		l, ok := lags[name]
		if !ok {
			lg := listed[name]
			ans.Groups = append(ans.Groups, groupInfo{Group: name, State: lg.State, ProtocolType: lg.ProtocolType,
				Coordinator: lg.Coordinator, Topics: []string{}, Error: errString(err)})
			continue
		}
		ans.Groups = append(ans.Groups, describe(l).groupInfo)
	}
	slices.SortFunc(ans.Groups, func(a, b groupInfo) int { return strings.Compare(a.Group, b.Group) })
	return ans, nil
}

func (c *Console) group(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("group")
	lags, err := c.adm.Lag(ctx, name)
	if err != nil && len(lags) == 0 {
		return nil, err
	}
	l, ok := lags[name]
	if !ok {
		return nil, notFound("group %q does not exist", name)
	}
	if l.Error() == nil && l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0 {
		return nil, notFound("group %q does not exist", name)
	}
	return describe(l), nil
}
