package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topCounts returns the n largest counts as "key=count, ...", ties by key.
func topCounts(counts map[string]int64, n int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := counts[keys[i]], counts[keys[j]]
		return a > b || a == b && keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, k+"="+itoa(counts[k]))
	}
	return strings.Join(parts, ", ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// regionLess orders "Region_2: ..." before "Region_10: ..." (by the number
// after the prefix), other names by text.
func regionLess(a, b string) bool {
	na, okA := regionNumber(a)
	nb, okB := regionNumber(b)
	if okA && okB && na != nb {
		return na < nb
	}
	if okA != okB {
		return okA
	}
	return a < b
}

func regionNumber(s string) (int, bool) {
	rest, ok := strings.CutPrefix(s, "Region_")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// lineCounter counts the lines of a growing file, reading only what was
// appended since the last call.
type lineCounter struct {
	path  string
	off   int64
	lines int64
}

func (c *lineCounter) count() int64 {
	f, err := os.Open(c.path)
	if err != nil {
		return c.lines
	}
	defer f.Close()
	if _, err := f.Seek(c.off, io.SeekStart); err != nil {
		return c.lines
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return c.lines
	}
	// Count only complete lines; a partial last line is read again.
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		c.lines += int64(bytes.Count(data[:i+1], []byte{'\n'}))
		c.off += int64(i + 1)
	}
	return c.lines
}

// endOffsets returns the sum of the end offsets of each topic's partitions
// (the number of records ever written to it).
func endOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]int64, error) {
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	if err := listed.Error(); err != nil {
		return nil, err
	}
	sums := map[string]int64{}
	listed.Each(func(o kadm.ListedOffset) { sums[o.Topic] += o.Offset })
	return sums, nil
}

// demoCounters is a snapshot of what flowed, relative to the demo's start.
type demoCounters struct {
	pageViews, users int64     // records the datagen connectors wrote
	processed        int64     // records the streams app processed (inputs and repartition topics)
	enriched         int64     // page views through the join
	unknownRegion    int64     // of which had no user yet
	late             int64     // page views dropped by a window that had closed
	pageWindows      int64     // final per-page counts written (page × closed minute)
	regionWindows    int64     // final top lists written (region × closed minute)
	minutes          int       // closed minutes with per-page counts
	lastMinute       time.Time // the latest of them (event time)
	rows             int64     // lines the file sink appended to the results file
}

// windows is the number of final window results written to the output
// topics, each of which the sink writes as a row.
func (c demoCounters) windows() int64 { return c.pageWindows + c.regionWindows }

func (c demoCounters) progressLine() string {
	closed := "no minute closed yet"
	if c.minutes > 0 {
		closed = fmt.Sprintf("%d minutes closed, up to %s", c.minutes, c.lastMinute.UTC().Format("15:04"))
	}
	return fmt.Sprintf("generated %d page views and %d users · streams processed %d records, enriched %d page views, %s (%d page counts, %d regional top lists) · sink wrote %d rows",
		c.pageViews, c.users, c.processed, c.enriched, closed, c.pageWindows, c.regionWindows, c.rows)
}
