package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/eddy-streams/eddy/broker"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The broker benchmark: Eddy's broker against franz-go's kfake, in memory
// and with its data directory and an fsync per batch, under the same
// franz-go load from this process, each broker in a child process of its
// own (brokerproc.go).

func init() {
	register(benchmark{
		name:    "broker",
		summary: "Eddy's broker vs franz-go's kfake (in memory, and fsync per batch): throughput, latency, CPU",
		run:     runBroker,
	})
}

const brokerHelp = `Usage: go run ./benchmarks broker [flags]

Runs Eddy's broker and franz-go's fake broker kfake side by side, each in a
child process of its own (this binary again, as "broker-server"), under the
same franz-go (kgo) load from this process, and prints a markdown report.
Separate processes keep the brokers' heaps from pacing the client's garbage
collection: kfake in memory holds every record in its heap, which in one
shared process made collections rare for everyone. -in-process runs the
brokers inside this process instead.

Systems:
  eddy        Eddy's broker (broker.Start) on a fresh data directory; an
              acks=all produce is answered only after its bytes are fsynced
              (group-committed across producers and partitions).
  kfake-mem   kfake, one broker, everything in memory (no durability).
  kfake-sync  kfake, one broker, with kfake.DataDir and kfake.SyncWrites: an
              fsync per record batch. The durable peer the ratios use.

Cases (each system gets a fresh broker, data directory and topic per case):
  1KiB-p1, 1KiB-p8, 100B-p1, 100B-p8
              throughput: record value size and partition count. One
              producer (acks=all, linger 10ms, no compression, no
              idempotence, 5 requests in flight) produces as fast as it can
              for -duration (or exactly -records records) and flushes; then
              a fresh consumer (no group) reads every record from the start.
              Then a raw reader reads them again without decoding: bare
              Fetch requests, one in flight, no CRC check, batches walked by
              their headers (reported in a table of its own).
  e2e-1KiB-p1, e2e-1KiB-p8
              end-to-end latency: a consumer long-polls while a producer
              with linger 0 sends 1 KiB records at -e2e-rate records/s for
              -e2e-duration after a 0.5 s warm-up. Latency runs from just
              before Produce to the consumer receiving the record.

Columns:
  records       records produced (and consumed) in the case
  MB/s          record value bytes per second, 10^6 bytes (headers and
                protocol overhead not counted)
  rec/s         records per second
  CPU s         user+system CPU seconds of this process (getrusage) plus
                the broker's process (/proc/PID/stat) during the phase:
                broker + client together, on the machine's shared cores.
  p50/p99/max   end-to-end latency percentiles in milliseconds
  sent rec/s    the rate the pacer actually achieved

First, unless -warmup=false, every system runs the first throughput case
once, unmeasured. Then every case runs -runs times; the runs interleave the
systems (the order rotates from run to run) and the report shows the MEDIAN
of each column over the runs. Data directories are made with os.MkdirTemp under -dir and removed
afterwards. The report also gives the machine's own limits: loopback TCP
bandwidth and fsynced disk bandwidth under -dir.

The last line of the output is
  broker: eddy/kfake produce=X.XX consume=Y.YY
where each figure is the geometric mean, over the cases 1KiB-p1 and 1KiB-p8,
of median(eddy MB/s) / median(kfake-sync MB/s). Targets: produce >= 1.25,
consume >= 2, and e2e p99 <= 2 ms; the report says which are met.

The load's process collects garbage with GOGC=-load-gogc (400); the
brokers' processes with Go's default. See benchmarks/README.md for why.

Flags:
`

// brokerSystem is one broker under test. start brings up a broker whose
// data (if any) lives in dir and returns its address and a stop function.
type brokerSystem struct {
	name  string
	start func(ctx context.Context, dir string, logs io.Writer, verbose bool) (addr string, stop func() error, err error)
}

var brokerSystems = []brokerSystem{
	{"eddy", startEddy},
	{"kfake-mem", startKfake(false)},
	{"kfake-sync", startKfake(true)},
}

func startEddy(ctx context.Context, dir string, logs io.Writer, verbose bool) (string, func() error, error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("system", "eddy")
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: log})
	if err != nil {
		return "", nil, err
	}
	return b.Addr(), b.Close, nil
}

func startKfake(durable bool) func(context.Context, string, io.Writer, bool) (string, func() error, error) {
	return func(_ context.Context, dir string, logs io.Writer, verbose bool) (string, func() error, error) {
		level := kfake.LogLevelWarn
		if verbose {
			level = kfake.LogLevelInfo
		}
		opts := []kfake.Opt{kfake.NumBrokers(1), kfake.WithLogger(kfake.BasicLogger(logs, level))}
		if durable {
			opts = append(opts, kfake.DataDir(dir), kfake.SyncWrites())
		}
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			return "", nil, err
		}
		return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
	}
}

// brokerCase is one row group of the report.
type brokerCase struct {
	name       string
	recordSize int
	partitions int
	e2e        bool
}

var brokerCases = []brokerCase{
	{"1KiB-p1", 1024, 1, false},
	{"1KiB-p8", 1024, 8, false},
	{"100B-p1", 100, 1, false},
	{"100B-p8", 100, 8, false},
	{"e2e-1KiB-p1", 1024, 1, true},
	{"e2e-1KiB-p8", 1024, 8, true},
}

// ratioCases are the cases the final ratio line is taken over, and
// ratioPeer the system it compares Eddy with.
var ratioCases = []string{"1KiB-p1", "1KiB-p8"}

const ratioPeer = "kfake-sync"

type brokerOpts struct {
	runs        int
	duration    time.Duration
	records     int64
	e2eRate     int
	e2eDuration time.Duration
	e2eWarmup   time.Duration
	timeout     time.Duration
	dir         string
	systems     []brokerSystem
	cases       []brokerCase
	baseline    bool
	warmup      bool
	cpuprofile  string
	memprofile  string
	loadGOGC    int
	inProcess   bool
	verbose     bool
	args        []string
}

func parseBrokerFlags(args []string, stdout io.Writer) (brokerOpts, error) {
	var o brokerOpts
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.runs, "runs", 3, "runs of every case per system; the report shows medians")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "how long each throughput case produces")
	fs.Int64Var(&o.records, "records", 0, "if > 0, produce exactly this many records per throughput case instead of -duration")
	fs.IntVar(&o.e2eRate, "e2e-rate", 10000, "records/s the end-to-end latency producer sends")
	fs.DurationVar(&o.e2eDuration, "e2e-duration", 3*time.Second, "measured length of each end-to-end latency case (after a 0.5s warm-up)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "a phase that takes longer than this (beyond -duration) fails as a stalled broker")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory for the brokers' data directories (must be a real disk, not tmpfs, for fsync to mean anything)")
	systems := fs.String("systems", "eddy,kfake-mem,kfake-sync", "comma-separated systems to run")
	cases := fs.String("cases", "", "comma-separated cases to run (default all: 1KiB-p1,1KiB-p8,100B-p1,100B-p8,e2e-1KiB-p1,e2e-1KiB-p8)")
	fs.BoolVar(&o.warmup, "warmup", true, "before the measured runs, run the first throughput case once per system, unmeasured (warms the Go heap and the page cache; on a fresh VM the first touch of memory is slow)")
	fs.BoolVar(&o.baseline, "baseline", true, "measure loopback TCP and fsynced disk bandwidth first (about 2 s)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the cases (not the baselines) to this file; implies -in-process; combine with -systems eddy to profile Eddy alone")
	fs.StringVar(&o.memprofile, "memprofile", "", "write a profile of the memory allocated during the cases (not the baselines) to this file; implies -in-process")
	fs.IntVar(&o.loadGOGC, "load-gogc", 400, "garbage-collection target (GOGC) of this process, the franz-go load's; the brokers' processes keep Go's default (100) or the GOGC of the environment")
	fs.BoolVar(&o.inProcess, "in-process", false, "run the brokers inside this process, beside the load, instead of each in a child process of its own")
	fs.BoolVar(&o.verbose, "v", false, "pass the brokers' info logs to stderr (warnings and errors always are)")
	quick := fs.Bool("quick", false, "smoke test: -runs 1 -duration 300ms -e2e-duration 1s -baseline=false -warmup=false, unless those flags are given")
	if err := parseFlags(fs, args, brokerHelp); err != nil {
		return o, err
	}
	o.args = args
	o.e2eWarmup = 500 * time.Millisecond
	if o.cpuprofile != "" || o.memprofile != "" {
		o.inProcess = true // the profile needs the brokers' goroutines in this process
	}
	if *quick {
		set := explicitFlags(fs)
		if !set["runs"] {
			o.runs = 1
		}
		if !set["duration"] {
			o.duration = 300 * time.Millisecond
		}
		if !set["e2e-duration"] {
			o.e2eDuration = time.Second
		}
		if !set["baseline"] {
			o.baseline = false
		}
		if !set["warmup"] {
			o.warmup = false
		}
		o.e2eWarmup = 200 * time.Millisecond
	}
	for _, n := range splitList(*systems) {
		i := indexFunc(brokerSystems, func(s brokerSystem) bool { return s.name == n })
		if i < 0 {
			return o, fmt.Errorf("%w: unknown system %q", errUsage, n)
		}
		o.systems = append(o.systems, brokerSystems[i])
	}
	if *cases == "" {
		o.cases = brokerCases
	}
	for _, n := range splitList(*cases) {
		i := indexFunc(brokerCases, func(c brokerCase) bool { return c.name == n })
		if i < 0 {
			return o, fmt.Errorf("%w: unknown case %q", errUsage, n)
		}
		o.cases = append(o.cases, brokerCases[i])
	}
	switch {
	case o.runs < 1:
		return o, fmt.Errorf("%w: -runs must be at least 1", errUsage)
	case len(o.systems) == 0 || len(o.cases) == 0:
		return o, fmt.Errorf("%w: nothing to run", errUsage)
	case o.e2eRate < 1 || o.e2eRate > 1_000_000:
		return o, fmt.Errorf("%w: -e2e-rate must be in 1..1000000", errUsage)
	case o.duration <= 0 && o.records <= 0:
		return o, fmt.Errorf("%w: -duration or -records must be positive", errUsage)
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func indexFunc[T any](xs []T, f func(T) bool) int {
	for i, x := range xs {
		if f(x) {
			return i
		}
	}
	return -1
}

// sample is one run of one case on one system.
type sample struct {
	produce, consume phase
	raw              phase // consume again without decoding (consumeRaw)
	lat              latencyResult
	err              error
}

// cell gathers a case's samples on one system.
type cell struct {
	samples []sample
	errs    []string
}

// phaseColumns is the median MB/s, rec/s and CPU s of one phase, as three
// cells of a markdown table row.
func (c *cell) phaseColumns(ph func(sample) phase) string {
	return fmtNum(c.med(func(s sample) float64 { return ph(s).mbps() })) + " | " +
		fmtCount(c.med(func(s sample) float64 { return ph(s).rps() })) + " | " +
		fmtNum(c.med(func(s sample) float64 { return ph(s).cpu.Seconds() }))
}

func (c *cell) med(f func(sample) float64) float64 {
	var xs []float64
	for _, s := range c.samples {
		if s.err == nil {
			xs = append(xs, f(s))
		}
	}
	return median(xs)
}

func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBrokerFlags(args, stdout)
	if err != nil {
		return err
	}
	started := time.Now()
	var head []string
	head = append(head,
		fmt.Sprintf("## broker: Eddy vs kfake, %s", started.Format("2006-01-02 15:04 MST")),
		"",
		"- command: `"+strings.TrimSpace("go run ./benchmarks broker "+strings.Join(o.args, " "))+"`",
		"- source: "+cmp.Or(revision("broker", "benchmarks"), "unknown (no git)"),
		"- machine: "+machineInfo(),
		"- load average before the run: "+loadAvg(),
		fmt.Sprintf("- data directories under %s (%s)", o.dir, fsType(o.dir)))
	if o.baseline {
		fmt.Fprintln(stderr, "measuring baselines: loopback TCP, fsynced disk writes")
		head = append(head, baselineLines(ctx, o.dir, 2*time.Second)...)
	}

	// The load's process allocates a fresh buffer for every fetch response
	// and every produced record batch, but keeps little: at Go's default
	// target its heap stays at a few megabytes and it collects tens to
	// hundreds of times a second. Each collection takes one of the two
	// processors for its marking, whatever broker is under test, and that
	// set the end-to-end p99 and the consume rate of every system more
	// than the broker did (see benchmarks/README.md). A larger target sizes
	// the load like a JVM client with its heap, for every system alike.
	defer debug.SetGCPercent(debug.SetGCPercent(o.loadGOGC))
	if o.warmup {
		if i := indexFunc(o.cases, func(c brokerCase) bool { return !c.e2e }); i >= 0 {
			for _, s := range o.systems {
				fmt.Fprintf(stderr, "[warm-up] %s %s: ", o.cases[i].name, s.name)
				smp := runBrokerCase(ctx, o, o.cases[i], s, stderr)
				if smp.err != nil {
					fmt.Fprintf(stderr, "ERROR (not counted): %v\n", smp.err)
				} else {
					fmt.Fprintf(stderr, "produce %s MB/s, consume %s MB/s (not counted)\n", fmtNum(smp.produce.mbps()), fmtNum(smp.consume.mbps()))
				}
			}
		}
	}

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
	if o.memprofile != "" {
		// Count every allocation from here on; the baselines and the warm-up are
		// in the profile's totals too, so read it with -sample_index=alloc_space
		// and focus on the broker's packages.
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(o.memprofile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}

	cells := map[string]*cell{} // by case + "/" + system
	for _, c := range o.cases {
		for _, s := range o.systems {
			cells[c.name+"/"+s.name] = &cell{}
		}
	}
	casesStart, cpuStart := time.Now(), cpuTime()
	total := o.runs * len(o.cases) * len(o.systems)
	done := 0
	for run := range o.runs {
		for ci, c := range o.cases {
			for k := range o.systems {
				// Rotate the order so no system always goes first.
				s := o.systems[(k+run+ci)%len(o.systems)]
				if ctx.Err() != nil {
					return ctx.Err()
				}
				done++
				fmt.Fprintf(stderr, "[%d/%d] run %d/%d %s %s: ", done, total, run+1, o.runs, c.name, s.name)
				smp := runBrokerCase(ctx, o, c, s, stderr)
				cl := cells[c.name+"/"+s.name]
				cl.samples = append(cl.samples, smp)
				if smp.err != nil {
					cl.errs = append(cl.errs, fmt.Sprintf("run %d: %v", run+1, smp.err))
					fmt.Fprintf(stderr, "ERROR: %v\n", smp.err)
					continue
				}
				if c.e2e {
					fmt.Fprintf(stderr, "p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.0f rec/s sent, CPU %.2f s (broker %.2f s)\n",
						ms(smp.lat.p50), ms(smp.lat.p99), ms(smp.lat.max), smp.lat.rate, smp.lat.cpu.Seconds(), smp.lat.brokerCPU.Seconds())
				} else {
					fmt.Fprintf(stderr, "produce %s MB/s (%s rec/s, CPU %.2f s), consume %s MB/s (%s rec/s, CPU %.2f s), without decoding %s MB/s (CPU %.2f s, %d fetches of %s KiB)\n",
						fmtNum(smp.produce.mbps()), fmtCount(smp.produce.rps()), smp.produce.cpu.Seconds(),
						fmtNum(smp.consume.mbps()), fmtCount(smp.consume.rps()), smp.consume.cpu.Seconds(),
						fmtNum(smp.raw.mbps()), smp.raw.cpu.Seconds(), smp.raw.requests, fmtCount(float64(smp.raw.wire)/float64(max(smp.raw.requests, 1))/1024))
				}
			}
		}
	}
	share := (cpuTime() - cpuStart).Seconds() / time.Since(casesStart).Seconds()
	head = append(head, "- load average after the run: "+loadAvg(),
		fmt.Sprintf("- this process used %.2f of the %d CPUs on average while the cases ran (the rest was idle or went to other processes)", share, runtime.NumCPU()),
		fmt.Sprintf("- wall time: %v", time.Since(started).Round(time.Second)))
	return writeBrokerReport(stdout, o, head, cells)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runBrokerCase starts a fresh broker for s, runs case c against it once
// and stops it.
func runBrokerCase(ctx context.Context, o brokerOpts, c brokerCase, s brokerSystem, stderr io.Writer) (smp sample) {
	// Leave the previous case's garbage behind; kfake-mem holds everything
	// it was sent in memory.
	runtime.GC()
	debug.FreeOSMemory()
	dir, err := os.MkdirTemp(o.dir, "eddy-bench-"+s.name+"-")
	if err != nil {
		return sample{err: err}
	}
	defer os.RemoveAll(dir)
	// Goroutines inherit profiler labels from the goroutine that starts
	// them, so in a -cpuprofile the broker's samples carry role=broker and
	// the load's role=client, and who=SYSTEM-broker or SYSTEM-client names
	// both at once (go tool pprof -tagfocus who=eddy-broker).
	var (
		addr string
		stop func() error
	)
	pprof.Do(ctx, pprof.Labels("role", "broker", "system", s.name, "who", s.name+"-broker"), func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if o.inProcess {
			addr, stop, err = s.start(sctx, dir, stderr, o.verbose)
		} else {
			addr, stop, err = startBrokerProcess(sctx, s, dir, stderr, o.verbose)
		}
		cancel()
	})
	if err != nil {
		return sample{err: fmt.Errorf("start %s: %w", s.name, err)}
	}
	defer func() {
		if err := stopWithin(stop, 30*time.Second); err != nil && smp.err == nil {
			smp.err = fmt.Errorf("stop %s: %w", s.name, err)
		}
	}()
	pprof.Do(ctx, pprof.Labels("role", "client", "system", s.name, "who", s.name+"-client"), func(ctx context.Context) {
		smp.produce, smp.consume, smp.raw, smp.lat, smp.err = runLoad(ctx, o, c, addr, stderr)
	})
	return smp
}

// runLoad runs case c once against the broker at addr.
func runLoad(ctx context.Context, o brokerOpts, c brokerCase, addr string, stderr io.Writer) (produce, consume, raw phase, lat latencyResult, err error) {
	if c.e2e {
		l := latencyLoad{addr: addr, topic: "bench", partitions: c.partitions, recordSize: c.recordSize,
			rate: o.e2eRate, warmup: o.e2eWarmup, duration: o.e2eDuration, timeout: o.timeout, stderr: stderr}
		lat, err = l.run(ctx)
		return produce, consume, raw, lat, err
	}
	l := throughputLoad{addr: addr, topic: "bench", partitions: c.partitions, recordSize: c.recordSize,
		records: o.records, duration: o.duration, timeout: o.timeout, stderr: stderr}
	if produce, err = l.produce(ctx); err != nil {
		return produce, consume, raw, lat, err
	}
	if consume, err = l.consume(ctx, produce.records); err != nil {
		return produce, consume, raw, lat, err
	}
	raw, err = l.consumeRaw(ctx, produce.records)
	return produce, consume, raw, lat, err
}

// stopWithin calls stop and gives up waiting after d: a broker whose
// Close hangs is reported, and left behind, rather than hanging the run.
func stopWithin(stop func() error, d time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- stop() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		return fmt.Errorf("Close did not return within %v", d)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

func writeBrokerReport(w io.Writer, o brokerOpts, head []string, cells map[string]*cell) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	for _, l := range head {
		p("%s", l)
	}
	p("")
	p("Every figure is the median over %d run(s), systems interleaved. CPU s is the user+system CPU time of the", o.runs)
	if o.inProcess {
		p("whole process (getrusage): broker and franz-go client share this process and the machine's %d cores.", runtime.NumCPU())
	} else {
		p("franz-go client's process and the broker's own process together, on the machine's %d shared cores.", runtime.NumCPU())
	}
	if o.inProcess {
		p("The process (brokers and load) collects garbage with GOGC=%d (-load-gogc).", o.loadGOGC)
	} else {
		p("The load's process collects garbage with GOGC=%d (-load-gogc); the brokers' processes with Go's default.", o.loadGOGC)
	}
	load := fmt.Sprintf("produce for %v", o.duration)
	if o.records > 0 {
		load = fmt.Sprintf("produce %d records", o.records)
	}
	p("Load: one kgo producer (acks=all, linger 10ms, no compression, idempotence off, 5 in flight), %s, then one kgo consumer reads it all back. MB/s counts record value bytes (10^6).", load)

	var thr, e2e []brokerCase
	for _, c := range o.cases {
		if c.e2e {
			e2e = append(e2e, c)
		} else {
			thr = append(thr, c)
		}
	}
	var errs []string
	if len(thr) > 0 {
		p("")
		p("| case | system | records | produce MB/s | produce rec/s | produce CPU s | consume MB/s | consume rec/s | consume CPU s |")
		p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, c := range thr {
			for _, s := range o.systems {
				cl := cells[c.name+"/"+s.name]
				errs = append(errs, prefixed(c.name+" "+s.name, cl.errs)...)
				p("| %s | %s | %s | %s | %s |", c.name, s.name,
					fmtCount(cl.med(func(s sample) float64 { return float64(s.produce.records) })),
					cl.phaseColumns(func(s sample) phase { return s.produce }),
					cl.phaseColumns(func(s sample) phase { return s.consume }))
			}
		}
		p("")
		p("The same records read once more without decoding: bare Fetch requests, one in flight, kgo's default sizes, no CRC check, batches walked by their headers. A kgo consumer spends most of its time decoding, whatever the broker; this reader shows the brokers' serving more directly:")
		p("")
		p("| case | system | raw consume MB/s | raw consume rec/s | raw consume CPU s |")
		p("| --- | --- | ---: | ---: | ---: |")
		for _, c := range thr {
			for _, s := range o.systems {
				cl := cells[c.name+"/"+s.name]
				p("| %s | %s | %s |", c.name, s.name, cl.phaseColumns(func(s sample) phase { return s.raw }))
			}
		}
	}
	if len(e2e) > 0 {
		p("")
		p("End-to-end latency at %d records/s, linger 0, %v measured after a %v warm-up; from just before Produce to the consumer's PollFetches returning the record:", o.e2eRate, o.e2eDuration, o.e2eWarmup)
		p("")
		p("| case | system | p50 ms | p99 ms | max ms | sent rec/s | CPU s |")
		p("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
		for _, c := range e2e {
			for _, s := range o.systems {
				cl := cells[c.name+"/"+s.name]
				errs = append(errs, prefixed(c.name+" "+s.name, cl.errs)...)
				p("| %s | %s | %s | %s | %s | %s | %s |", c.name, s.name,
					fmtNum(cl.med(func(s sample) float64 { return ms(s.lat.p50) })),
					fmtNum(cl.med(func(s sample) float64 { return ms(s.lat.p99) })),
					fmtNum(cl.med(func(s sample) float64 { return ms(s.lat.max) })),
					fmtCount(cl.med(func(s sample) float64 { return s.lat.rate })),
					fmtNum(cl.med(func(s sample) float64 { return s.lat.cpu.Seconds() })))
			}
		}
	}

	prodRatio := ratioOver(cells, func(s sample) float64 { return s.produce.mbps() })
	consRatio := ratioOver(cells, func(s sample) float64 { return s.consume.mbps() })
	p("")
	p("Eddy against its targets:")
	p("")
	p("| target | measured | met |")
	p("| --- | --- | --- |")
	p("| produce >= 1.25x kfake-sync (1 KiB) | %s | %s |", fmtRatio(prodRatio), met(prodRatio >= 1.25, prodRatio))
	p("| consume >= 2x kfake-sync (1 KiB) | %s | %s |", fmtRatio(consRatio), met(consRatio >= 2, consRatio))
	if mem := ratioVs(cells, "kfake-mem", func(s sample) float64 { return s.consume.mbps() }); !math.IsNaN(mem) {
		p("| consume >= 2x kfake-mem (1 KiB; for reference) | %s | %s |", fmtRatio(mem), met(mem >= 2, mem))
	}
	if raw := ratioOver(cells, func(s sample) float64 { return s.raw.mbps() }); !math.IsNaN(raw) {
		p("| consume without decoding >= 2x kfake-sync (1 KiB; for reference) | %s | %s |", fmtRatio(raw), met(raw >= 2, raw))
	}
	for _, c := range e2e {
		if cl := cells[c.name+"/eddy"]; cl != nil {
			p99 := cl.med(func(s sample) float64 { return ms(s.lat.p99) })
			p("| %s p99 <= 2 ms | %s ms | %s |", c.name, fmtNum(p99), met(p99 <= 2, p99))
		}
	}
	if len(errs) > 0 {
		p("")
		p("Errors (runs with errors are left out of the medians):")
		p("")
		for _, e := range errs {
			p("- %s", e)
		}
	}
	p("")
	p("Ratio line: for each of the cases %s, median(eddy MB/s) / median(%s MB/s); the figure is the geometric mean over those cases.", strings.Join(ratioCases, ", "), ratioPeer)
	p("broker: eddy/kfake produce=%s consume=%s", fmtRatio(prodRatio), fmtRatio(consRatio))
	if len(errs) > 0 {
		return fmt.Errorf("%d run(s) failed; see the report", len(errs))
	}
	return nil
}

func prefixed(prefix string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = prefix + ": " + x
	}
	return out
}

// ratioOver is the ratio-line figure: the geometric mean over ratioCases of
// median(eddy) / median(ratioPeer); NaN if no case has both.
func ratioOver(cells map[string]*cell, f func(sample) float64) float64 {
	return ratioVs(cells, ratioPeer, f)
}

func ratioVs(cells map[string]*cell, peer string, f func(sample) float64) float64 {
	logSum, n := 0.0, 0
	for _, c := range ratioCases {
		e, k := cells[c+"/eddy"], cells[c+"/"+peer]
		if e == nil || k == nil {
			continue
		}
		r := e.med(f) / k.med(f)
		if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
			continue
		}
		logSum += math.Log(r)
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Exp(logSum / float64(n))
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", r)
}

func met(ok bool, x float64) string {
	switch {
	case math.IsNaN(x):
		return "not measured"
	case ok:
		return "yes"
	}
	return "**no**"
}
