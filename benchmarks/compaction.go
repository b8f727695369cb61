package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
)

// The compaction benchmark: how fast Eddy's broker compacts a log in the
// background, and how much produce throughput it costs meanwhile. There is
// no peer: kfake does not compact. The figures come from the broker's own
// report of each pass (the info log "storage: compacted log" with
// bytes_read and duration, which broker/storage writes after every pass),
// captured through the broker's Config.Logger; nothing is added to the
// broker for the benchmark.

func init() {
	register(benchmark{
		name:    "compaction",
		summary: "Eddy's log cleaner: MB/s compacted, and produce throughput while it runs vs. with compaction off",
		run:     runCompaction,
	})
}

const compactionHelp = `Usage: go run ./benchmarks compaction [flags]

Measures Eddy's background log cleaner (cleanup.policy=compact) on a fresh
broker (broker.Start in this process, log.cleaner.backoff.ms 1s) per run.

Setup of every run: the topic "compacted" (-partitions partitions,
segment.bytes -segment-bytes, cleanup.policy=delete so nothing cleans it
yet) is filled with -log-mb MB of record values: -value-size byte values
under -keys distinct keys, written round-robin, so all but the newest record
of each key are garbage. Then two phases, in an order that alternates from
run to run:

  idle     a kgo producer (acks=all, linger 10ms, no compression, 5 in
           flight, unkeyed -value-size values) produces to a fresh topic
           with -partitions partitions as fast as it can; after a 0.5 s
           warm-up, the acknowledged bytes are counted for -duration. The
           cleaner has nothing to do ("compacted" is still delete-only).
  during   the same producer to another fresh topic; after the same
           warm-up, "compacted" is switched to cleanup.policy=compact
           (IncrementalAlterConfigs, which wakes the cleaner at once), and
           the acknowledged bytes are counted from that moment until the
           cleaner has reported a pass up to the active segment for every
           partition of "compacted".

Columns:
  log MB           bytes of the closed segments of "compacted" (what the
                   pass must read), 10^6 bytes
  cleaned MB/s     sum of bytes_read / sum of duration of the cleaner's
                   passes, as the broker reports them: the cleaner's own
                   speed (partitions are cleaned one at a time)
  wall MB/s        bytes_read / time from the config change to the last
                   pass's end (includes waking the cleaner)
  kept %           bytes_written / bytes_read
  produce MB/s     record value MB/s acknowledged in the window (10^6)
  window s         length of the measured produce window
  CPU s            user+system CPU of the whole process in the window
                   (broker, cleaner and producer share the process)

Every figure is the median over -runs runs. The last line is
  compaction: cleaned=X MB/s produce-during/produce-idle=Y.YY
with X the median cleaned MB/s and Y median(during MB/s) / median(idle
MB/s).

Flags:
`

type compactionOpts struct {
	runs         int
	logMB        int
	valueSize    int
	keys         int
	partitions   int
	segmentBytes int
	duration     time.Duration
	timeout      time.Duration
	dir          string
	cpuprofile   string
	verbose      bool
	args         []string
}

func parseCompactionFlags(args []string, stdout io.Writer) (compactionOpts, error) {
	var o compactionOpts
	fs := flag.NewFlagSet("compaction", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.runs, "runs", 3, "runs; the report shows medians")
	fs.IntVar(&o.logMB, "log-mb", 1024, "MB (10^6) of record values written to the topic to compact")
	fs.IntVar(&o.valueSize, "value-size", 1024, "record value size in bytes, of the compacted topic and the produce load")
	fs.IntVar(&o.keys, "keys", 10_000, "distinct keys in the compacted topic")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the compacted topic and of the produce load's topics")
	fs.IntVar(&o.segmentBytes, "segment-bytes", 16<<20, "segment.bytes of the compacted topic")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured length of the idle produce window")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "a pass not finished after this long fails the run")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory of the broker's data directory (a real disk, not tmpfs)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured windows' runs to this file; goroutines carry who=broker or who=client")
	fs.BoolVar(&o.verbose, "v", false, "pass the broker's info logs to stderr")
	quick := fs.Bool("quick", false, "smoke test: -runs 1 -log-mb 64 -segment-bytes 4194304 -duration 1s, unless given")
	if err := parseFlags(fs, args, compactionHelp); err != nil {
		return o, err
	}
	o.args = args
	if *quick {
		set := explicitFlags(fs)
		if !set["runs"] {
			o.runs = 1
		}
		if !set["log-mb"] {
			o.logMB = 64
		}
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["segment-bytes"] {
			o.segmentBytes = 4 << 20
		}
	}
	switch {
	case o.runs < 1:
		return o, fmt.Errorf("%w: -runs must be at least 1", errUsage)
	case o.logMB < 1 || o.valueSize < 8 || o.keys < 1 || o.partitions < 1 || o.duration <= 0:
		return o, fmt.Errorf("%w: -log-mb, -keys, -partitions, -duration must be positive and -value-size at least 8", errUsage)
	}
	return o, nil
}

// cleanerPass is one pass as the broker logged it.
type cleanerPass struct {
	topic       string
	partition   int
	bytesRead   int64
	bytesWrit   int64
	cleanedUpTo int64
	duration    time.Duration
	end         time.Time
}

// cleanerWatch collects the passes the broker reports.
type cleanerWatch struct {
	mu     sync.Mutex
	passes []cleanerPass
	notify chan struct{} // buffer 1, poked on every pass
}

func (w *cleanerWatch) since(t time.Time, topic string) []cleanerPass {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []cleanerPass
	for _, p := range w.passes {
		if p.topic == topic && !p.end.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// watchHandler is the broker's slog handler: it records every
// "storage: compacted log" report and passes records on to next.
type watchHandler struct {
	w     *cleanerWatch
	attrs []slog.Attr
	next  slog.Handler
}

// Enabled lets info records through: the cleaner reports at info.
func (h watchHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h watchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return watchHandler{h.w, append(slices.Clone(h.attrs), as...), h.next.WithAttrs(as)}
}

func (h watchHandler) WithGroup(name string) slog.Handler {
	return watchHandler{h.w, h.attrs, h.next.WithGroup(name)}
}

func (h watchHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "storage: compacted log" {
		p := cleanerPass{end: r.Time, partition: -1}
		set := func(a slog.Attr) bool {
			v := a.Value.Resolve()
			switch a.Key {
			case "topic":
				p.topic = v.String()
			case "partition":
				p.partition, _ = strconv.Atoi(v.String())
			case "bytes_read":
				p.bytesRead, _ = strconv.ParseInt(v.String(), 10, 64)
			case "bytes_written":
				p.bytesWrit, _ = strconv.ParseInt(v.String(), 10, 64)
			case "cleaned_up_to":
				p.cleanedUpTo, _ = strconv.ParseInt(v.String(), 10, 64)
			case "duration":
				if v.Kind() == slog.KindDuration {
					p.duration = v.Duration()
				} else {
					p.duration, _ = time.ParseDuration(v.String())
				}
			}
			return true
		}
		for _, a := range h.attrs {
			set(a)
		}
		r.Attrs(set)
		h.w.mu.Lock()
		h.w.passes = append(h.w.passes, p)
		h.w.mu.Unlock()
		select {
		case h.w.notify <- struct{}{}:
		default:
		}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// compactionSample is one run.
type compactionSample struct {
	logBytes                 int64
	bytesRead, bytesWritten  int64
	passes                   int
	cleanerBusy, cleanerWall time.Duration
	idle, during             phase
	err                      error
}

func (s compactionSample) cleanedMBps() float64 {
	return float64(s.bytesRead) / s.cleanerBusy.Seconds() / 1e6
}
func (s compactionSample) wallMBps() float64 {
	return float64(s.bytesRead) / s.cleanerWall.Seconds() / 1e6
}

func runCompaction(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseCompactionFlags(args, stdout)
	if err != nil {
		return err
	}
	started := time.Now()
	head := reportHead("compaction: Eddy's log cleaner", "compaction", o.args, started, "data directories", o.dir, "broker", "benchmarks")
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var samples []compactionSample
	var errs []string
	for run := range o.runs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(stderr, "[%d/%d] (load %s)\n", run+1, o.runs, loadAvg())
		s := runCompactionOnce(ctx, o, run%2 == 1, stderr)
		if s.err != nil {
			errs = append(errs, fmt.Sprintf("run %d: %v", run+1, s.err))
			fmt.Fprintf(stderr, "  ERROR: %v\n", s.err)
		} else {
			fmt.Fprintf(stderr, "  cleaned %s MB in %d passes: %s MB/s (cleaner busy %.2f s, wall %.2f s); produce idle %s MB/s, during %s MB/s\n",
				fmtNum(float64(s.bytesRead)/1e6), s.passes, fmtNum(s.cleanedMBps()), s.cleanerBusy.Seconds(), s.cleanerWall.Seconds(),
				fmtNum(s.idle.mbps()), fmtNum(s.during.mbps()))
		}
		samples = append(samples, s)
	}
	head = append(head, "- load average after the run: "+loadAvg(),
		fmt.Sprintf("- wall time: %v", time.Since(started).Round(time.Second)))
	return writeCompactionReport(stdout, o, head, samples, errs)
}

// runCompactionOnce is one run on a fresh broker; duringFirst puts the
// compaction phase before the idle one.
func runCompactionOnce(ctx context.Context, o compactionOpts, duringFirst bool, stderr io.Writer) (s compactionSample) {
	runtime.GC()
	debug.FreeOSMemory()
	dir, err := os.MkdirTemp(o.dir, "eddy-bench-compaction-")
	if err != nil {
		return compactionSample{err: err}
	}
	defer os.RemoveAll(dir)
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	watch := &cleanerWatch{notify: make(chan struct{}, 1)}
	logger := slog.New(watchHandler{w: watch, next: slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})})
	var b *broker.Broker
	pprof.Do(ctx, pprof.Labels("who", "broker"), func(ctx context.Context) {
		b, err = broker.Start(ctx, broker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: logger,
			CleanerBackoff: time.Second, GroupInitialRebalanceDelay: -1})
	})
	if err != nil {
		return compactionSample{err: fmt.Errorf("start broker: %w", err)}
	}
	defer func() {
		if err := stopWithin(b.Close, 30*time.Second); err != nil && s.err == nil {
			s.err = err
		}
	}()
	addr := b.Addr()

	pprof.Do(ctx, pprof.Labels("who", "client"), func(ctx context.Context) {
		cl, err := kgo.NewClient(append(producerOpts(addr, 10*time.Millisecond, stderr), kgo.MaxBufferedRecords(100_000))...)
		if err != nil {
			s.err = err
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		resp, err := adm.CreateTopics(ctx, int32(o.partitions), 1, map[string]*string{
			"cleanup.policy": ptr("delete"),
			"segment.bytes":  ptr(strconv.Itoa(o.segmentBytes)),
		}, "compacted")
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			s.err = fmt.Errorf("create topic compacted: %w", err)
			return
		}
		t0 := time.Now()
		if err := fillCompacted(ctx, cl, o); err != nil {
			s.err = err
			return
		}
		fmt.Fprintf(stderr, "  wrote %d MB to \"compacted\" in %v\n", o.logMB, time.Since(t0).Round(time.Millisecond))

		phases := []string{"idle", "during"}
		if duringFirst {
			phases = []string{"during", "idle"}
		}
		for _, ph := range phases {
			runtime.GC()
			if ph == "idle" {
				s.idle, s.err = produceWindow(ctx, o, addr, "load-idle", stderr, func() error {
					select {
					case <-time.After(o.duration):
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if s.err == nil {
					fmt.Fprintf(stderr, "  idle: produce %s MB/s over %.1f s\n", fmtNum(s.idle.mbps()), s.idle.elapsed.Seconds())
				}
			} else {
				s.during, s.err = produceWindow(ctx, o, addr, "load-during", stderr, func() error {
					return compactAndWait(ctx, o, adm, dir, watch, &s)
				})
				if s.err == nil {
					fmt.Fprintf(stderr, "  during: produce %s MB/s over %.1f s\n", fmtNum(s.during.mbps()), s.during.elapsed.Seconds())
				}
			}
			if s.err != nil {
				return
			}
		}
	})
	return s
}

func ptr[T any](v T) *T { return &v }

// fillCompacted writes o.logMB MB of values to "compacted", keys
// round-robin over o.keys, each partition's share in order.
func fillCompacted(ctx context.Context, cl *kgo.Client, o compactionOpts) error {
	n := int64(o.logMB) * 1e6 / int64(o.valueSize)
	value := randomValue(o.valueSize)
	keys := make([][]byte, o.keys)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%08d", i))
	}
	var failed atomic.Pointer[error]
	for i := int64(0); i < n && failed.Load() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: "compacted", Key: keys[i%int64(len(keys))], Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if e := failed.Load(); e != nil {
		return fmt.Errorf("fill: %w", *e)
	}
	return nil
}

// produceWindow produces unkeyed values to a fresh topic as fast as it
// can; after a 0.5 s warm-up it runs window and measures the values
// acknowledged while window runs.
func produceWindow(ctx context.Context, o compactionOpts, addr, topic string, stderr io.Writer, window func() error) (phase, error) {
	cl, err := kgo.NewClient(producerOpts(addr, 10*time.Millisecond, stderr)...)
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	if err := createTopic(ctx, cl, topic, o.partitions); err != nil {
		return phase{}, err
	}
	value := randomValue(o.valueSize)
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 256 {
				cl.Produce(pctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						if pctx.Err() == nil {
							failed.CompareAndSwap(nil, &err)
						}
						return
					}
					acked.Add(1)
				})
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	a0, cpu0, t0 := acked.Load(), cpuTime(), time.Now()
	werr := window()
	p := phase{records: acked.Load() - a0, elapsed: time.Since(t0), cpu: cpuTime() - cpu0}
	p.bytes = p.records * int64(o.valueSize)
	close(stop)
	<-loopDone
	ferr := cl.Flush(ctx)
	switch {
	case werr != nil:
		return p, werr
	case failed.Load() != nil:
		return p, fmt.Errorf("produce to %s: %w", topic, *failed.Load())
	case ferr != nil:
		return p, fmt.Errorf("produce to %s: %w", topic, ferr)
	}
	return p, nil
}

// compactAndWait switches "compacted" to cleanup.policy=compact and waits
// until the cleaner has reported a pass up to the active segment of every
// partition; it fills s's cleaner figures.
func compactAndWait(ctx context.Context, o compactionOpts, adm *kadm.Client, dataDir string, watch *cleanerWatch, s *compactionSample) error {
	// What the pass must clean: every closed segment of every partition.
	want := map[int]int64{} // partition -> base of the active segment
	for p := range o.partitions {
		bases, sizes, err := segments(filepath.Join(dataDir, "compacted-"+strconv.Itoa(p)))
		if err != nil {
			return err
		}
		if len(bases) < 2 {
			return fmt.Errorf("partition %d has %d segment(s): nothing to clean; raise -log-mb or lower -segment-bytes", p, len(bases))
		}
		want[p] = bases[len(bases)-1]
		for _, sz := range sizes[:len(sizes)-1] {
			s.logBytes += sz
		}
	}
	flip := time.Now()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: ptr("compact")}}, "compacted")
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("alter cleanup.policy: %w", err)
	}
	deadline := time.NewTimer(o.timeout)
	defer deadline.Stop()
	for {
		passes := watch.since(flip, "compacted")
		done := map[int]bool{}
		for _, p := range passes {
			if p.cleanedUpTo >= want[p.partition] {
				done[p.partition] = true
			}
		}
		if len(done) == o.partitions {
			s.passes = len(passes)
			for _, p := range passes {
				s.bytesRead += p.bytesRead
				s.bytesWritten += p.bytesWrit
				s.cleanerBusy += p.duration
				s.cleanerWall = max(s.cleanerWall, p.end.Sub(flip))
			}
			return nil
		}
		select {
		case <-watch.notify:
		case <-time.After(time.Second):
		case <-deadline.C:
			return fmt.Errorf("compaction not finished after %v: %d passes reported, %d of %d partitions done", o.timeout, len(passes), len(done), o.partitions)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// segments lists the base offsets and sizes of the segments in a partition
// directory, ascending.
func segments(dir string) (bases, sizes []int64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, nil, err
		}
		bases = append(bases, base)
		sizes = append(sizes, info.Size())
	}
	// ReadDir sorts by name and names are zero-padded: already ascending.
	return bases, sizes, nil
}

func writeCompactionReport(w io.Writer, o compactionOpts, head []string, samples []compactionSample, errs []string) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	for _, l := range head {
		p("%s", l)
	}
	med := func(f func(compactionSample) float64) float64 {
		var xs []float64
		for _, s := range samples {
			if s.err == nil {
				xs = append(xs, f(s))
			}
		}
		return median(xs)
	}
	p("")
	p("Topic \"compacted\": %d partitions, segment.bytes %d, %d MB of %d-byte values under %s keys (round-robin), cleaned in one pass per partition;",
		o.partitions, o.segmentBytes, o.logMB, o.valueSize, fmtCount(float64(o.keys)))
	p("produce load: one kgo producer (acks=all, linger 10ms, no compression, 5 in flight), unkeyed %d-byte values to a fresh %d-partition topic.", o.valueSize, o.partitions)
	p("Every figure is the median over %d run(s), each on a fresh broker; idle and during alternate in order.", o.runs)
	p("")
	p("| log MB | passes | cleaned MB/s | wall MB/s | kept %% | cleaner s |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: |")
	p("| %s | %s | %s | %s | %s | %s |",
		fmtNum(med(func(s compactionSample) float64 { return float64(s.logBytes) / 1e6 })),
		fmtCount(med(func(s compactionSample) float64 { return float64(s.passes) })),
		fmtNum(med(func(s compactionSample) float64 { return s.cleanedMBps() })),
		fmtNum(med(func(s compactionSample) float64 { return s.wallMBps() })),
		fmtNum(med(func(s compactionSample) float64 { return 100 * float64(s.bytesWritten) / float64(s.bytesRead) })),
		fmtNum(med(func(s compactionSample) float64 { return s.cleanerBusy.Seconds() })))
	p("")
	p("| produce phase | produce MB/s | rec/s | window s | CPU s | CPU share |")
	p("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, ph := range []struct {
		name string
		f    func(compactionSample) phase
	}{{"idle (compaction off)", func(s compactionSample) phase { return s.idle }}, {"during compaction", func(s compactionSample) phase { return s.during }}} {
		p("| %s | %s | %s | %s | %s | %s |", ph.name,
			fmtNum(med(func(s compactionSample) float64 { return ph.f(s).mbps() })),
			fmtCount(med(func(s compactionSample) float64 { return ph.f(s).rps() })),
			fmtNum(med(func(s compactionSample) float64 { return ph.f(s).elapsed.Seconds() })),
			fmtNum(med(func(s compactionSample) float64 { return ph.f(s).cpu.Seconds() })),
			fmtNum(med(func(s compactionSample) float64 { return ph.f(s).cpu.Seconds() / ph.f(s).elapsed.Seconds() })))
	}
	if len(errs) > 0 {
		p("")
		p("Errors (failed runs are left out of the medians):")
		p("")
		for _, e := range errs {
			p("- %s", e)
		}
	}
	cleaned := med(func(s compactionSample) float64 { return s.cleanedMBps() })
	ratio := med(func(s compactionSample) float64 { return s.during.mbps() }) / med(func(s compactionSample) float64 { return s.idle.mbps() })
	p("")
	p("Ratio line: cleaned = median of bytes read / cleaner busy time; produce-during/produce-idle = median(during MB/s) / median(idle MB/s).")
	if math.IsNaN(cleaned) {
		p("compaction: cleaned=n/a MB/s produce-during/produce-idle=%s", fmtRatio(ratio))
	} else {
		p("compaction: cleaned=%s MB/s produce-during/produce-idle=%s", fmtNum(cleaned), fmtRatio(ratio))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d run(s) failed; see the report", len(errs))
	}
	return nil
}
