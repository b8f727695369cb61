package main

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams"
)

// Topics of the demo.
const (
	demoPageViewsTopic  = "pageviews"            // datagen: page views keyed by user id
	demoUsersTopic      = "users"                // datagen: users keyed by user id (compacted)
	demoEnrichedTopic   = "pageviews-enriched"   // streams: page views with the user's region
	demoPerMinuteTopic  = "pageviews-per-minute" // streams: final count per page and minute
	demoTopRegionTopic  = "top-pages-per-region" // streams: final top pages per region and minute
	demoApplicationID   = "eddy-demo"            // streams: consumer group, internal topic prefix
	demoResultsFileName = "results.jsonl"        // file sink: one JSON line per closed window
	demoPartitions      = int32(4)               // of every topic the demo creates
	demoUnknownRegion   = "unknown"              // region of a page view whose user is not known yet
	demoTopN            = 3                      // pages in a region's top list
)

// demoWindows are the demo's windows: one minute of event time (the
// generator's viewtime), tumbling, open for a minute of event time after
// their end for page views that arrive out of order. The generator's event
// time runs at --rate/10 seconds per second (10 views per second of event
// time), so at the default rate a minute of event time passes every 3
// seconds and a window closes about 6 seconds after it began.
var demoWindows = streams.TimeWindows{Size: time.Minute, Grace: time.Minute}

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

// demoPageCount is a page's view count in one window.
type demoPageCount struct {
	Page  string `json:"page"`
	Views int64  `json:"views"`
}

// demoTopPages is a region's most viewed pages in one window, most views
// first (ties by page), at most demoTopN of them.
type demoTopPages []demoPageCount

// add returns the list with c in it: c replaces an entry of the same page
// (a count delivered twice after a restart), and the list is cut to n.
func (t demoTopPages) add(c demoPageCount, n int) demoTopPages {
	out := make(demoTopPages, 0, len(t)+1)
	for _, e := range t {
		if e.Page != c.Page {
			out = append(out, e)
		}
	}
	out = append(out, c)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Views > out[j].Views || out[i].Views == out[j].Views && out[i].Page < out[j].Page
	})
	return out[:min(n, len(out))]
}

func (t demoTopPages) String() string {
	parts := make([]string, len(t))
	for i, e := range t {
		parts[i] = e.Page + "=" + itoa(e.Views)
	}
	return strings.Join(parts, ", ")
}

// demoMinuteRow is a line of pageviews-per-minute (and of the results
// file): a page's final count in one closed window.
type demoMinuteRow struct {
	Page        string `json:"page"`
	WindowStart string `json:"window_start"` // RFC 3339, UTC
	WindowEnd   string `json:"window_end"`
	Views       int64  `json:"views"`
}

// demoTopRow is a line of top-pages-per-region (and of the results file):
// a region's top pages in one closed window.
type demoTopRow struct {
	Region      string          `json:"region"`
	WindowStart string          `json:"window_start"`
	WindowEnd   string          `json:"window_end"`
	Top         []demoPageCount `json:"top"`
}

// demoStats is what the topology has done, updated from its tasks'
// goroutines. Like everything a streams app does at least once, the
// numbers may count a record twice after a task restarts.
type demoStats struct {
	enriched      atomic.Int64 // page views through the join
	unknownRegion atomic.Int64 // of which found no user
	pageWindows   atomic.Int64 // final per-page counts written (one per page and closed window)
	regionWindows atomic.Int64 // top lists written (one per region and closed window)

	mu         sync.Mutex
	perPage    map[string]int64     // views per page, summed over closed windows
	latestTop  map[string]regionTop // per region, the top list of its latest closed window
	minutes    map[int64]struct{}   // starts (Unix ms) of windows with a final per-page count
	lastClosed time.Time            // the latest window start with a final per-page count
}

// regionTop is a region's top list of one window.
type regionTop struct {
	start time.Time
	top   demoTopPages
}

func newDemoStats() *demoStats {
	return &demoStats{perPage: map[string]int64{}, latestTop: map[string]regionTop{}, minutes: map[int64]struct{}{}}
}

// pageWindow records a final per-page count.
func (s *demoStats) pageWindow(page string, start time.Time, n int64) {
	s.mu.Lock()
	s.perPage[page] += n
	s.minutes[start.UnixMilli()] = struct{}{}
	if start.After(s.lastClosed) {
		s.lastClosed = start
	}
	s.mu.Unlock()
	s.pageWindows.Add(1)
}

// regionWindow records a final top list.
func (s *demoStats) regionWindow(region string, start time.Time, top demoTopPages) {
	s.mu.Lock()
	if t, ok := s.latestTop[region]; !ok || !start.Before(t.start) {
		s.latestTop[region] = regionTop{start, top}
	}
	s.mu.Unlock()
	s.regionWindows.Add(1)
}

// windows returns how many minutes have final per-page counts and the
// latest of them (zero before the first).
func (s *demoStats) windows() (minutes int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.minutes), s.lastClosed
}

// top returns the n most viewed pages over the closed windows as
// "page=count, ...".
func (s *demoStats) top(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return topCounts(s.perPage, n)
}

// topByRegion returns, per region, the top list of its latest closed
// window: "Region_3 at 00:04: /docs=12, /blog=9, /=8".
func (s *demoStats) topByRegion() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for region, t := range s.latestTop {
		lines = append(lines, region+": "+t.top.String()+"   (minute "+t.start.UTC().Format("15:04")+")")
	}
	sort.Slice(lines, func(i, j int) bool { return regionLess(lines[i], lines[j]) })
	return lines
}

// demoTopology builds the demo's streams topology:
//
//	users (table) ─────────────┐
//	pageviews ── left join ────┴─▶ pageviews-enriched
//	                 ├─ by page, per minute ─▶ count ─▶ suppress ─▶ pageviews-per-minute
//	                 └─ by region and page, per minute ─▶ count ─▶ suppress
//	                      ─▶ by region, per minute ─▶ top 3 ─▶ suppress ─▶ top-pages-per-region
//
// Windows are one minute of event time, the generator's viewtime (see
// demoWindows). Suppression holds every window back until it closes, so
// each output record is a window's final result; the file sink appends
// them, as JSON lines, to the results file.
func demoTopology(stats *demoStats) (*streams.Topology, error) {
	b := streams.NewBuilder()
	users := streams.TableFrom(b, demoUsersTopic,
		streams.Consumed[string, demoUser]{Keys: state.String{}, Values: state.JSON[demoUser]{}},
		streams.Materialized[string, demoUser]{Name: "users"})
	views := streams.From(b, demoPageViewsTopic,
		streams.Consumed[string, demoPageView]{Keys: state.String{}, Values: state.JSON[demoPageView]{},
			Timestamp: func(r streams.Record[string, demoPageView]) time.Time {
				if r.Value.ViewTime <= 0 { // not the generator's: the record's own time
					return r.Timestamp
				}
				return time.UnixMilli(r.Value.ViewTime)
			}})

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
	enrichedSerdes := streams.Grouped[string, demoEnrichedView]{Keys: state.String{}, Values: state.JSON[demoEnrichedView]{}}

	// Page views per page and minute: group by page (a repartition), count
	// in one-minute windows, emit each window's final count once it closes.
	g := enrichedSerdes
	g.Name = "by-page"
	perPage := streams.WindowedBy(streams.GroupBy(enriched, func(_ string, e demoEnrichedView) string { return e.URL }, g), demoWindows).
		Count(streams.Materialized[string, int64]{Name: "views-per-page-per-minute"}).
		Suppress(untilWindowCloses("final-views-per-page"))
	pageLines := streams.Map(perPage.ToStream(), func(w streams.Windowed[string], n int64) (string, string) {
		stats.pageWindow(w.Key, w.Start, n)
		return w.Key, jsonLine(demoMinuteRow{Page: w.Key, WindowStart: rfc3339(w.Start), WindowEnd: rfc3339(w.End), Views: n})
	})
	pageLines.To(demoPerMinuteTopic, streams.Produced[string, string]{Keys: state.String{}, Values: state.String{}})

	// Top pages per region and minute: count per region and page in
	// one-minute windows; once a window closes, its final counts go, by
	// region, into a windowed aggregation keeping the region's top pages;
	// once that window closes too, the list is final.
	g = enrichedSerdes
	g.Name = "by-region-page"
	perRegionPage := streams.WindowedBy(streams.GroupBy(enriched, func(_ string, e demoEnrichedView) string { return e.Region + " " + e.URL }, g), demoWindows).
		Count(streams.Materialized[string, int64]{Name: "views-per-region-page-per-minute"}).
		Suppress(untilWindowCloses("final-views-per-region-page"))
	// A final count keeps the largest timestamp of its window: it falls in
	// the same minute again.
	byRegion := streams.Map(perRegionPage.ToStream(), func(w streams.Windowed[string], n int64) (string, demoPageCount) {
		region, page, _ := strings.Cut(w.Key, " ")
		return region, demoPageCount{Page: page, Views: n}
	})
	topPages := streams.AggregateWindowed(
		streams.WindowedBy(byRegion.GroupByKey(streams.Grouped[string, demoPageCount]{Name: "by-region", Keys: state.String{}, Values: state.JSON[demoPageCount]{}}), demoWindows),
		func() demoTopPages { return nil },
		func(_ string, c demoPageCount, top demoTopPages) demoTopPages { return top.add(c, demoTopN) },
		streams.Materialized[string, demoTopPages]{Name: "top-pages-per-region", Values: state.JSON[demoTopPages]{}}).
		Suppress(untilWindowCloses("final-top-pages-per-region"))
	topLines := streams.Map(topPages.ToStream(), func(w streams.Windowed[string], top demoTopPages) (string, string) {
		stats.regionWindow(w.Key, w.Start, top)
		return w.Key, jsonLine(demoTopRow{Region: w.Key, WindowStart: rfc3339(w.Start), WindowEnd: rfc3339(w.End), Top: top})
	})
	topLines.To(demoTopRegionTopic, streams.Produced[string, string]{Keys: state.String{}, Values: state.String{}})
	return b.Build()
}

// untilWindowCloses is Suppressed.untilWindowCloses with an unbounded
// buffer (a few hundred windows are open at a time) and a node name.
func untilWindowCloses(name string) streams.Suppressed {
	s := streams.UntilWindowCloses(streams.BufferConfig{})
	s.Name = name
	return s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// jsonLine encodes v as one line of JSON.
func jsonLine(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
