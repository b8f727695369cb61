package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streams/eddy/broker"
)

// startTestBroker runs an embedded broker on a free loopback port for one test.
func startTestBroker(t *testing.T) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{
		DataDir:                    t.TempDir(),
		Listen:                     "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// eddyResult is what one in-process run of the eddy command produced.
type eddyResult struct {
	stdout, stderr string
	err            error
}

// code is the exit code the process would have had.
func (r eddyResult) code() int {
	if r.err == nil {
		return 0
	}
	return exitCode(r.err)
}

// eddy runs the eddy command in this process with args, stdin as input
// and --brokers pointing at b (if b is not nil).
func eddy(t *testing.T, b *broker.Broker, stdin string, args ...string) eddyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return eddyCtx(ctx, b, stdin, args...)
}

func eddyCtx(ctx context.Context, b *broker.Broker, stdin string, args ...string) eddyResult {
	root := newRootCommand()
	if b != nil {
		args = append(args, "--brokers", b.Addr())
	}
	root.SetArgs(args)
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(ctx)
	return eddyResult{out.String(), errOut.String(), err}
}

// ok fails the test unless the run succeeded, and returns its stdout.
func (r eddyResult) ok(t *testing.T) string {
	t.Helper()
	if r.err != nil {
		t.Fatalf("eddy failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected (%v):\n%s", err, s)
	}
	return v
}

// tableRows splits table output into rows of fields, header first.
func tableRows(s string) [][]string {
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestTopicCommands(t *testing.T) {
	b := startTestBroker(t)

	out := eddy(t, b, "", "topic", "create", "events", "-p", "3", "-c", "retention.ms=3600000").ok(t)
	if rows := tableRows(out); len(rows) != 2 || strings.Join(rows[1], " ") != "events 3 OK" {
		t.Errorf("create printed:\n%s", out)
	}
	r := eddy(t, b, "", "topic", "create", "events")
	if r.code() != 1 || !strings.Contains(r.stdout, "TOPIC_ALREADY_EXISTS") || !strings.Contains(r.err.Error(), "events") {
		t.Errorf("creating an existing topic: code %d, err %v, stdout:\n%s", r.code(), r.err, r.stdout)
	}
	out = eddy(t, b, "", "topic", "create", "dry", "--dry-run").ok(t)
	if !strings.Contains(out, "dry run") {
		t.Errorf("dry-run create printed:\n%s", out)
	}
	eddy(t, b, "", "topic", "create", "clicks", "-p", "1").ok(t)

	out = eddy(t, b, "", "topic", "list").ok(t)
	if rows := tableRows(out); len(rows) != 3 || rows[1][0] != "clicks" || rows[2][0] != "events" || rows[2][1] != "3" {
		t.Errorf("list printed (dry run must not have created a topic):\n%s", out)
	}
	type listed struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
		Internal   bool   `json:"internal"`
	}
	ls := decodeJSON[[]listed](t, eddy(t, b, "", "topic", "list", "-o", "json").ok(t))
	if len(ls) != 2 || ls[1] != (listed{"events", 3, false}) {
		t.Errorf("list -o json: %+v", ls)
	}

	// Some records so the offsets are worth describing.
	eddy(t, b, "a\nb\n", "produce", "events", "-p", "1", "-q").ok(t)
	out = eddy(t, b, "", "topic", "describe", "events").ok(t)
	for _, want := range []string{"PARTITIONS  3", "LOG-START", "END-OFFSET"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^1\s+0\s+\[0\]\s+0\s+2\s*$`).MatchString(out) {
		t.Errorf("describe does not show partition 1 with offsets 0 to 2:\n%s", out)
	}
	d := decodeJSON[[]describedTopic](t, eddy(t, b, "", "topic", "describe", "events", "-o", "json").ok(t))
	if len(d) != 1 || len(d[0].Partitions) != 3 || d[0].Partitions[1].End != 2 || d[0].ID == "" {
		t.Fatalf("describe -o json: %+v", d)
	}
	if d[0].ConfigsError == "" { // the broker serves DescribeConfigs
		if v := configValue(d[0], "retention.ms"); v != "3600000" {
			t.Errorf("retention.ms set at creation reads %q", v)
		}
	}

	out = eddy(t, b, "", "topic", "add-partitions", "events", "--num", "2").ok(t)
	if rows := tableRows(out); len(rows) != 2 || strings.Join(rows[1], " ") != "events 5 OK" {
		t.Errorf("add-partitions printed:\n%s", out)
	}
	out = eddy(t, b, "", "topic", "add-partitions", "events", "--total", "6").ok(t)
	if !strings.Contains(out, "events  6") {
		t.Errorf("add-partitions --total printed:\n%s", out)
	}
	if r := eddy(t, b, "", "topic", "add-partitions", "events"); r.code() != exitUsage {
		t.Errorf("add-partitions without --num or --total: code %d, err %v", r.code(), r.err)
	}

	// alter-config: works where the broker serves IncrementalAlterConfigs,
	// and says clearly that it cannot where it does not.
	r = eddy(t, b, "", "topic", "alter-config", "events", "--set", "retention.ms=1000", "--set", "cleanup.policy=compact")
	if served(t, b, kmsg.IncrementalAlterConfigs) {
		r.ok(t)
		d = decodeJSON[[]describedTopic](t, eddy(t, b, "", "topic", "describe", "events", "-o", "json").ok(t))
		if v := configValue(d[0], "retention.ms"); v != "1000" {
			t.Errorf("after alter-config, retention.ms = %q", v)
		}
		if v := configValue(d[0], "cleanup.policy"); v != "compact" {
			t.Errorf("after alter-config, cleanup.policy = %q", v)
		}
		r = eddy(t, b, "", "topic", "alter-config", "events", "--set", "retention.ms=soon")
		if r.code() != 1 || !strings.Contains(r.err.Error(), "retention.ms") {
			t.Errorf("bad retention.ms: code %d, err %v", r.code(), r.err)
		}
		eddy(t, b, "", "topic", "alter-config", "events", "--delete", "cleanup.policy").ok(t)
		d = decodeJSON[[]describedTopic](t, eddy(t, b, "", "topic", "describe", "events", "-o", "json").ok(t))
		if v := configValue(d[0], "cleanup.policy"); v != "delete" {
			t.Errorf("after --delete, cleanup.policy = %q, want the default", v)
		}
	} else if r.code() != 1 || !strings.Contains(r.err.Error(), "does not serve IncrementalAlterConfigs") {
		t.Errorf("alter-config against a broker without IncrementalAlterConfigs: code %d, err %v", r.code(), r.err)
	}
	if r := eddy(t, b, "", "topic", "alter-config", "events"); r.code() != exitUsage {
		t.Errorf("alter-config with nothing to change: code %d, err %v", r.code(), r.err)
	}

	r = eddy(t, b, "", "topic", "describe", "nosuch")
	if r.code() != 1 || !strings.Contains(r.err.Error(), `"nosuch": no such topic`) {
		t.Errorf("describe of a missing topic: code %d, err %v", r.code(), r.err)
	}
	out = eddy(t, b, "", "topic", "delete", "events", "clicks").ok(t)
	if strings.Count(out, "OK") != 2 {
		t.Errorf("delete printed:\n%s", out)
	}
	if out = eddy(t, b, "", "topic", "list", "-o", "json").ok(t); strings.TrimSpace(out) != "[]" {
		t.Errorf("topics left after delete: %s", out)
	}
	r = eddy(t, b, "", "topic", "delete", "events")
	if r.code() != 1 || !strings.Contains(r.stdout, "UNKNOWN_TOPIC") {
		t.Errorf("deleting a missing topic: code %d, err %v, stdout %s", r.code(), r.err, r.stdout)
	}
}

func configValue(d describedTopic, name string) string {
	for _, c := range d.Configs {
		if c.Name == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// served says whether b serves API key.
func served(t *testing.T, b *broker.Broker, key kmsg.Key) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vs, err := kadm.NewClient(cl).ApiVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		_, ok := v.KeyMaxVersion(int16(key))
		return ok
	}
	return false
}

type consumed struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	TimestampMs int64             `json:"timestamp_ms"`
	Key         *string           `json:"key"`
	Value       *string           `json:"value"`
	ValueBase64 string            `json:"value_base64"`
	Headers     []json.RawMessage `json:"headers"`
}

func jsonLines(t *testing.T, s string) []consumed {
	t.Helper()
	var out []consumed
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		out = append(out, decodeJSON[consumed](t, line))
	}
	return out
}

func TestProduceAndConsume(t *testing.T) {
	b := startTestBroker(t)
	eddy(t, b, "", "topic", "create", "events", "-p", "2").ok(t)

	r := eddy(t, b, "k1:v1\nk2:v2\nk3:v3\n", "produce", "events", "--key-delimiter", ":", "-H", "source=test", "-H", "v=2", "--partition", "1")
	out := r.ok(t)
	if rows := tableRows(out); len(rows) != 2 || strings.Join(rows[1], " ") != "1 3 0 2" {
		t.Errorf("produce printed:\n%s", out)
	}
	if !strings.Contains(r.stderr, "produced 3 records to events") {
		t.Errorf("produce summary on stderr: %q", r.stderr)
	}
	// Without a partition, keys choose it; JSON output.
	type produced struct {
		Topic      string          `json:"topic"`
		Records    int             `json:"records"`
		Partitions []producedRange `json:"partitions"`
	}
	p := decodeJSON[produced](t, eddy(t, b, "plain\n\nlast\n", "produce", "events", "-o", "json").ok(t))
	if p.Records != 3 || p.Topic != "events" {
		t.Errorf("produce -o json: %+v", p)
	}

	recs := jsonLines(t, eddy(t, b, "", "consume", "events", "-p", "1", "--format", "json").ok(t))
	var keyed []consumed
	for _, r := range recs {
		if r.Key != nil {
			keyed = append(keyed, r)
		}
	}
	if len(keyed) != 3 {
		t.Fatalf("consumed %d keyed records from partition 1, want 3: %+v", len(keyed), recs)
	}
	for i, r := range keyed {
		wantKey, wantValue := "k"+string(rune('1'+i)), "v"+string(rune('1'+i))
		if r.Partition != 1 || r.Offset != int64(i) || *r.Key != wantKey || *r.Value != wantValue || r.Topic != "events" {
			t.Errorf("record %d: %+v", i, r)
		}
		if len(r.Headers) != 2 || string(r.Headers[0]) != `{"key":"source","value":"test"}` {
			t.Errorf("record %d headers: %s", i, r.Headers)
		}
		if time.Since(time.UnixMilli(r.TimestampMs)) > time.Minute {
			t.Errorf("record %d timestamp %d", i, r.TimestampMs)
		}
	}

	// All partitions, text format: every value once, empty line included.
	r = eddy(t, b, "", "consume", "events")
	out = r.ok(t)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != 6 {
		t.Errorf("consume printed %d lines, want 6:\n%q", len(got), out)
	}
	for _, want := range []string{"v1", "v2", "v3", "plain", "", "last"} {
		if !containsLine(got, want) {
			t.Errorf("consume lacks %q:\n%q", want, out)
		}
	}
	if !strings.Contains(r.stderr, "consumed 6 records") {
		t.Errorf("consume summary on stderr: %q", r.stderr)
	}
	out = eddy(t, b, "", "consume", "events", "-p", "1", "-k", "=").ok(t)
	if !strings.HasPrefix(out, "k1=v1\nk2=v2\nk3=v3\n") {
		t.Errorf("consume with key delimiter:\n%s", out)
	}

	// --from positions and -n.
	if out = eddy(t, b, "", "consume", "events", "--from", "end").ok(t); out != "" {
		t.Errorf("--from end printed %q", out)
	}
	if out = eddy(t, b, "", "consume", "events", "-p", "1", "--from", "-1", "-k", "=").ok(t); !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("--from -1 printed %q, want one record", out)
	}
	if out = eddy(t, b, "", "consume", "events", "-p", "1", "--from", "1", "-n", "1").ok(t); out != "v2\n" {
		t.Errorf("--from 1 -n 1 printed %q", out)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	if out = eddy(t, b, "", "consume", "events", "--from", "@"+strconv.FormatInt(future, 10)).ok(t); out != "" {
		t.Errorf("--from a time in the future printed %q", out)
	}
	if out = eddy(t, b, "", "consume", "events", "-p", "1", "--from", "@-1h", "-n", "1").ok(t); out != "v1\n" {
		t.Errorf("--from @-1h printed %q", out)
	}

	// Errors.
	if r := eddy(t, b, "", "consume", "nosuch"); r.code() != 1 || !strings.Contains(r.err.Error(), "no such topic") {
		t.Errorf("consume of a missing topic: code %d, err %v", r.code(), r.err)
	}
	if r := eddy(t, b, "", "consume", "events", "-p", "7"); r.code() != 1 || !strings.Contains(r.err.Error(), "no partition 7") {
		t.Errorf("consume of a missing partition: code %d, err %v", r.code(), r.err)
	}
	for _, args := range [][]string{
		{"consume", "events", "--from", "yesterday"},
		{"consume", "events", "--format", "xml"},
		{"consume", "events", "--group", "g", "-p", "0"},
		{"consume"},
		{"produce", "events", "-H", "novalue"},
		{"produce", "events", "--acks", "2"},
	} {
		if r := eddy(t, b, "", args...); r.code() != exitUsage {
			t.Errorf("%v: code %d, err %v; want a usage error", args, r.code(), r.err)
		}
	}
	r = eddy(t, b, "ok:1\nno delimiter\n", "produce", "events", "-k", ":")
	if r.code() != 1 || !strings.Contains(r.err.Error(), "line 2 has no key delimiter") {
		t.Errorf("line without delimiter: code %d, err %v", r.code(), r.err)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestConsumeFollowWaitsForNewRecords(t *testing.T) {
	b := startTestBroker(t)
	eddy(t, b, "", "topic", "create", "live", "-p", "1").ok(t)
	done := make(chan eddyResult, 1)
	go func() {
		done <- eddyCtx(context.Background(), b, "", "consume", "live", "--follow", "-n", "2", "--from", "end")
	}()
	select {
	case r := <-done:
		t.Fatalf("consume --follow returned before any record: %v %q", r.err, r.stdout)
	case <-time.After(1500 * time.Millisecond):
	}
	eddy(t, b, "one\ntwo\nthree\n", "produce", "live", "-q").ok(t)
	select {
	case r := <-done:
		if out := r.ok(t); out != "one\ntwo\n" {
			t.Errorf("consume --follow -n 2 printed %q", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume --follow -n 2 did not return after 3 records were produced")
	}

	// Interrupting --follow (Ctrl-C) is a normal end.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- eddyCtx(ctx, b, "", "consume", "live", "--follow") }()
	time.Sleep(time.Second)
	cancel()
	select {
	case r := <-done:
		if out := r.ok(t); out != "one\ntwo\nthree\n" {
			t.Errorf("interrupted consume --follow printed %q", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume --follow did not stop when interrupted")
	}
}

func TestGroupCommands(t *testing.T) {
	b := startTestBroker(t)
	eddy(t, b, "", "topic", "create", "orders", "-p", "2").ok(t)
	eddy(t, b, "a\nb\nc\n", "produce", "orders", "-p", "0", "-q").ok(t)
	eddy(t, b, "d\n", "produce", "orders", "-p", "1", "-q").ok(t)

	// Consuming in a group commits what was printed; -n stops early and
	// commits only that.
	if got := eddy(t, b, "", "consume", "orders", "--group", "billing").ok(t); len(strings.Fields(got)) != 4 {
		t.Errorf("group consume printed %q", got)
	}
	if got := eddy(t, b, "", "consume", "orders", "--group", "billing").ok(t); got != "" {
		t.Errorf("a second group consume printed %q; the offsets were not committed", got)
	}

	out2 := eddy(t, b, "", "group", "list").ok(t)
	if rows := tableRows(out2); len(rows) != 2 || rows[1][0] != "billing" || rows[1][1] != "Empty" {
		t.Errorf("group list printed:\n%s", out2)
	}

	eddy(t, b, "e\nf\n", "produce", "orders", "-p", "0", "-q").ok(t)
	desc := eddy(t, b, "", "group", "describe", "billing").ok(t)
	for _, re := range []string{`TOTAL-LAG\s+2`, `(?m)^orders\s+0\s+3\s+5\s+2\s`, `(?m)^orders\s+1\s+1\s+1\s+0\s`} {
		if !regexp.MustCompile(re).MatchString(desc) {
			t.Errorf("describe does not match %s:\n%s", re, desc)
		}
	}
	dg := decodeJSON[[]describedGroup](t, eddy(t, b, "", "group", "describe", "billing", "-o", "json").ok(t))
	if len(dg) != 1 || dg[0].TotalLag != 2 || len(dg[0].Partitions) != 2 || dg[0].Partitions[0] != (groupPartitionLag{Topic: "orders", Partition: 0, Committed: 3, End: 5, Lag: 2}) {
		t.Errorf("describe -o json: %+v", dg)
	}

	// The broker's lag metric agrees.
	lag := b.GroupLag("billing")
	if len(lag) != 2 || lag[0].Lag != 2 {
		t.Errorf("broker GroupLag: %+v", lag)
	}

	// seek: dry run changes nothing; then rewind to the start.
	r := eddy(t, b, "", "group", "seek", "billing", "--to", "earliest", "--dry-run")
	if !regexp.MustCompile(`(?m)^orders\s+0\s+3\s+0\s+dry run`).MatchString(r.ok(t)) || !strings.Contains(r.stderr, "nothing committed") {
		t.Errorf("seek --dry-run printed:\n%s%s", r.stdout, r.stderr)
	}
	if got := b.GroupLag("billing"); got[0].Committed != 3 {
		t.Errorf("dry run moved the offset to %d", got[0].Committed)
	}
	eddy(t, b, "", "group", "seek", "billing", "--to", "earliest").ok(t)
	if got := b.GroupLag("billing"); got[0].Committed != 0 || got[1].Committed != 0 {
		t.Errorf("after seek --to earliest: %+v", got)
	}
	eddy(t, b, "", "group", "seek", "billing", "--to", "latest", "--topic", "orders").ok(t)
	if got := b.GroupLag("billing"); got[0].Committed != 5 || got[1].Committed != 1 {
		t.Errorf("after seek --to latest: %+v", got)
	}
	eddy(t, b, "", "group", "seek", "billing", "--to", "4").ok(t)
	if got := b.GroupLag("billing"); got[0].Committed != 4 || got[1].Committed != 1 {
		t.Errorf("after seek --to 4 (clamped to the end on partition 1): %+v", got)
	}
	if got := eddy(t, b, "", "consume", "orders", "--group", "billing").ok(t); got != "f\n" {
		t.Errorf("after seeking to 4 the group read %q", got)
	}
	if r := eddy(t, b, "", "group", "seek", "billing"); r.code() != exitUsage {
		t.Errorf("seek without --to: code %d, err %v", r.code(), r.err)
	}
	if r := eddy(t, b, "", "group", "seek", "fresh"); r.code() != exitUsage {
		t.Errorf("seek without --to: code %d", r.code())
	}
	if r := eddy(t, b, "", "group", "seek", "fresh", "--to", "earliest"); r.code() != 1 || !strings.Contains(r.err.Error(), "--topic") {
		t.Errorf("seek of a group without offsets: code %d, err %v", r.code(), r.err)
	}

	// A group with a live member cannot be moved.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		cl.PollFetches(pctx) // joins the group in the background
		pcancel()
		if ctx.Err() != nil {
			t.Fatal("the consumer never joined")
		}
		dg := decodeJSON[[]describedGroup](t, eddy(t, b, "", "group", "describe", "billing", "-o", "json").ok(t))
		if len(dg[0].Members) == 1 && dg[0].State == "Stable" {
			if dg[0].Members[0].ClientID == "" {
				t.Errorf("member without client id: %+v", dg[0].Members[0])
			}
			break
		}
	}
	if r := eddy(t, b, "", "group", "seek", "billing", "--to", "earliest"); r.code() != 1 || !strings.Contains(r.err.Error(), "active members") {
		t.Errorf("seek of an active group: code %d, err %v", r.code(), r.err)
	}
	r = eddy(t, b, "", "group", "delete", "billing")
	if r.code() != 1 || !strings.Contains(r.stdout, "NON_EMPTY_GROUP") {
		t.Errorf("delete of an active group: code %d, err %v, stdout %s", r.code(), r.err, r.stdout)
	}
	cl.Close()

	out2 = eddy(t, b, "", "group", "delete", "billing").ok(t)
	if !regexp.MustCompile(`billing\s+OK`).MatchString(out2) {
		t.Errorf("delete printed:\n%s", out2)
	}
	if r := eddy(t, b, "", "group", "describe", "billing"); r.code() != 1 || !strings.Contains(r.err.Error(), "does not exist") {
		t.Errorf("describe of a deleted group: code %d, err %v", r.code(), r.err)
	}
	if out2 = eddy(t, b, "", "group", "list", "-o", "json").ok(t); strings.TrimSpace(out2) != "[]" {
		t.Errorf("groups left: %s", out2)
	}
}

func TestClusterInfo(t *testing.T) {
	b := startTestBroker(t)
	eddy(t, b, "", "topic", "create", "one").ok(t)
	out := eddy(t, b, "", "cluster", "info").ok(t)
	for _, want := range []string{"CLUSTER     " + b.ClusterID(), "TOPICS      1 (and 0 internal)", "0*      " + b.Addr()} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster info lacks %q:\n%s", want, out)
		}
	}
	type info struct {
		ClusterID string `json:"cluster_id"`
		Brokers   []struct {
			NodeID int32 `json:"node_id"`
			APIs   []struct {
				Name string `json:"name"`
				Max  int16  `json:"max_version"`
			} `json:"apis"`
		} `json:"brokers"`
	}
	i := decodeJSON[info](t, eddy(t, b, "", "cluster", "info", "--apis", "-o", "json").ok(t))
	if i.ClusterID != b.ClusterID() || len(i.Brokers) != 1 || len(i.Brokers[0].APIs) < 10 || i.Brokers[0].APIs[0].Name != "Produce" {
		t.Errorf("cluster info --apis -o json: %+v", i)
	}
}

func TestBrokersFromEnvironment(t *testing.T) {
	b := startTestBroker(t)
	t.Setenv(brokersEnv, b.Addr())
	out := eddy(t, nil, "", "cluster", "info").ok(t)
	if !strings.Contains(out, b.ClusterID()) {
		t.Errorf("with %s set, cluster info printed:\n%s", brokersEnv, out)
	}
}

func TestUnreachableClusterFailsWithinTimeout(t *testing.T) {
	start := time.Now()
	r := eddy(t, nil, "", "topic", "list", "--brokers", "127.0.0.1:1", "--timeout", "1s")
	if r.code() != 1 || !strings.Contains(r.err.Error(), "127.0.0.1:1") {
		t.Errorf("code %d, err %v", r.code(), r.err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// TestEveryCommandHasHelp walks the command tree: every command says what
// it does, every command that runs something shows examples.
func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s has no Short help", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCommand()
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, name := range []string{"topic", "produce", "consume", "group", "cluster"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Name() != name {
			t.Fatalf("no %s command", name)
		}
		walk(c)
	}
}

// TestExitCodes runs the real binary, so the process's exit code is
// checked, not just the error.
func TestExitCodes(t *testing.T) {
	b := startTestBroker(t)
	cases := []struct {
		args  []string
		stdin string
		code  int
		out   string // in stdout or stderr
	}{
		{[]string{"topic", "create", "x", "--brokers", b.Addr()}, "", 0, "OK"},
		{[]string{"produce", "x", "--brokers", b.Addr()}, "hello\n", 0, "produced 1 records"},
		{[]string{"consume", "x", "--brokers", b.Addr()}, "", 0, "hello"},
		{[]string{"topic", "describe", "nosuch", "--brokers", b.Addr()}, "", 1, "no such topic"},
		{[]string{"topic", "create", "x", "--brokers", b.Addr()}, "", 1, "TOPIC_ALREADY_EXISTS"},
		{[]string{"bogus"}, "", 2, `unknown command "bogus"`},
		{[]string{"topic", "bogus"}, "", 2, `unknown command "bogus"`},
		{[]string{"topic", "create"}, "", 2, "requires at least 1 arg"},
		{[]string{"topic", "list", "--bogus"}, "", 2, "unknown flag"},
		{[]string{"--bogus"}, "", 2, "unknown flag"},
		{[]string{"topic", "list", "-o", "yaml"}, "", 2, "--output"},
		{[]string{"topic"}, "", 0, "Available Commands"},
		{[]string{"topic", "list", "--help"}, "", 0, "Examples"},
	}
	for _, c := range cases {
		cmd := eddyCommand(context.Background(), c.args...)
		cmd.Stdin = strings.NewReader(c.stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if code != c.code || !strings.Contains(string(out), c.out) {
			t.Errorf("eddy %s: exit %d, want %d; output (want %q):\n%s", strings.Join(c.args, " "), code, c.code, c.out, out)
		}
	}
}

func TestShellCompletion(t *testing.T) {
	b := startTestBroker(t)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if out := eddy(t, nil, "", "completion", shell).ok(t); len(out) < 100 {
			t.Errorf("completion %s printed %q", shell, out)
		}
	}
	eddy(t, b, "", "topic", "create", "alpha").ok(t)
	eddy(t, b, "", "topic", "create", "beta").ok(t)
	out := eddy(t, nil, "", "__complete", "topic", "describe", "--brokers", b.Addr(), "a").ok(t)
	if !strings.HasPrefix(out, "alpha\n") || strings.Contains(out, "beta") {
		t.Errorf("completing topic names printed %q", out)
	}
}
