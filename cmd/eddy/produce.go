package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newProduceCommand() *cobra.Command {
	var (
		cf        clientFlags
		keyDelim  string
		headers   []string
		partition int32
		acks      string
		maxLine   int
		quiet     bool
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write records to a topic, one per line of standard input",
		Long: `Read standard input line by line and write each line to TOPIC as one record's
value. With --key-delimiter, the text before the first delimiter is the key.
Records go to the partition chosen by the key's hash (Kafka's murmur2, so the
same key lands where Java clients put it) unless --partition is given; records
without a key are spread in batches. At end of input the command waits until
every record is acknowledged (acks=all by default: fsynced on Eddy's broker)
and prints, per partition, how many records were written and their offsets.

The exit code is 0 only if every record was written. If the broker allows it
(auto.create.topics.enable), a missing topic is created.`,
		Example: `  echo hello | eddy produce events
  printf 'user-1:clicked\nuser-2:viewed\n' | eddy produce events --key-delimiter :
  eddy produce events -H source=import -H version=2 < records.txt
  seq 1000 | eddy produce numbers --partition 0 -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			hdrs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			opts := []kgo.Opt{
				kgo.DefaultProduceTopic(topic),
				kgo.AllowAutoTopicCreation(),
				kgo.RecordDeliveryTimeout(cf.timeout),
				kgo.ProducerBatchMaxBytes(int32(min(max(maxLine+512, 1<<20), 64<<20))),
			}
			switch acks {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return usagef("--acks %q: want all, 1 or 0", acks)
			}
			if partition < -1 {
				return usagef("--partition %d: want a partition number, or -1 for the partitioner", partition)
			}
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			if maxLine <= 0 {
				return usagef("--max-line-bytes must be positive")
			}
			cl, err := cf.client(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()

			var (
				mu       sync.Mutex
				firstErr error
				parts    = map[int32]*producedRange{}
				total    int
			)
			promise := func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				total++
				pr := parts[r.Partition]
				if pr == nil {
					pr = &producedRange{Partition: r.Partition, First: r.Offset, Last: r.Offset}
					parts[r.Partition] = pr
				}
				pr.Records++
				pr.First, pr.Last = min(pr.First, r.Offset), max(pr.Last, r.Offset)
			}
			failed := func() error {
				mu.Lock()
				defer mu.Unlock()
				return firstErr
			}

			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 0, 64<<10), maxLine)
			line := 0
			var inputErr error
			for sc.Scan() && failed() == nil {
				line++
				r := &kgo.Record{Topic: topic, Partition: partition, Headers: hdrs}
				text := sc.Text()
				if keyDelim != "" {
					k, v, ok := strings.Cut(text, keyDelim)
					if !ok {
						inputErr = fmt.Errorf("line %d has no key delimiter %q", line, keyDelim)
						break
					}
					r.Key, text = []byte(k), v
				}
				r.Value = []byte(text)
				cl.Produce(ctx, r, promise)
			}
			if err := sc.Err(); err != nil && inputErr == nil {
				if errors.Is(err, bufio.ErrTooLong) {
					err = fmt.Errorf("line %d is longer than --max-line-bytes (%d)", line+1, maxLine)
				}
				inputErr = fmt.Errorf("read standard input: %w", err)
			}
			flushErr := cl.Flush(ctx)

			mu.Lock()
			ranges := make([]producedRange, 0, len(parts))
			for _, pr := range parts {
				ranges = append(ranges, *pr)
			}
			n, perr := total, firstErr
			mu.Unlock()
			sort.Slice(ranges, func(i, j int) bool { return ranges[i].Partition < ranges[j].Partition })
			if !quiet && (n > 0 || (perr == nil && inputErr == nil)) {
				if err := writeProduced(cmd, &cf, topic, n, ranges, acks == "0"); err != nil {
					return err
				}
			}
			switch {
			case perr != nil:
				return cf.reachErr(ctx, fmt.Sprintf("produce to %s (%d records written)", topic, n), perr)
			case inputErr != nil:
				return fmt.Errorf("%w (%d records written before it)", inputErr, n)
			case flushErr != nil && !errors.Is(flushErr, context.Canceled):
				return fmt.Errorf("produce to %s: %w", topic, flushErr)
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	f := cmd.Flags()
	cf.register(f, true)
	f.StringVarP(&keyDelim, "key-delimiter", "k", "", "split each line at the first occurrence of this string into key and value")
	f.StringArrayVarP(&headers, "header", "H", nil, "record header key=value, added to every record (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "write every record to this partition; -1: choose by key")
	f.StringVar(&acks, "acks", "all", "acknowledgement to wait for: all (durable), 1 (written by the leader) or 0 (none)")
	f.IntVar(&maxLine, "max-line-bytes", 1<<20, "longest input line accepted")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	return cmd
}

// producedRange is what was written to one partition.
type producedRange struct {
	Partition int32 `json:"partition"`
	Records   int   `json:"records"`
	First     int64 `json:"first_offset"`
	Last      int64 `json:"last_offset"`
}

func writeProduced(cmd *cobra.Command, cf *clientFlags, topic string, n int, ranges []producedRange, noAcks bool) error {
	if cf.json() {
		return writeJSON(cmd.OutOrStdout(), struct {
			Topic      string          `json:"topic"`
			Records    int             `json:"records"`
			Partitions []producedRange `json:"partitions"`
		}{topic, n, ranges})
	}
	t := newTable("PARTITION", "RECORDS", "FIRST-OFFSET", "LAST-OFFSET")
	for _, r := range ranges {
		if noAcks { // acks=0: the broker tells no offsets
			t.row(r.Partition, r.Records, "-", "-")
			continue
		}
		t.row(r.Partition, r.Records, r.First, r.Last)
	}
	if err := t.write(cmd.OutOrStdout()); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "produced %d records to %s\n", n, topic)
	return nil
}

// parseHeaders parses -H key=value flags into record headers, in order.
func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usagef("--header %q: want key=value", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}
