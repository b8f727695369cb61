package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultRecordLimit = 50
	maxRecordLimit     = 500
	// maxShownBytes is how much of a key, value or header is sent to the
	// page; longer ones are cut and marked truncated.
	maxShownBytes = 64 << 10
	// maxPageBytes bounds the keys and values of one answer; the rest is
	// on the next page.
	maxPageBytes = 4 << 20
)

// payload is a key, value or header value decoded for display.
type payload struct {
	// Encoding is "json" (valid JSON, Text pretty-printed), "text" (UTF-8)
	// or "binary" (Hex and Base64 set).
	Encoding  string `json:"encoding"`
	Text      string `json:"text,omitempty"`
	Hex       string `json:"hex,omitempty"`
	Base64    string `json:"base64,omitempty"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

// decode shows b as pretty JSON, UTF-8 text or, failing both, hex and
// base64. A nil b (a null key or a tombstone's value) is nil.
func decode(b []byte) *payload {
	if b == nil {
		return nil
	}
	p := &payload{Size: len(b)}
	if len(b) > maxShownBytes {
		b, p.Truncated = b[:maxShownBytes], true
	}
	switch {
	case !p.Truncated && looksLikeJSON(b) && json.Valid(b):
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err == nil {
			p.Encoding, p.Text = "json", out.String()
			return p
		}
		p.Encoding, p.Text = "text", string(b)
	case utf8.Valid(b) && printable(b):
		p.Encoding, p.Text = "text", string(b)
	default:
		p.Encoding = "binary"
		p.Hex = hex.EncodeToString(b)
		p.Base64 = base64.StdEncoding.EncodeToString(b)
	}
	return p
}

// looksLikeJSON is true for objects and arrays: a bare number or string is
// better shown as text.
func looksLikeJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 1 && (b[0] == '{' || b[0] == '[')
}

// printable is false for text with control characters other than
// whitespace, which is better shown as bytes.
func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

// header is a record header decoded for display.
type header struct {
	Key   string   `json:"key"`
	Value *payload `json:"value"`
}

// recordView is a record as the message browser shows it.
type recordView struct {
	Partition     int32    `json:"partition"`
	Offset        int64    `json:"offset"`
	TimestampMs   int64    `json:"timestamp_ms"`
	TimestampType string   `json:"timestamp_type"` // CreateTime or LogAppendTime
	Key           *payload `json:"key"`
	Value         *payload `json:"value"`
	Headers       []header `json:"headers"`
}

func view(r *kgo.Record) recordView {
	v := recordView{
		Partition:     r.Partition,
		Offset:        r.Offset,
		TimestampMs:   r.Timestamp.UnixMilli(),
		TimestampType: "CreateTime",
		Key:           decode(r.Key),
		Value:         decode(r.Value),
		Headers:       []header{},
	}
	if r.Attrs.TimestampType() == 1 {
		v.TimestampType = "LogAppendTime"
	}
	for _, h := range r.Headers {
		v.Headers = append(v.Headers, header{Key: h.Key, Value: decode(h.Value)})
	}
	return v
}

// recordsAnswer is GET api/topics/{topic}/records.
type recordsAnswer struct {
	Topic          string       `json:"topic"`
	Partition      int32        `json:"partition"`
	LogStartOffset int64        `json:"log_start_offset"`
	LogEndOffset   int64        `json:"log_end_offset"`
	StartOffset    int64        `json:"start_offset"` // where reading began
	NextOffset     int64        `json:"next_offset"`  // where the next page begins
	Records        []recordView `json:"records"`
	Note           string       `json:"note,omitempty"`
}

func (c *Console) records(ctx context.Context, r *http.Request) (any, error) {
	topic := r.PathValue("topic")
	q := r.URL.Query()
	partition, err := intParam(q.Get("partition"), 0, "partition")
	if err != nil {
		return nil, err
	}
	limit, err := intParam(q.Get("limit"), defaultRecordLimit, "limit")
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > maxRecordLimit {
		return nil, badRequest("limit %d: want 1 to %d", limit, maxRecordLimit)
	}
	if err := c.mustExist(ctx, topic); err != nil {
		return nil, err
	}
	starts, err := c.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	lo, okLo := starts.Lookup(topic, int32(partition))
	hi, okHi := ends.Lookup(topic, int32(partition))
	if !okLo || !okHi {
		return nil, notFound("topic %q has no partition %d", topic, partition)
	}
	if lo.Err != nil {
		return nil, fmt.Errorf("log start offset of %s[%d]: %w", topic, partition, lo.Err)
	}
	if hi.Err != nil {
		return nil, fmt.Errorf("log end offset of %s[%d]: %w", topic, partition, hi.Err)
	}
	ans := recordsAnswer{Topic: topic, Partition: int32(partition), LogStartOffset: lo.Offset, LogEndOffset: hi.Offset, Records: []recordView{}}
	var start int64
	switch from := q.Get("from"); from {
	case "", "beginning", "earliest":
		start = lo.Offset
	case "end", "latest":
		start = max(lo.Offset, hi.Offset-int64(limit))
	case "offset":
		o, err := strconv.ParseInt(q.Get("offset"), 10, 64)
		if err != nil || o < 0 {
			return nil, badRequest("offset %q: want a number from 0", q.Get("offset"))
		}
		start = o
		if o < lo.Offset {
			start = lo.Offset
			ans.Note = fmt.Sprintf("offset %d is before the log start; reading from %d", o, lo.Offset)
		}
	case "timestamp":
		ms, err := parseTime(q.Get("timestamp"))
		if err != nil {
			return nil, err
		}
		at, err := c.adm.ListOffsetsAfterMilli(ctx, ms, topic)
		if err != nil {
			return nil, err
		}
		o, ok := at.Lookup(topic, int32(partition))
		switch {
		case !ok:
			return nil, notFound("topic %q has no partition %d", topic, partition)
		case o.Err != nil:
			return nil, fmt.Errorf("offset of %s[%d] at %d ms: %w", topic, partition, ms, o.Err)
		}
		start = o.Offset
		if start < 0 || start >= hi.Offset {
			start = hi.Offset
			ans.Note = "no record at or after that time"
		}
	default:
		return nil, badRequest("from %q: want beginning, end, offset or timestamp", from)
	}
	ans.StartOffset, ans.NextOffset = start, start
	if start >= hi.Offset {
		return ans, nil
	}
	recs, err := c.read(ctx, topic, map[int32][2]int64{int32(partition): {start, hi.Offset}}, limit)
	if err != nil {
		return nil, err
	}
	shown, full := 0, false
	for _, rec := range recs {
		if full = shown > maxPageBytes; full {
			ans.Note = fmt.Sprintf("stopped after %d records (%d MiB): read on with the next page", len(ans.Records), maxPageBytes>>20)
			break
		}
		ans.Records = append(ans.Records, view(rec))
		ans.NextOffset = rec.Offset + 1
		shown += min(len(rec.Key), maxShownBytes) + min(len(rec.Value), maxShownBytes)
	}
	if !full && len(recs) < limit && ans.NextOffset < hi.Offset {
		// Only transaction markers or compacted-away records were left.
		ans.NextOffset = hi.Offset
	}
	return ans, nil
}

func intParam(s string, def int, name string) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q: want a number from 0", name, s)
	}
	return n, nil
}

// parseTime reads Unix milliseconds or an RFC 3339 time.
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, badRequest("timestamp %q: want Unix milliseconds or a time like 2024-05-01T12:00:00Z", s)
}

// How long read waits for the first records, and for more once some came:
// the rest of a range can be transaction markers or compacted gaps that no
// fetch returns.
const (
	firstWait = 5 * time.Second
	quietWait = time.Second
)

// read fetches the records of topic in [from, to) for each partition of
// ranges, at most limit of them (0: no limit), in partition then offset
// order. It stops early, with what it has, when the partitions go quiet.
func (c *Console) read(ctx context.Context, topic string, ranges map[int32][2]int64, limit int) ([]*kgo.Record, error) {
	offsets := map[int32]kgo.Offset{}
	pending := map[int32]bool{}
	for p, r := range ranges {
		if r[0] < r[1] {
			offsets[p] = kgo.NewOffset().At(r[0])
			pending[p] = true
		}
	}
	if len(offsets) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(c.cfg.clientOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return nil, fmt.Errorf("client to read %s: %w", topic, err)
	}
	defer cl.Close()
	byPartition := map[int32][]*kgo.Record{}
	n := 0
	for len(pending) > 0 && (limit == 0 || n < limit) {
		wait := firstWait
		if n > 0 {
			wait = quietWait
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := cl.PollRecords(pctx, 0)
		quiet := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			if n > 0 {
				break // show what came
			}
			return nil, fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		if quiet && fetches.NumRecords() == 0 {
			break // only markers or compacted gaps left
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("reading %s[%d]: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return nil, fetchErr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			rg, ok := ranges[r.Partition]
			if !ok || !pending[r.Partition] || r.Offset >= rg[1] || limit > 0 && n >= limit {
				return
			}
			byPartition[r.Partition] = append(byPartition[r.Partition], r)
			n++
			if r.Offset+1 >= rg[1] {
				delete(pending, r.Partition)
			}
		})
	}
	var out []*kgo.Record
	for _, p := range slices.Sorted(maps.Keys(byPartition)) {
		out = append(out, byPartition[p]...)
	}
	return out, nil
}
