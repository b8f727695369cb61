package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// offsetSpec is a position in partitions, as given to consume --from and
// group seek --to: the log start, the end, an offset, or a time.
type offsetSpec struct {
	kind offsetKind
	n    int64 // the offset (negative: that many before the end), or the time in Unix milliseconds
}

type offsetKind int

const (
	offsetStart offsetKind = iota
	offsetEnd
	offsetAt
	offsetTime
)

const offsetSpecHelp = `beginning (or earliest, start), end (or latest), an offset N, -N for N records
before the end, or @TIME for the first record at or after TIME (Unix milliseconds,
RFC 3339 such as 2024-05-01T12:00:00Z, or -DURATION such as @-15m for 15 minutes ago)`

func parseOffsetSpec(flag, s string, now time.Time) (offsetSpec, error) {
	switch strings.ToLower(s) {
	case "beginning", "earliest", "start", "oldest":
		return offsetSpec{kind: offsetStart}, nil
	case "end", "latest", "newest":
		return offsetSpec{kind: offsetEnd}, nil
	}
	if t, ok := strings.CutPrefix(s, "@"); ok {
		if ms, err := strconv.ParseInt(t, 10, 64); err == nil && ms >= 0 {
			return offsetSpec{kind: offsetTime, n: ms}, nil
		}
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return offsetSpec{kind: offsetTime, n: ts.UnixMilli()}, nil
		}
		if d, err := time.ParseDuration(t); err == nil && d < 0 {
			return offsetSpec{kind: offsetTime, n: now.Add(d).UnixMilli()}, nil
		}
		return offsetSpec{}, usagef("--%s %q: after @ give Unix milliseconds, an RFC 3339 time or a negative duration such as -1h", flag, s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetSpec{}, usagef("--%s %q: want beginning, end, OFFSET, -N or @TIME (see --help)", flag, s)
	}
	return offsetSpec{kind: offsetAt, n: n}, nil
}

// topicOffsets are a topic's partitions with their offsets, as listed at one moment.
type topicOffsets struct {
	partitions []int32
	start, end map[int32]int64
}

// listTopicOffsets lists the partitions of topic (all, or only those given)
// with their start and end offsets.
func listTopicOffsets(ctx context.Context, cf *clientFlags, adm *kadm.Client, topic string, only []int32) (*topicOffsets, error) {
	md, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return nil, cf.reachErr(ctx, "topic metadata", err)
	}
	td, ok := md[topic]
	if !ok || td.Err != nil {
		if ok {
			err = td.Err
		}
		return nil, fmt.Errorf("topic %q: %s", topic, topicMissing(err))
	}
	to := &topicOffsets{start: map[int32]int64{}, end: map[int32]int64{}}
	for _, p := range td.Partitions.Sorted() {
		if len(only) == 0 || slices.Contains(only, p.Partition) {
			to.partitions = append(to.partitions, p.Partition)
		}
	}
	for _, p := range only {
		if _, ok := td.Partitions[p]; !ok {
			return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, p, len(td.Partitions))
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, cf.reachErr(ctx, "list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, cf.reachErr(ctx, "list end offsets", err)
	}
	for _, p := range to.partitions {
		s, _ := starts.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		if s.Err != nil {
			return nil, fmt.Errorf("start offset of %s/%d: %w", topic, p, s.Err)
		}
		if e.Err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, e.Err)
		}
		to.start[p], to.end[p] = s.Offset, e.Offset
	}
	return to, nil
}

// resolve turns spec into an offset per partition of to, within [start, end].
func (spec offsetSpec) resolve(ctx context.Context, cf *clientFlags, adm *kadm.Client, topic string, to *topicOffsets) (map[int32]int64, error) {
	out := make(map[int32]int64, len(to.partitions))
	var byTime kadm.ListedOffsets
	if spec.kind == offsetTime {
		var err error
		byTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic)
		if err != nil {
			return nil, cf.reachErr(ctx, "look up offsets by time", err)
		}
	}
	for _, p := range to.partitions {
		start, end := to.start[p], to.end[p]
		var o int64
		switch spec.kind {
		case offsetStart:
			o = start
		case offsetEnd:
			o = end
		case offsetAt:
			o = spec.n
			if o < 0 {
				o = end + o
			}
		case offsetTime:
			lo, _ := byTime.Lookup(topic, p)
			if lo.Err != nil {
				return nil, fmt.Errorf("offset of %s/%d at time %d: %w", topic, p, spec.n, lo.Err)
			}
			o = lo.Offset
			if o < 0 { // no record at or after the time
				o = end
			}
		}
		out[p] = min(max(o, start), end)
	}
	return out, nil
}
