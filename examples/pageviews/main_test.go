package main

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/streams"
)

// direct computes, without Eddy, what the app must write for recs: each
// partition's records in order, stream time the largest event time so
// far, a view late (dropped) when its window's end plus grace is not after
// stream time, end-of-input records counted in windows that never close.
func direct(recs []Record) (counts map[Window]int64, late int64) {
	counts = map[Window]int64{}
	streamTime := map[int32]int64{}
	size, grace := Windows.Size.Milliseconds(), Windows.Grace.Milliseconds()
	for _, r := range recs {
		p := streams.DefaultPartition([]byte(r.URL), partitions)
		ts := r.View.ViewTime
		if _, ok := streamTime[p]; !ok || ts > streamTime[p] {
			streamTime[p] = ts
		}
		if r.View.URL == endOfInput {
			continue
		}
		start := ts - ((ts%size)+size)%size
		if start+size+grace <= streamTime[p] {
			late++
			continue
		}
		counts[Window{r.URL, time.UnixMilli(start).UTC()}]++
	}
	return counts, late
}

func TestPageViewsRunsToCompletion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		views    int
		disorder time.Duration
		late     bool
	}{
		{"within grace", 3000, 5 * time.Second, false},
		{"some late", 3000, 30 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			recs := Generate(7, tc.views, tc.disorder)
			want, wantLate := direct(recs)
			if (wantLate > 0) != tc.late {
				t.Fatalf("the input has %d late views; the case wants late=%v", wantLate, tc.late)
			}
			res, err := run(ctx, recs)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(res.Counts, want) {
				for w, n := range want {
					if res.Counts[w] != n {
						t.Errorf("%s %s: %d views, want %d", w.URL, w.Start.Format("15:04"), res.Counts[w], n)
					}
				}
				t.Errorf("%d final counts, want %d", len(res.Counts), len(want))
			}
			if res.Late != wantLate {
				t.Errorf("%d late views, want %d", res.Late, wantLate)
			}
			var out strings.Builder
			res.print(&out)
			if !strings.Contains(out.String(), "minute        /   /about") || !strings.Contains(out.String(), "\n00:04 ") {
				t.Errorf("printed:\n%s", out.String())
			}
		})
	}
}

func TestTopologyNeedsNoRepartition(t *testing.T) {
	top, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	if d := top.Describe(); !strings.Contains(d, "Repartition topics: []") || len(top.SubTopologies()) != 1 {
		t.Errorf("Describe:\n%s", d)
	}
}
