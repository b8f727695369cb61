package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors/datagen"
	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// The demo's topology in the test driver: final per-page counts per
// minute, late views dropped, and top lists per region once their window
// closes too.
func TestDemoTopologyWindows(t *testing.T) {
	stats := newDemoStats()
	top, err := demoTopology(stats)
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	users := streamstest.NewInputTopic[string, demoUser](d, demoUsersTopic, state.String{}, state.JSON[demoUser]{}, t0, 0)
	for _, u := range []demoUser{{UserID: "User_1", Region: "Region_1"}, {UserID: "User_2", Region: "Region_2"}} {
		if err := users.PipeAt(u.UserID, u, t0); err != nil {
			t.Fatal(err)
		}
	}
	views := streamstest.NewInputTopic[string, demoPageView](d, demoPageViewsTopic, state.String{}, state.JSON[demoPageView]{}, t0, 0)
	for _, v := range []struct {
		user, url string
		at        time.Duration
	}{
		{"User_9", "/a", 5 * time.Second}, // no such user: region unknown
		{"User_1", "/a", 10 * time.Second}, {"User_2", "/b", 15 * time.Second}, {"User_1", "/a", 20 * time.Second},
		{"User_1", "/b", 30 * time.Second}, {"User_1", "/c", 40 * time.Second}, {"User_1", "/d", 50 * time.Second},
		{"User_1", "/b", 90 * time.Second},
		{"User_1", "/d", 55 * time.Second},  // out of order, within the grace period
		{"User_2", "/a", 150 * time.Second}, // stream time 2:30 closes minute 0
		{"User_1", "/a", 59 * time.Second},  // too late: dropped
		{"User_2", "/a", 600 * time.Second}, // closes minutes 1 and 2; their counts close minute 0 of the top lists
	} {
		ts := t0.Add(v.at)
		// The record's own timestamp is wall-clock time; the topology
		// takes event time from viewtime.
		if err := views.PipeAt(v.user, demoPageView{ViewTime: ts.UnixMilli(), UserID: v.user, URL: v.url}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	perMinute := streamstest.NewOutputTopic[string, string](d, demoPerMinuteTopic, state.String{}, state.String{})
	recs, err := perMinute.ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		var row demoMinuteRow
		if err := json.Unmarshal([]byte(r.Value), &row); err != nil || row.Page != r.Key {
			t.Fatalf("row %s=%s: %v", r.Key, r.Value, err)
		}
		got = append(got, fmt.Sprintf("%s %s-%s %d", row.Page, row.WindowStart[11:16], row.WindowEnd[11:16], row.Views))
	}
	slices.Sort(got)
	want := []string{"/a 00:00-00:01 3", "/a 00:02-00:03 1", "/b 00:00-00:01 2", "/b 00:01-00:02 1", "/c 00:00-00:01 1", "/d 00:00-00:01 2"}
	if !slices.Equal(got, want) {
		t.Errorf("per-minute counts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	topOut := streamstest.NewOutputTopic[string, string](d, demoTopRegionTopic, state.String{}, state.String{})
	recs, err = topOut.ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, r := range recs {
		var row demoTopRow
		if err := json.Unmarshal([]byte(r.Value), &row); err != nil || row.Region != r.Key {
			t.Fatalf("row %s=%s: %v", r.Key, r.Value, err)
		}
		got = append(got, fmt.Sprintf("%s %s %s", row.Region, row.WindowStart[11:16], demoTopPages(row.Top)))
	}
	slices.Sort(got)
	// Region_1 in minute 0: /a and /d twice (ties by page), /b and /c once,
	// of which only /b makes the top 3; the late /a is not counted.
	want = []string{"Region_1 00:00 /a=2, /d=2, /b=1", "Region_2 00:00 /b=1", "unknown 00:00 /a=1"}
	if !slices.Equal(got, want) {
		t.Errorf("top pages per region:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Each late view is dropped by both windowed counts.
	if n := d.LateRecordsDropped(); n != 2 {
		t.Errorf("late records dropped = %d, want 2", n)
	}
	if e, u := stats.enriched.Load(), stats.unknownRegion.Load(); e != 12 || u != 1 {
		t.Errorf("enriched %d, unknown region %d; want 12, 1", e, u)
	}
	if p, r := stats.pageWindows.Load(), stats.regionWindows.Load(); p != 6 || r != 3 {
		t.Errorf("windows: %d page counts, %d top lists; want 6, 3", p, r)
	}
	if minutes, last := stats.windows(); minutes != 3 || !last.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("closed minutes %d up to %v", minutes, last)
	}
	if got := stats.top(2); got != "/a=4, /b=3" {
		t.Errorf("top pages %q", got)
	}
}

func TestDemoTopPagesAdd(t *testing.T) {
	var top demoTopPages
	for _, c := range []demoPageCount{{"/x", 1}, {"/y", 5}, {"/z", 3}, {"/w", 3}, {"/x", 4}, {"/v", 2}} {
		top = top.add(c, 3)
	}
	if got := top.String(); got != "/y=5, /x=4, /w=3" {
		t.Errorf("top = %s", got)
	}
}

// TestDemoRunsForAWhileAndSummarises runs the demo command for a few
// seconds and checks what it printed and wrote: the URLs answer while it
// runs, the summary adds up, and every window result in the results file
// equals a direct computation over the generator's records (which
// depend only on its seed and their index).
func TestDemoRunsForAWhileAndSummarises(t *testing.T) {
	if testing.Short() {
		t.Skip("demo runs for seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// At 300 views per second, event time runs 30 times faster than the
	// clock: 15 seconds (of which a few go to starting) make about 6
	// minutes, enough to close a few minutes of top lists.
	cmd := eddyCommand(ctx, "demo", "--for", "15s", "--rate", "300", "--progress", "2s", "--data-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// While it runs, the printed URLs answer.
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	checked := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if checked || !strings.HasPrefix(line, "running:") {
			continue
		}
		checked = true
		m := regexp.MustCompile(`metrics\s+(http://\S+)/metrics`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no metrics URL in:\n%s", out.String())
		}
		// The broker's, the connector worker's and the streams app's metrics.
		body := httpGet(t, m[1]+"/metrics")
		for _, name := range []string{"eddy_broker_info", "eddy_connect_source_records_polled_total", "eddy_streams_processed_records_total"} {
			if !strings.Contains(body, name) {
				t.Errorf("/metrics lacks %s:\n%.500s", name, body)
			}
		}
		if body := httpGet(t, m[1]+"/connectors"); body != `["pageviews","results-sink","users"]` {
			t.Errorf("GET /connectors = %s", body)
		}
		// The console, under /console/, sees the demo's topics and, through
		// the REST API beside it, its connectors.
		if body := httpGet(t, m[1]+"/console/"); !strings.Contains(body, "<html") {
			t.Errorf("GET /console/ is not the console's page:\n%.300s", body)
		}
		if body := httpGet(t, m[1]+"/console/api/topics"); !strings.Contains(body, `"`+demoPageViewsTopic+`"`) {
			t.Errorf("the console's topics lack %s:\n%.500s", demoPageViewsTopic, body)
		}
		if body := httpGet(t, m[1]+"/console/api/connectors"); !strings.Contains(body, `"results-sink"`) {
			t.Errorf("the console's connectors lack results-sink:\n%.500s", body)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	text := out.String()
	if !checked || !strings.Contains(text, "] generated ") {
		t.Errorf("no progress lines in:\n%s", text)
	}
	num := func(re string) int64 {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %q in:\n%s", re, text)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	views := num(`records in:\s+(\d+) page views`)
	users := num(`records in:\s+\d+ page views, (\d+) users`)
	enriched := num(`; (\d+) page views enriched`)
	unknown := num(`, (\d+) of them before their user was known`)
	pageWindows := num(`windows computed:\s+(\d+) page counts`)
	regionWindows := num(`, (\d+) top-3 lists`)
	late := num(`\((\d+) late page views dropped\)`)
	rows := num(`rows written:\s+(\d+) to`)
	if views == 0 || users != 1000 || pageWindows == 0 || regionWindows == 0 {
		t.Errorf("too little flowed: %d views, %d users, %d page counts, %d top lists\n%s", views, users, pageWindows, regionWindows, text)
	}
	if enriched != views || rows != pageWindows+regionWindows {
		t.Errorf("the demo stopped before draining: %d of %d page views enriched, %d of %d+%d rows written\n%s",
			enriched, views, rows, pageWindows, regionWindows, text)
	}
	if unknown != 0 {
		t.Errorf("%d page views before their user was known: the demo starts page views once users are in the table", unknown)
	}

	// The direct computation: the generator's users and page views, with
	// the demo's windows.
	region := map[string]string{}
	for i := range users {
		_, u := datagen.Generate("users", 42, i)
		region[u["user_id"].(string)] = u["region"].(string)
	}
	type pageMinute struct {
		page  string
		start int64
	}
	type regionMinute struct {
		region string
		start  int64
	}
	wantCounts := map[pageMinute]int64{}
	regionCounts := map[regionMinute]map[string]int64{}
	var last int64 // the latest viewtime
	for i := range views {
		_, v := datagen.Generate("pageviews", 42, i)
		ts := v["viewtime"].(int64)
		start := ts - ts%time.Minute.Milliseconds()
		url, r := v["url"].(string), region[v["user_id"].(string)]
		wantCounts[pageMinute{url, start}]++
		if regionCounts[regionMinute{r, start}] == nil {
			regionCounts[regionMinute{r, start}] = map[string]int64{}
		}
		regionCounts[regionMinute{r, start}][url]++
		last = max(last, ts)
	}

	b, err := os.ReadFile(filepath.Join(dir, demoResultsFileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if int64(len(lines)) != rows {
		t.Errorf("results.jsonl has %d lines, the summary says %d rows", len(lines), rows)
	}
	gotCounts := map[pageMinute]int64{}
	gotTops := map[regionMinute]demoTopPages{}
	for _, l := range lines {
		var r struct {
			demoMinuteRow
			Region string
			Top    demoTopPages
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad row %q: %v", l, err)
		}
		start, err := time.Parse(time.RFC3339, r.WindowStart)
		if err != nil {
			t.Fatalf("bad row %q: %v", l, err)
		}
		switch {
		case r.Page != "" && r.Views > 0:
			k := pageMinute{r.Page, start.UnixMilli()}
			if _, dup := gotCounts[k]; dup {
				t.Errorf("%s written twice", l)
			}
			gotCounts[k] = r.Views
		case r.Region != "" && len(r.Top) > 0:
			k := regionMinute{r.Region, start.UnixMilli()}
			if _, dup := gotTops[k]; dup {
				t.Errorf("%s written twice", l)
			}
			gotTops[k] = r.Top
		default:
			t.Fatalf("bad row %q", l)
		}
	}
	if int64(len(gotCounts)) != pageWindows || int64(len(gotTops)) != regionWindows {
		t.Errorf("results.jsonl has %d page counts and %d top lists; the summary says %d and %d",
			len(gotCounts), len(gotTops), pageWindows, regionWindows)
	}

	// A window is closed in every task once each task's stream time (about
	// the last viewtime, as the demo drains) has passed its end and grace
	// period; 10 seconds of event time are ample for the records each task
	// has after the last one. The top lists' windows close once the counts
	// of a later minute come out.
	slack := 10 * time.Second.Milliseconds()
	closeAfter := (demoWindows.Size + demoWindows.Grace).Milliseconds()
	countsClosed := func(start int64) bool { return start+closeAfter+slack <= last }
	topsClosed := func(start int64) bool { return start+2*closeAfter+2*slack <= last }
	exact := late == 0
	if !exact {
		// Records late by more than a minute of event time (a machine
		// stalled for seconds) were dropped: counts may fall short.
		t.Logf("%d late page views dropped: checking counts as upper bounds", late)
	}
	var closedViews, countedViews int64
	closedMinutes := map[int64]bool{}
	for k, n := range wantCounts {
		got, ok := gotCounts[k]
		switch {
		case ok && exact && got != n, ok && got > n:
			t.Errorf("%s at %v: %d views, want %d", k.page, time.UnixMilli(k.start).UTC(), got, n)
		case !ok && countsClosed(k.start):
			t.Errorf("%s at %v: no count written, want %d", k.page, time.UnixMilli(k.start).UTC(), n)
		}
		if countsClosed(k.start) {
			closedViews += n
			countedViews += got
			closedMinutes[k.start] = true
		}
	}
	for k := range gotCounts {
		if _, ok := wantCounts[k]; !ok {
			t.Errorf("%s at %v: a count for a window without views", k.page, time.UnixMilli(k.start).UTC())
		}
	}
	if len(closedMinutes) < 2 || exact && countedViews != closedViews {
		t.Errorf("%d closed minutes: their counts add up to %d, %d page views were generated in them", len(closedMinutes), countedViews, closedViews)
	}
	closedTops := 0
	for k, counts := range regionCounts {
		var want demoTopPages
		for _, page := range slices.Sorted(maps.Keys(counts)) {
			want = want.add(demoPageCount{page, counts[page]}, demoTopN)
		}
		got, ok := gotTops[k]
		switch {
		case ok && exact && !slices.Equal(got, want):
			t.Errorf("%s at %v: top %s, want %s", k.region, time.UnixMilli(k.start).UTC(), got, want)
		case !ok && topsClosed(k.start):
			t.Errorf("%s at %v: no top list written, want %s", k.region, time.UnixMilli(k.start).UTC(), want)
		}
		if topsClosed(k.start) {
			closedTops++
		}
	}
	t.Logf("%d page views; %d page counts (%d closed minutes checked whole), %d top lists (%d windows closed everywhere)",
		views, len(gotCounts), len(closedMinutes), len(gotTops), closedTops)
	if closedTops == 0 {
		t.Errorf("no top list's window closed in every task: %s of event time", time.Duration(last-time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())*time.Millisecond)
	}
}

// TestDemoStopsCleanlyOnInterrupt: Ctrl-C, once page views flow, drains,
// summarises and exits 0.
func TestDemoStopsCleanlyOnInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("demo runs for seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := eddyCommand(ctx, "demo", "--rate", "300", "--progress", "500ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	flowing := regexp.MustCompile(`\] generated [1-9]\d* page views`)
	signalled := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !signalled && flowing.MatchString(sc.Text()) {
			signalled = true
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after SIGINT: %v\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !signalled || !strings.Contains(out.String(), "; Ctrl-C stops") {
		t.Errorf("no page views flowed, or no hint that Ctrl-C stops:\n%s", out.String())
	}
	m := regexp.MustCompile(`records in:\s+(\d+) page views`).FindStringSubmatch(out.String())
	if m == nil || m[1] == "0" {
		t.Errorf("no summary of what flowed in:\n%s", out.String())
	}
}
