package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
)

// The demo shows what exists today: the embedded broker, a generator of
// page views producing through the Kafka protocol, and a consumer that
// counts views per page per window. The streams DSL, connectors and web
// console take their parts over as they land.

type pageView struct {
	User string `json:"user"`
	Page string `json:"page"`
	TS   int64  `json:"ts"`
}

var demoPages = []string{"/", "/pricing", "/docs", "/blog", "/signup", "/login", "/about", "/careers"}

func newDemoCommand() *cobra.Command {
	var (
		runFor  time.Duration
		rate    int
		window  time.Duration
		dataDir string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the page-views demo on an embedded broker",
		Long: `Start an embedded broker in a temporary directory, generate page views
into the "pageviews" topic and count views per page per window with a
consumer, printing progress. Any Kafka client can connect to the printed
address while it runs. With --for it stops after that long, prints a
summary and exits 0; otherwise Ctrl-C stops it.`,
		Example: `  eddy demo --for 30s
  eddy demo --rate 5000 --window 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rate <= 0 || window <= 0 {
				return fmt.Errorf("--rate and --window must be positive")
			}
			ctx := cmd.Context()
			if runFor > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, runFor)
				defer cancel()
			}
			return runDemo(ctx, cmd.OutOrStdout(), dataDir, rate, window)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&runFor, "for", 0, "stop after this long and print a summary (0 = until Ctrl-C)")
	f.IntVar(&rate, "rate", 2000, "page views generated per second")
	f.DurationVar(&window, "window", 10*time.Second, "length of the tumbling count window")
	f.StringVar(&dataDir, "data-dir", "", "broker data directory (default: a temporary directory, removed at exit)")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, dataDir string, rate int, window time.Duration) error {
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "eddy-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	}
	b, err := broker.Start(ctx, broker.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Logger: slog.Default()})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(out, "Eddy demo: broker on %s, data in %s\n", b.Addr(), dataDir)
	fmt.Fprintf(out, "  try: kcat -b %s -C -t pageviews -e\n", b.Addr())

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("pageviews"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "pageviews"); err != nil {
		return fmt.Errorf("create topic pageviews: %w", err)
	}

	var produced, consumed, windows atomic.Int64
	genDone := make(chan error, 1)
	go func() { genDone <- generate(ctx, cl, rate, &produced) }()

	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	counts := make(map[string]int)
	winStart := time.Now().Truncate(window)
	flush := func(end time.Time) {
		if len(counts) == 0 {
			return
		}
		windows.Add(1)
		fmt.Fprintf(out, "window %s-%s top pages: %s\n", winStart.Format("15:04:05"), end.Format("15:04:05"), topPages(counts, 3))
		clear(counts)
	}
	for ctx.Err() == nil {
		select {
		case <-tick.C:
			fmt.Fprintf(out, "[%4.0fs] produced %d, consumed %d page views\n", time.Since(start).Seconds(), produced.Load(), consumed.Load())
		default:
		}
		pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var pv pageView
			if json.Unmarshal(r.Value, &pv) != nil {
				return
			}
			if ws := r.Timestamp.Truncate(window); ws.After(winStart) {
				flush(ws)
				winStart = ws
			}
			counts[pv.Page]++
			consumed.Add(1)
		})
	}
	flush(time.Now())
	if err := <-genDone; err != nil && ctx.Err() == nil {
		return err
	}
	fmt.Fprintf(out, "\nsummary: %d page views produced, %d consumed, %d windows counted in %s\n",
		produced.Load(), consumed.Load(), windows.Load(), time.Since(start).Round(time.Second))
	return nil
}

// generate produces rate page views per second until ctx ends.
func generate(ctx context.Context, cl *kgo.Client, rate int, produced *atomic.Int64) error {
	const tickEvery = 10 * time.Millisecond
	perTick := max(1, rate/int(time.Second/tickEvery))
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for range perTick {
			pv := pageView{User: fmt.Sprintf("user-%03d", rng.IntN(200)), Page: demoPages[rng.IntN(len(demoPages))], TS: time.Now().UnixMilli()}
			v, _ := json.Marshal(pv)
			cl.Produce(ctx, &kgo.Record{Topic: "pageviews", Key: []byte(pv.User), Value: v}, func(_ *kgo.Record, err error) {
				if err == nil {
					produced.Add(1)
				}
			})
		}
	}
}

func topPages(counts map[string]int, n int) string {
	type kv struct {
		page string
		n    int
	}
	var all []kv
	for p, c := range counts {
		all = append(all, kv{p, c})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].page < all[j].page })
	s := ""
	for i, e := range all[:min(n, len(all))] {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s=%d", e.page, e.n)
	}
	return s
}
