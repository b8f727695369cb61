package main

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// Topics of the demo.
const (
	demoPageViewsTopic  = "pageviews"          // datagen: page views keyed by user id
	demoUsersTopic      = "users"              // datagen: users keyed by user id (compacted)
	demoEnrichedTopic   = "pageviews-enriched" // streams: page views with the user's region
	demoPerPageTopic    = "views-per-page"     // streams: running count per page
	demoPerRegionTopic  = "views-per-region"   // streams: running count per region and page
	demoApplicationID   = "eddy-demo"          // streams: consumer group, internal topic prefix
	demoResultsFileName = "results.jsonl"      // file sink: one JSON line per count update
	demoPartitions      = int32(4)             // of every topic the demo creates
	demoUnknownRegion   = "unknown"            // region of a page view whose user is not known yet
)

// demoPageView is a value of the pageviews topic, as the datagen connector
// writes it with the JSON converter (schemas disabled).
type demoPageView struct {
	ViewTime int64  `json:"viewtime"`
	UserID   string `json:"user_id"`
	PageID   string `json:"page_id"`
	URL      string `json:"url"`
}

// demoUser is a value of the users topic.
type demoUser struct {
	UserID       string `json:"user_id"`
	RegisterTime int64  `json:"registertime"`
	Region       string `json:"region"`
	Gender       string `json:"gender"`
}

// demoEnrichedView is a page view joined with its user's region.
type demoEnrichedView struct {
	UserID   string `json:"user_id"`
	URL      string `json:"url"`
	Region   string `json:"region"`
	ViewTime int64  `json:"viewtime"`
}

// demoStats is what the topology has done, updated from its tasks'
// goroutines. Like everything a streams app does at least once, the
// numbers may count a record twice after a task restarts.
type demoStats struct {
	enriched      atomic.Int64 // page views through the join
	unknownRegion atomic.Int64 // of which found no user
	updates       atomic.Int64 // count updates sent to the two result topics

	mu        sync.Mutex
	perPage   map[string]int64 // latest count per page
	perRegion map[string]int64 // latest count per "region page"
}

func newDemoStats() *demoStats {
	return &demoStats{perPage: map[string]int64{}, perRegion: map[string]int64{}}
}

func (s *demoStats) set(m map[string]int64, k string, n int64) {
	s.mu.Lock()
	m[k] = n
	s.mu.Unlock()
	s.updates.Add(1)
}

// keys returns how many pages and region-page pairs have counts.
func (s *demoStats) keys() (pages, regions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.perPage), len(s.perRegion)
}

// top returns the n largest per-page counts as "page=count, ...".
func (s *demoStats) top(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return topCounts(s.perPage, n)
}

// topByRegion returns, per region, its most viewed page.
func (s *demoStats) topByRegion() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type best struct {
		page string
		n    int64
	}
	byRegion := map[string]best{}
	for k, n := range s.perRegion {
		region, page, _ := strings.Cut(k, " ")
		if b, ok := byRegion[region]; !ok || n > b.n || n == b.n && page < b.page {
			byRegion[region] = best{page, n}
		}
	}
	var lines []string
	for region, b := range byRegion {
		lines = append(lines, region+": "+b.page+"="+itoa(b.n))
	}
	sort.Slice(lines, func(i, j int) bool { return regionLess(lines[i], lines[j]) })
	return lines
}

// demoTopology builds the demo's streams topology:
//
//	users (table) ─────────────┐
//	pageviews ── left join ────┴─▶ pageviews-enriched
//	                 ├─ group by page ──────────▶ count ─▶ views-per-page
//	                 └─ group by region + page ─▶ count ─▶ views-per-region
//
// The counts are running totals (not windowed); each update is written to
// its topic as a JSON line, which the file sink appends to the results file.
func demoTopology(stats *demoStats) (*streams.Topology, error) {
	b := streams.NewBuilder()
	users := streams.TableFrom(b, demoUsersTopic,
		streams.Consumed[string, demoUser]{Keys: state.String{}, Values: state.JSON[demoUser]{}},
		streams.Materialized[string, demoUser]{Name: "users"})
	views := streams.From(b, demoPageViewsTopic,
		streams.Consumed[string, demoPageView]{Keys: state.String{}, Values: state.JSON[demoPageView]{}})

	// Page views are keyed by user id, as is the users table, and both
	// topics have the same partitions: the join needs no repartitioning.
	enriched := streams.LeftJoin(views, users, func(v demoPageView, u demoUser, found bool) demoEnrichedView {
		e := demoEnrichedView{UserID: v.UserID, URL: v.URL, Region: u.Region, ViewTime: v.ViewTime}
		if !found || e.Region == "" {
			e.Region = demoUnknownRegion
		}
		return e
	}).Peek(func(_ string, e demoEnrichedView) {
		stats.enriched.Add(1)
		if e.Region == demoUnknownRegion {
			stats.unknownRegion.Add(1)
		}
	})
	enriched.To(demoEnrichedTopic, streams.Produced[string, demoEnrichedView]{Values: state.JSON[demoEnrichedView]{}})

	perPage := streams.GroupBy(enriched, func(_ string, e demoEnrichedView) string { return e.URL },
		streams.Grouped[string, demoEnrichedView]{Name: "by-page", Keys: state.String{}, Values: state.JSON[demoEnrichedView]{}}).
		Count(streams.Materialized[string, int64]{Name: "views-per-page"})
	pageLines := streams.MapValues(perPage.ToStream(), func(page string, n int64) string {
		stats.set(stats.perPage, page, n)
		return jsonLine(map[string]any{"page": page, "views": n})
	})
	pageLines.To(demoPerPageTopic, streams.Produced[string, string]{Keys: state.String{}, Values: state.String{}})

	perRegion := streams.GroupBy(enriched, func(_ string, e demoEnrichedView) string { return e.Region + " " + e.URL },
		streams.Grouped[string, demoEnrichedView]{Name: "by-region-page", Keys: state.String{}, Values: state.JSON[demoEnrichedView]{}}).
		Count(streams.Materialized[string, int64]{Name: "views-per-region"})
	regionLines := streams.MapValues(perRegion.ToStream(), func(key string, n int64) string {
		stats.set(stats.perRegion, key, n)
		region, page, _ := strings.Cut(key, " ")
		return jsonLine(map[string]any{"region": region, "page": page, "views": n})
	})
	regionLines.To(demoPerRegionTopic, streams.Produced[string, string]{Keys: state.String{}, Values: state.String{}})
	return b.Build()
}

// jsonLine encodes m as one line of JSON (keys sorted).
func jsonLine(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
