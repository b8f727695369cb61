package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newConsumeCommand() *cobra.Command {
	var (
		cf         clientFlags
		from       string
		partitions []int32
		group      string
		count      int
		follow     bool
		format     string
		keyDelim   string
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Read records from a topic and print them",
		Long: `Read records from TOPIC and print them, one per line. Without --follow the
command stops once it has read up to the end offsets the partitions had when it
started; with --follow it waits for new records until interrupted (Ctrl-C) or
until -n records have been printed.

--from picks where to start: ` + offsetSpecHelp + `.

With --group the command consumes as a member of that consumer group: it starts
from the group's committed offsets (--from applies only to partitions without
one), reads only the partitions the group assigns it, and commits the offsets of
the records it printed before it exits.

--format text prints each value (and, with --key-delimiter, the key before it);
--format json prints one JSON object per line with topic, partition, offset,
timestamp, key, value and headers (keys and values that are not UTF-8 come as
key_base64/value_base64).`,
		Example: `  eddy consume events                         # everything there is now, then exit
  eddy consume events --from end --follow     # new records as they arrive
  eddy consume events --from -10 -p 0         # the last 10 records of partition 0
  eddy consume events --from @2024-05-01T00:00:00Z -n 100
  eddy consume events --from @-15m --format json | jq .value
  eddy consume events --group audit --follow  # as a member of group "audit"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if err := cf.check(); err != nil {
				return err
			}
			spec, err := parseOffsetSpec("from", from, time.Now())
			if err != nil {
				return err
			}
			if format != "text" && format != "json" {
				return usagef("--format %q: want text or json", format)
			}
			if count < 0 {
				return usagef("-n must be positive")
			}
			if group != "" && len(partitions) > 0 {
				return usagef("--partition and --group do not go together: the group assigns partitions")
			}
			c := &consumer{
				cf: &cf, topic: topic, group: group, count: count, follow: follow,
				out:  bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10),
				json: format == "json", keyDelim: keyDelim,
			}
			err = c.run(cmd, spec, partitions)
			if ferr := c.out.Flush(); err == nil {
				err = ferr
			}
			if err == nil || c.printed > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "consumed %d records\n", c.printed)
			}
			return err
		},
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	f := cmd.Flags()
	cf.register(f, false)
	f.StringVar(&from, "from", "beginning", "where to start: beginning, end, OFFSET, -N or @TIME")
	f.Int32SliceVarP(&partitions, "partition", "p", nil, "read only these partitions (comma-separated or repeated); default all")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group and commit what was printed")
	f.IntVarP(&count, "num", "n", 0, "stop after this many records (0: no limit)")
	f.BoolVarP(&follow, "follow", "f", false, "keep waiting for new records instead of stopping at the end")
	f.StringVar(&format, "format", "text", "output: text (values) or json (one object per line)")
	f.StringVarP(&keyDelim, "key-delimiter", "k", "", "text format: print the key and this delimiter before each value")
	return cmd
}

// consumer is one run of "eddy consume".
type consumer struct {
	cf       *clientFlags
	topic    string
	group    string
	count    int
	follow   bool
	out      *bufio.Writer
	json     bool
	keyDelim string

	printed int

	// Without --follow: the end offset of every partition when the command
	// started, and the next offset to read from each.
	end, next map[int32]int64
	// With --group: the partitions the group has assigned to this member.
	mu       sync.Mutex
	assigned map[int32]bool
}

func (c *consumer) run(cmd *cobra.Command, spec offsetSpec, only []int32) error {
	adm, actx, done, err := c.cf.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	to, err := listTopicOffsets(actx, c.cf, adm, c.topic, only)
	if err != nil {
		return err
	}
	start, err := spec.resolve(actx, c.cf, adm, c.topic, to)
	if err != nil {
		return err
	}
	c.end, c.next = to.end, start

	opts := []kgo.Opt{
		// Control records (transaction markers) take offsets too; seeing
		// them tells the consumer it has reached the end.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if c.group == "" {
		offs := make(map[int32]kgo.Offset, len(start))
		for p, o := range start {
			offs[p] = kgo.NewOffset().At(o)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: offs}))
	} else {
		committed, err := adm.FetchOffsetsForTopics(actx, c.group, c.topic)
		if err != nil {
			return c.cf.reachErr(actx, "fetch the group's committed offsets", err)
		}
		for _, p := range to.partitions {
			if o, ok := committed.Lookup(c.topic, p); ok && o.Err == nil && o.At >= 0 {
				c.next[p] = o.At
			}
		}
		reset := kgo.NewOffset().AtStart()
		switch spec.kind {
		case offsetEnd:
			reset = kgo.NewOffset().AtEnd()
		case offsetTime:
			reset = kgo.NewOffset().AfterMilli(spec.n)
		case offsetAt:
			if spec.n >= 0 {
				reset = kgo.NewOffset().At(spec.n)
			} else {
				reset = kgo.NewOffset().AtEnd().Relative(spec.n)
			}
		}
		c.assigned = map[int32]bool{}
		opts = append(opts,
			kgo.ConsumerGroup(c.group),
			kgo.ConsumeTopics(c.topic),
			kgo.ConsumeResetOffset(reset),
			kgo.AutoCommitMarks(),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				c.mu.Lock()
				for _, p := range m[c.topic] {
					c.assigned[p] = true
				}
				c.mu.Unlock()
			}),
			kgo.OnPartitionsRevoked(c.unassign),
			kgo.OnPartitionsLost(c.unassign),
		)
	}
	cl, err := c.cf.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := cmd.Context()
	err = c.poll(ctx, cl)
	if c.group != "" {
		// Commit what was printed, even after Ctrl-C.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cf.timeout)
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("commit offsets of group %s: %w", c.group, cerr)
		}
	}
	return err
}

func (c *consumer) unassign(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.mu.Lock()
	for _, p := range m[c.topic] {
		delete(c.assigned, p)
	}
	c.mu.Unlock()
}

// caughtUp says whether, without --follow, there is nothing more to read.
func (c *consumer) caughtUp() bool {
	if c.follow {
		return false
	}
	if c.group == "" {
		for p, end := range c.end {
			if c.next[p] < end {
				return false
			}
		}
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.assigned) == 0 {
		return false // not yet joined
	}
	for p := range c.assigned {
		if c.next[p] < c.end[p] {
			return false
		}
	}
	return true
}

func (c *consumer) poll(ctx context.Context, cl *kgo.Client) error {
	for !c.caughtUp() && (c.count == 0 || c.printed < c.count) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			if c.follow {
				return nil // Ctrl-C is how --follow ends
			}
			return errors.New("interrupted")
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var werr error
		fs.EachRecord(func(r *kgo.Record) {
			if werr != nil || (c.count > 0 && c.printed >= c.count) {
				return
			}
			c.next[r.Partition] = max(c.next[r.Partition], r.Offset+1)
			if c.group != "" {
				cl.MarkCommitRecords(r)
			}
			if r.Attrs.IsControl() {
				return
			}
			werr = c.print(r)
			c.printed++
		})
		if werr == nil {
			werr = c.out.Flush()
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}

func (c *consumer) print(r *kgo.Record) error {
	if !c.json {
		if c.keyDelim != "" {
			c.out.Write(r.Key)
			c.out.WriteString(c.keyDelim)
		}
		c.out.Write(r.Value)
		return c.out.WriteByte('\n')
	}
	return writeRecordJSON(c.out, r)
}

// jsonRecord is one line of --format json.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   string       `json:"timestamp"`
	TimestampMs int64        `json:"timestamp_ms"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// text returns b as a JSON string, or its base64 when it is not UTF-8;
// nil bytes (a null key, a tombstone) give nil.
func text(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func writeRecordJSON(w io.Writer, r *kgo.Record) error {
	jr := jsonRecord{
		Topic:       r.Topic,
		Partition:   r.Partition,
		Offset:      r.Offset,
		Timestamp:   r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		TimestampMs: r.Timestamp.UnixMilli(),
		Headers:     []jsonHeader{},
	}
	jr.Key, jr.KeyBase64 = text(r.Key)
	jr.Value, jr.ValueBase64 = text(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = text(h.Value)
		jr.Headers = append(jr.Headers, jh)
	}
	b, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
