package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/state"
)

// The state benchmark: Eddy's LevelDB key-value store against raw
// goleveldb on the same keys and values, the write cache in front of a
// changelogged store, and restoration of a store from a changelog topic on
// the embedded broker, all in this process.

func init() {
	register(benchmark{
		name:    "state",
		summary: "Eddy's LevelDB store vs raw goleveldb (put, get), the write cache, restoration from the embedded broker",
		run:     runState,
	})
}

const stateHelp = `Usage: go run ./benchmarks state [flags]

Measures package state against raw github.com/syndtr/goleveldb, in this one
process, and prints a markdown report.

Parts:
  put, get    Eddy's KeyValueStore[uint64, []byte] over its LevelDB backend
              (state.OpenLevelDB, default options) against a raw goleveldb
              DB (leveldb.OpenFile with nil options), each on a fresh
              directory, with the same keys and values: -ops operations over
              -keys distinct keys (8-byte big-endian keys in a scrambled
              order, -value-size random bytes). Raw goleveldb encodes its
              keys into a reused buffer, as a careful user would. Both are
              open at once and take turns every 5,000 operations, so that
              they see the same machine however its load moves. get reads
              the DB that put filled, every key present, after an untimed
              CompactRange so both read a settled DB. Figure: ns/op.
  cache       A changelogged store (state.OpenStore on LevelDB with a
              state.SaramaChangelogWriter to a compacted topic on the
              embedded broker) with and without the write cache: -cache-writes
              puts over -cache-keys hot keys, a Commit every
              -cache-commit-every writes. Figures: records sent to the
              changelog, records the cache saved, writes/s including commits.
  restore     A changelog topic (one partition, compacted) is preloaded once
              with -records records over -restore-keys keys (key-NNNNNNN,
              -value-size random bytes; one record in ten is a tombstone)
              through franz-go. Each run then restores it with
              state.Restorer (sarama client from state.NewRestoreConfig):
                eddy       into a fresh LevelDB store (state.OpenLevelDB);
                read-only  into a backend that discards everything: the
                           restorer's read path alone, the ceiling;
                goleveldb  no broker: the same records, already in memory,
                           written to a fresh raw goleveldb DB (nil options)
                           in 4 MiB batches: what plain batched writes cost.
              Figures: records/s and MB/s of keys plus values (10^6 bytes),
              timed from the Restore call (or first write) until it returns.

Every run repeats every part with the systems interleaved (the order rotates
from run to run); the report shows the MEDIAN over -runs runs. The broker
runs inside this process and shares its CPUs with the store.

The last line of the output is
  state: eddy/goleveldb put=X.XX get=Y.YY restore=Z MB/s
where put and get are median(eddy ns/op) / median(goleveldb ns/op) and
restore is the median MB/s of the eddy restore. Targets: put and get
<= 1.30, restore >= 100 MB/s; the report says which are met.

Flags:
`

type stateOpts struct {
	runs                   int
	ops, keys, valueSize   int
	cacheWrites, cacheKeys int
	cacheCommitEvery       int
	records, restoreKeys   int
	batchBytes             int
	dir                    string
	parts                  map[string]bool
	cpuprofile             string
	verbose                bool
	args                   []string
}

var stateParts = []string{"put", "get", "cache", "restore"}

func parseStateFlags(args []string, stdout io.Writer) (stateOpts, error) {
	var o stateOpts
	fs := flag.NewFlagSet("state", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.runs, "runs", 5, "runs of every part per system; the report shows medians")
	fs.IntVar(&o.ops, "ops", 300_000, "put and get operations per run")
	fs.IntVar(&o.keys, "keys", 100_000, "distinct keys of the put and get parts")
	fs.IntVar(&o.valueSize, "value-size", 100, "value size in bytes (put, get, restore)")
	fs.IntVar(&o.cacheWrites, "cache-writes", 50_000, "writes per run of the cache part")
	fs.IntVar(&o.cacheKeys, "cache-keys", 1000, "hot keys of the cache part")
	fs.IntVar(&o.cacheCommitEvery, "cache-commit-every", 5000, "writes between commits in the cache part")
	fs.IntVar(&o.records, "records", 1_000_000, "changelog records of the restore part")
	fs.IntVar(&o.restoreKeys, "restore-keys", 250_000, "distinct keys of the restore changelog")
	fs.IntVar(&o.batchBytes, "batch-bytes", 0, "state.Restorer.BatchBytes of the eddy restore (0: the Restorer's default)")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory for the stores' and the broker's directories (a real disk, not tmpfs)")
	parts := fs.String("parts", strings.Join(stateParts, ","), "comma-separated parts to run")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured runs to this file")
	fs.BoolVar(&o.verbose, "v", false, "pass the broker's and the restorer's info logs to stderr")
	quick := fs.Bool("quick", false, "smoke test: -runs 1 -ops 20000 -keys 10000 -cache-writes 5000 -records 50000 -restore-keys 10000, unless given")
	if err := parseFlags(fs, args, stateHelp); err != nil {
		return o, err
	}
	o.args = args
	if *quick {
		set := explicitFlags(fs)
		for name, p := range map[string]*int{"runs": &o.runs, "ops": &o.ops, "keys": &o.keys,
			"cache-writes": &o.cacheWrites, "records": &o.records, "restore-keys": &o.restoreKeys} {
			if !set[name] {
				*p = map[string]int{"runs": 1, "ops": 20_000, "keys": 10_000, "cache-writes": 5000,
					"records": 50_000, "restore-keys": 10_000}[name]
			}
		}
	}
	o.parts = map[string]bool{}
	for _, p := range splitList(*parts) {
		if indexFunc(stateParts, func(s string) bool { return s == p }) < 0 {
			return o, fmt.Errorf("%w: unknown part %q", errUsage, p)
		}
		o.parts[p] = true
	}
	switch {
	case o.runs < 1:
		return o, fmt.Errorf("%w: -runs must be at least 1", errUsage)
	case len(o.parts) == 0:
		return o, fmt.Errorf("%w: nothing to run", errUsage)
	case o.ops < 1 || o.keys < 1 || o.keys > o.ops:
		return o, fmt.Errorf("%w: need 1 <= -keys <= -ops", errUsage)
	case o.valueSize < 10:
		return o, fmt.Errorf("%w: -value-size must be at least 10", errUsage)
	case o.cacheWrites < 1 || o.cacheKeys < 1 || o.cacheCommitEvery < 1:
		return o, fmt.Errorf("%w: -cache-writes, -cache-keys and -cache-commit-every must be positive", errUsage)
	case o.records < 1 || o.restoreKeys < 1:
		return o, fmt.Errorf("%w: -records and -restore-keys must be positive", errUsage)
	}
	return o, nil
}

// stateSample is one measurement of one system in one part.
type stateSample struct {
	// put and get, ns/op: Eddy's and raw goleveldb's
	putNs, getNs, rawPutNs, rawGetNs float64
	records, bytes                   int64 // cache: records sent; restore: records and bytes applied
	saved                            int64 // cache
	elapsed                          time.Duration
	cpu                              time.Duration // restore: CPU time of the whole process
	err                              error
}

func (s stateSample) perSec() float64 { return float64(s.records) / s.elapsed.Seconds() }
func (s stateSample) mbps() float64   { return float64(s.bytes) / s.elapsed.Seconds() / 1e6 }

type stateCell struct {
	samples []stateSample
	errs    []string
}

func (c *stateCell) med(f func(stateSample) float64) float64 {
	var xs []float64
	for _, s := range c.samples {
		if s.err == nil {
			xs = append(xs, f(s))
		}
	}
	return median(xs)
}

// A stateSystem is one column of a part: name and a function that takes
// one sample.
type stateSystem struct {
	name string
	run  func(ctx context.Context) stateSample
}

func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseStateFlags(args, stdout)
	if err != nil {
		return err
	}
	started := time.Now()
	head := reportHead("state: Eddy vs goleveldb", "state", o.args, started, "directories", o.dir, "state", "benchmarks/state.go")
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	env := &stateEnv{o: o, log: log, stderr: stderr, value: randomBytes(1<<20, 1)}
	defer env.close()

	// Parts, in the order they run within a run; each has its systems.
	type part struct {
		name    string
		systems []stateSystem
	}
	var parts []part
	if o.parts["put"] || o.parts["get"] {
		// put fills the DB that get reads, so they share one sample per
		// system and run.
		parts = append(parts, part{"put+get", []stateSystem{
			{"eddy+goleveldb", env.putGet},
		}})
	}
	if o.parts["cache"] || o.parts["restore"] {
		fmt.Fprintln(stderr, "starting the embedded broker")
		if err := env.startBroker(ctx); err != nil {
			return err
		}
	}
	if o.parts["cache"] {
		parts = append(parts, part{"cache", []stateSystem{
			{"eddy-cache", env.cacheRun(true)},
			{"eddy-nocache", env.cacheRun(false)},
		}})
	}
	if o.parts["restore"] {
		fmt.Fprintf(stderr, "preloading the changelog: %d records over %d keys\n", o.records, o.restoreKeys)
		if err := env.preload(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "preloaded %d records, %.1f MB of keys and values, in %v\n",
			o.records, float64(env.changelogBytes)/1e6, env.preloadTime.Round(time.Millisecond))
		parts = append(parts, part{"restore", []stateSystem{
			{"eddy", env.restoreRun(false)},
			{"read-only", env.restoreRun(true)},
			{"goleveldb", env.rawApply},
		}})
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
	cells := map[string]*stateCell{}
	total := 0
	for _, p := range parts {
		total += o.runs * len(p.systems)
	}
	done := 0
	casesStart, cpuStart := time.Now(), cpuTime()
	for run := range o.runs {
		for pi, p := range parts {
			for k := range p.systems {
				s := p.systems[(k+run+pi)%len(p.systems)]
				if ctx.Err() != nil {
					return ctx.Err()
				}
				done++
				fmt.Fprintf(stderr, "[%d/%d] run %d/%d %s %s: ", done, total, run+1, o.runs, p.name, s.name)
				runtime.GC()
				debug.FreeOSMemory()
				smp := s.run(ctx)
				key := p.name + "/" + s.name
				cl := cells[key]
				if cl == nil {
					cl = &stateCell{}
					cells[key] = cl
				}
				cl.samples = append(cl.samples, smp)
				if smp.err != nil {
					cl.errs = append(cl.errs, fmt.Sprintf("run %d: %v", run+1, smp.err))
					fmt.Fprintf(stderr, "ERROR: %v\n", smp.err)
					continue
				}
				switch p.name {
				case "put+get":
					fmt.Fprintf(stderr, "put %.0f ns/op (goleveldb %.0f), get %.0f ns/op (goleveldb %.0f)\n", smp.putNs, smp.rawPutNs, smp.getNs, smp.rawGetNs)
				case "cache":
					fmt.Fprintf(stderr, "%d records sent, %d saved, %s writes/s\n", smp.records, smp.saved,
						fmtCount(float64(o.cacheWrites)/smp.elapsed.Seconds()))
				case "restore":
					fmt.Fprintf(stderr, "%d records, %s MB in %v: %s records/s, %s MB/s, CPU %.2f s\n", smp.records, fmtNum(float64(smp.bytes)/1e6),
						smp.elapsed.Round(time.Millisecond), fmtCount(smp.perSec()), fmtNum(smp.mbps()), smp.cpu.Seconds())
				}
			}
		}
	}
	share := (cpuTime() - cpuStart).Seconds() / time.Since(casesStart).Seconds()
	head = append(head, "- load average after the run: "+loadAvg(),
		fmt.Sprintf("- this process used %.2f of the %d CPUs on average while the parts ran (the rest was idle or went to other processes)", share, runtime.NumCPU()),
		fmt.Sprintf("- wall time: %v", time.Since(started).Round(time.Second)))
	return writeStateReport(stdout, o, env, head, cells)
}

// stateEnv holds what the parts share: the broker and the preloaded
// changelog.
type stateEnv struct {
	o      stateOpts
	log    *slog.Logger
	stderr io.Writer
	value  []byte // random bytes values are cut from

	brokerAddr     string
	stopBroker     func() error
	brokerDir      string
	topics         int
	preloadTime    time.Duration
	changelogTopic string
	changelog      []stateRecord // the preloaded records, for the goleveldb part
	changelogBytes int64
}

type stateRecord struct {
	key, value []byte // value nil: tombstone
}

func (e *stateEnv) close() {
	if e.stopBroker != nil {
		if err := stopWithin(e.stopBroker, 30*time.Second); err != nil {
			fmt.Fprintln(e.stderr, "stop broker:", err)
		}
	}
	if e.brokerDir != "" {
		os.RemoveAll(e.brokerDir)
	}
}

func randomBytes(n int, seed byte) []byte {
	v := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'s', 't', 'a', 't', 'e', seed})
	_, _ = r.Read(v)
	return v
}

// valueFor returns the value of write i: -value-size bytes of the random
// buffer at an offset that depends on i.
func (e *stateEnv) valueFor(i int) []byte {
	off := (i * 7919) % (len(e.value) - e.o.valueSize)
	return e.value[off : off+e.o.valueSize]
}

// opKey is the uint64 key of operation i: the keys 0..keys-1 in a
// scrambled but fixed order, spread over the key space.
func opKey(i, keys int) uint64 {
	k := uint64((i * 7919) % keys)
	return k * 0x9E3779B97F4A7C15
}

// kvTarget is one side of the put and get part.
type kvTarget struct {
	put, get       func(i int) error
	compact, close func() error
}

// openKV opens Eddy's KeyValueStore over its LevelDB backend, or a raw
// goleveldb DB, in dir.
func (e *stateEnv) openKV(dir string, eddy bool) (kvTarget, error) {
	if eddy {
		db, err := state.OpenLevelDB(dir, state.LevelDBOptions{})
		if err != nil {
			return kvTarget{}, err
		}
		kv := state.NewKeyValueStore[uint64, []byte](db, state.Uint64{}, state.Bytes{})
		return kvTarget{
			put: func(i int) error { return kv.Put(opKey(i, e.o.keys), e.valueFor(i)) },
			get: func(i int) error {
				v, found, err := kv.Get(opKey(i, e.o.keys))
				if err == nil && (!found || len(v) != e.o.valueSize) {
					err = fmt.Errorf("get %d: found=%v, %d bytes", i, found, len(v))
				}
				return err
			},
			compact: func() error { return db.DB().CompactRange(util.Range{}) },
			close:   db.Close,
		}, nil
	}
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		return kvTarget{}, err
	}
	var kb [8]byte
	return kvTarget{
		put: func(i int) error {
			binary.BigEndian.PutUint64(kb[:], opKey(i, e.o.keys))
			return db.Put(kb[:], e.valueFor(i), nil)
		},
		get: func(i int) error {
			binary.BigEndian.PutUint64(kb[:], opKey(i, e.o.keys))
			v, err := db.Get(kb[:], nil)
			if err == nil && len(v) != e.o.valueSize {
				err = fmt.Errorf("get %d: %d bytes", i, len(v))
			}
			return err
		},
		compact: func() error { return db.CompactRange(util.Range{}) },
		close:   db.Close,
	}, nil
}

// putGetChunk is how many operations one side runs before the other takes
// over: the two sides alternate in short stretches so that both see the
// same machine, however its load moves.
const putGetChunk = 5000

// putGet puts -ops values into a fresh Eddy store and a fresh raw
// goleveldb DB, alternating between them every putGetChunk operations, then
// compacts both (untimed) and reads -ops keys back the same way.
func (e *stateEnv) putGet(ctx context.Context) (smp stateSample) {
	dir, err := os.MkdirTemp(e.o.dir, "eddy-bench-state-")
	if err != nil {
		return stateSample{err: err}
	}
	defer os.RemoveAll(dir)
	var sides [2]kvTarget // eddy, goleveldb
	for i := range sides {
		if sides[i], err = e.openKV(filepath.Join(dir, fmt.Sprint(i)), i == 0); err != nil {
			return stateSample{err: err}
		}
		defer func() {
			if err := sides[i].close(); err != nil && smp.err == nil {
				smp.err = err
			}
		}()
	}
	// run times op over ops operations on both sides, in alternating
	// chunks, the side that goes first alternating too.
	run := func(op func(kvTarget, int) error) (ns [2]float64, err error) {
		var took [2]time.Duration
		for c := 0; c*putGetChunk < e.o.ops; c++ {
			if ctx.Err() != nil {
				return ns, ctx.Err()
			}
			for k := range 2 {
				side := (k + c) % 2
				began := time.Now()
				for i := c * putGetChunk; i < min((c+1)*putGetChunk, e.o.ops); i++ {
					if err := op(sides[side], i); err != nil {
						return ns, err
					}
				}
				took[side] += time.Since(began)
			}
		}
		for i := range ns {
			ns[i] = float64(took[i].Nanoseconds()) / float64(e.o.ops)
		}
		return ns, nil
	}
	put, err := run(func(t kvTarget, i int) error { return t.put(i) })
	if err != nil {
		return stateSample{err: fmt.Errorf("put: %w", err)}
	}
	// Both read a fully compacted DB, whatever state their background
	// compaction was in when the puts ended.
	for _, t := range sides {
		if err := t.compact(); err != nil {
			return stateSample{err: fmt.Errorf("compact: %w", err)}
		}
	}
	// Reads go in another scrambled order than the writes.
	get, err := run(func(t kvTarget, i int) error { return t.get(i * 31) })
	if err != nil {
		return stateSample{err: fmt.Errorf("get: %w", err)}
	}
	smp.putNs, smp.rawPutNs, smp.getNs, smp.rawGetNs = put[0], put[1], get[0], get[1]
	return smp
}

func (e *stateEnv) startBroker(ctx context.Context) error {
	dir, err := os.MkdirTemp(e.o.dir, "eddy-bench-state-broker-")
	if err != nil {
		return err
	}
	e.brokerDir = dir
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: e.log.With("system", "broker")})
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	e.brokerAddr, e.stopBroker = b.Addr(), b.Close
	return nil
}

// newTopic creates a fresh compacted one-partition topic.
func (e *stateEnv) newTopic(ctx context.Context, cl *kgo.Client, prefix string) (string, error) {
	e.topics++
	topic := fmt.Sprintf("%s-%d", prefix, e.topics)
	compact := "compact"
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", topic, err)
	}
	return topic, nil
}

func (e *stateEnv) kgoClient() (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(e.brokerAddr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithLogger(kgo.BasicLogger(e.stderr, kgo.LogLevelWarn, func() string { return "  [franz-go]" })),
	)
}

// cacheRun returns a system that writes -cache-writes values over
// -cache-keys keys into a changelogged store, committing every
// -cache-commit-every writes.
func (e *stateEnv) cacheRun(cache bool) func(context.Context) stateSample {
	return func(ctx context.Context) (smp stateSample) {
		cl, err := e.kgoClient()
		if err != nil {
			return stateSample{err: err}
		}
		topic, err := e.newTopic(ctx, cl, "cache")
		cl.Close()
		if err != nil {
			return stateSample{err: err}
		}
		dir, err := os.MkdirTemp(e.o.dir, "eddy-bench-state-")
		if err != nil {
			return stateSample{err: err}
		}
		defer os.RemoveAll(dir)
		w, err := state.NewSaramaChangelogWriter([]string{e.brokerAddr}, nil, topic, 0)
		if err != nil {
			return stateSample{err: err}
		}
		defer w.Close()
		s, err := state.OpenStore(ctx, state.StoreOptions{Dir: dir, Topic: topic, Writer: w, NoCache: !cache, Logger: e.log})
		if err != nil {
			return stateSample{err: err}
		}
		defer s.Close()
		kv := state.NewKeyValueStore[uint64, []byte](s.Backend(), state.Uint64{}, state.Bytes{})
		began := time.Now()
		for i := range e.o.cacheWrites {
			if err := kv.Put(opKey(i, e.o.cacheKeys), e.valueFor(i)); err != nil {
				return stateSample{err: err}
			}
			if (i+1)%e.o.cacheCommitEvery == 0 || i == e.o.cacheWrites-1 {
				if err := s.Commit(ctx); err != nil {
					return stateSample{err: err}
				}
			}
		}
		smp.elapsed = time.Since(began)
		smp.records = int64(e.o.cacheWrites)
		if c := s.Cache(); c != nil {
			smp.records, smp.saved = c.Flushed(), c.Saved()
		}
		return smp
	}
}

// preload fills one changelog topic for every restore run, and keeps its
// records for the goleveldb part.
func (e *stateEnv) preload(ctx context.Context) error {
	cl, err := e.kgoClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	topic, err := e.newTopic(ctx, cl, "changelog")
	if err != nil {
		return err
	}
	e.changelog = make([]stateRecord, e.o.records)
	began := time.Now()
	errc := make(chan error, 1)
	for i := range e.o.records {
		r := stateRecord{key: fmt.Appendf(nil, "key-%07d", (i*7919)%e.o.restoreKeys)}
		if i%10 != 9 {
			r.value = make([]byte, e.o.valueSize)
			binary.BigEndian.PutUint64(r.value, uint64(i))
			copy(r.value[8:], e.valueFor(i))
		}
		e.changelog[i] = r
		e.changelogBytes += int64(len(r.key) + len(r.value))
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: r.key, Value: r.value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("preload: %w", err)
	default:
	}
	e.preloadTime = time.Since(began)
	e.changelogTopic = topic
	return nil
}

// restoreRun returns a system that restores the preloaded changelog into a
// fresh LevelDB store, or (readOnly) into a backend that discards it.
func (e *stateEnv) restoreRun(readOnly bool) func(context.Context) stateSample {
	return func(ctx context.Context) (smp stateSample) {
		client, err := sarama.NewClient([]string{e.brokerAddr}, state.NewRestoreConfig())
		if err != nil {
			return stateSample{err: err}
		}
		defer client.Close()
		var dst state.Backend = discard{}
		if !readOnly {
			dir, err := os.MkdirTemp(e.o.dir, "eddy-bench-state-")
			if err != nil {
				return stateSample{err: err}
			}
			defer os.RemoveAll(dir)
			db, err := state.OpenLevelDB(filepath.Join(dir, "db"), state.LevelDBOptions{})
			if err != nil {
				return stateSample{err: err}
			}
			defer db.Close()
			dst = db
		}
		var final state.RestoreProgress
		r := &state.Restorer{Client: client, Topic: e.changelogTopic, Partition: 0, Logger: e.log, BatchBytes: e.o.batchBytes,
			Progress: func(p state.RestoreProgress) { final = p }}
		began, cpu := time.Now(), cpuTime()
		pos, err := r.Restore(ctx, dst, -1)
		smp.elapsed, smp.cpu = time.Since(began), cpuTime()-cpu
		if err != nil {
			return stateSample{err: err}
		}
		if pos != int64(e.o.records-1) || final.Records != int64(e.o.records) {
			return stateSample{err: fmt.Errorf("restored to offset %d with %d records, want %d and %d", pos, final.Records, e.o.records-1, e.o.records)}
		}
		smp.records, smp.bytes = final.Records, final.Bytes
		if !readOnly {
			smp.err = e.checkRestored(dst)
		}
		return smp
	}
}

// checkRestored compares the store with the changelog's compacted
// content (outside the timed part).
func (e *stateEnv) checkRestored(b state.Backend) error {
	want := map[string][]byte{}
	for _, r := range e.changelog {
		if r.value == nil {
			delete(want, string(r.key))
		} else {
			want[string(r.key)] = r.value
		}
	}
	it := b.Range(nil, nil)
	n := 0
	for it.Next() {
		v, ok := want[string(it.Key())]
		if !ok || string(v) != string(it.Value()) {
			it.Close()
			return fmt.Errorf("restored store differs from the changelog at key %q", it.Key())
		}
		n++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if n != len(want) {
		return fmt.Errorf("restored store holds %d keys, want %d", n, len(want))
	}
	return nil
}

// rawApply writes the preloaded records from memory to a fresh raw
// goleveldb DB in 4 MiB batches.
func (e *stateEnv) rawApply(ctx context.Context) (smp stateSample) {
	dir, err := os.MkdirTemp(e.o.dir, "eddy-bench-state-")
	if err != nil {
		return stateSample{err: err}
	}
	defer os.RemoveAll(dir)
	db, err := leveldb.OpenFile(filepath.Join(dir, "db"), nil)
	if err != nil {
		return stateSample{err: err}
	}
	defer db.Close()
	var b leveldb.Batch
	began, cpu := time.Now(), cpuTime()
	for _, r := range e.changelog {
		if r.value == nil {
			b.Delete(r.key)
		} else {
			b.Put(r.key, r.value)
		}
		smp.records++
		smp.bytes += int64(len(r.key) + len(r.value))
		if len(b.Dump()) >= 4<<20 {
			if err := db.Write(&b, nil); err != nil {
				return stateSample{err: err}
			}
			b.Reset()
		}
	}
	if err := db.Write(&b, nil); err != nil {
		return stateSample{err: err}
	}
	smp.elapsed, smp.cpu = time.Since(began), cpuTime()-cpu
	return smp
}

// discard is a Backend that forgets everything: the restore part's
// read-only system.
type discard struct{}

func (discard) Get([]byte) ([]byte, bool, error)              { return nil, false, nil }
func (discard) Put(_, _ []byte) error                         { return nil }
func (discard) PutIfAbsent(_, _ []byte) ([]byte, bool, error) { return nil, false, nil }
func (discard) Delete([]byte) error                           { return nil }
func (discard) Range(_, _ []byte) state.Iterator              { return state.NewMemory().Range(nil, nil) }
func (discard) Prefix([]byte) state.Iterator                  { return state.NewMemory().Range(nil, nil) }
func (discard) ApproximateCount() (int64, error)              { return 0, nil }
func (discard) NewBatch() state.Batch                         { return &discardBatch{} }
func (discard) Write(state.Batch) error                       { return nil }
func (discard) Close() error                                  { return nil }

type discardBatch struct{ n, size int }

func (b *discardBatch) Put(k, v []byte) { b.n++; b.size += len(k) + len(v) }
func (b *discardBatch) Delete(k []byte) { b.n++; b.size += len(k) }
func (b *discardBatch) Len() int        { return b.n }
func (b *discardBatch) Size() int       { return b.size }
func (b *discardBatch) Reset()          { b.n, b.size = 0, 0 }
func (b *discardBatch) Replay(state.BatchReplay) error {
	return errors.New("discard batch: nothing to replay")
}

func writeStateReport(w io.Writer, o stateOpts, env *stateEnv, head []string, cells map[string]*stateCell) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	for _, l := range head {
		p("%s", l)
	}
	p("")
	p("Every figure is the median over %d run(s), systems interleaved. The embedded broker runs in this process", o.runs)
	p("and shares the machine's %d cores with the stores.", runtime.NumCPU())
	var errs []string
	cell := func(key string) *stateCell {
		c := cells[key]
		if c == nil {
			return &stateCell{}
		}
		errs = append(errs, prefixed(key, c.errs)...)
		return c
	}
	putRatio, getRatio := math.NaN(), math.NaN()
	if cells["put+get/eddy+goleveldb"] != nil {
		c := cell("put+get/eddy+goleveldb")
		ePut, rPut := c.med(func(s stateSample) float64 { return s.putNs }), c.med(func(s stateSample) float64 { return s.rawPutNs })
		eGet, rGet := c.med(func(s stateSample) float64 { return s.getNs }), c.med(func(s stateSample) float64 { return s.rawGetNs })
		putRatio, getRatio = ePut/rPut, eGet/rGet
		p("")
		p("Put and get: %s operations over %s keys, %d-byte values, fresh directories per run; the two alternate every %s operations; get reads the DB put filled, after an untimed full compaction.",
			fmtCount(float64(o.ops)), fmtCount(float64(o.keys)), o.valueSize, fmtCount(putGetChunk))
		p("")
		p("| operation | eddy ns/op | goleveldb ns/op | eddy/goleveldb |")
		p("| --- | ---: | ---: | ---: |")
		p("| put | %s | %s | %s |", fmtNum(ePut), fmtNum(rPut), fmtRatio(putRatio))
		p("| get | %s | %s | %s |", fmtNum(eGet), fmtNum(rGet), fmtRatio(getRatio))
	}
	if cells["cache/eddy-cache"] != nil {
		c, n := cell("cache/eddy-cache"), cell("cache/eddy-nocache")
		wps := func(s stateSample) float64 { return float64(o.cacheWrites) / s.elapsed.Seconds() }
		rec := func(s stateSample) float64 { return float64(s.records) }
		saved := func(s stateSample) float64 { return float64(s.saved) }
		p("")
		p("Write cache: %s puts over %s hot keys into a changelogged LevelDB store, Commit every %s writes (the changelog is a compacted topic on the embedded broker).",
			fmtCount(float64(o.cacheWrites)), fmtCount(float64(o.cacheKeys)), fmtCount(float64(o.cacheCommitEvery)))
		p("")
		p("| system | changelog records | saved by the cache | writes/s (with commits) |")
		p("| --- | ---: | ---: | ---: |")
		p("| eddy-cache | %s | %s | %s |", fmtCount(c.med(rec)), fmtCount(c.med(saved)), fmtCount(c.med(wps)))
		p("| eddy-nocache | %s | %s | %s |", fmtCount(n.med(rec)), fmtCount(n.med(saved)), fmtCount(n.med(wps)))
	}
	restore := math.NaN()
	if cells["restore/eddy"] != nil {
		p("")
		p("Restore: a compacted one-partition changelog of %s records over %s keys (%s MB of keys and values, one record in ten a tombstone), preloaded once in %v; fresh store per run.",
			fmtCount(float64(o.records)), fmtCount(float64(o.restoreKeys)), fmtNum(float64(env.changelogBytes)/1e6), env.preloadTime.Round(time.Millisecond))
		p("")
		p("| system | records | records/s | MB/s | seconds | CPU s |")
		p("| --- | ---: | ---: | ---: | ---: | ---: |")
		for _, name := range []string{"eddy", "read-only", "goleveldb"} {
			c := cell("restore/" + name)
			p("| %s | %s | %s | %s | %s | %s |", name,
				fmtCount(c.med(func(s stateSample) float64 { return float64(s.records) })),
				fmtCount(c.med(stateSample.perSec)), fmtNum(c.med(stateSample.mbps)),
				fmtNum(c.med(func(s stateSample) float64 { return s.elapsed.Seconds() })),
				fmtNum(c.med(func(s stateSample) float64 { return s.cpu.Seconds() })))
		}
		restore = cell("restore/eddy").med(stateSample.mbps)
	}
	p("")
	p("Eddy against its targets:")
	p("")
	p("| target | measured | met |")
	p("| --- | --- | --- |")
	p("| put <= 1.30x goleveldb per operation | %s | %s |", fmtRatio(putRatio), met(putRatio <= 1.3, putRatio))
	p("| get <= 1.30x goleveldb per operation | %s | %s |", fmtRatio(getRatio), met(getRatio <= 1.3, getRatio))
	p("| restore >= 100 MB/s | %s MB/s | %s |", fmtNum(restore), met(restore >= 100, restore))
	if len(errs) > 0 {
		p("")
		p("Errors (runs with errors are left out of the medians):")
		p("")
		for _, e := range errs {
			p("- %s", e)
		}
	}
	p("")
	p("Ratio line: put and get are median(eddy ns/op) / median(goleveldb ns/op); restore is the median MB/s of the eddy restore.")
	p("state: eddy/goleveldb put=%s get=%s restore=%s MB/s", fmtRatio(putRatio), fmtRatio(getRatio), fmtNum(restore))
	if len(errs) > 0 {
		return fmt.Errorf("%d run(s) failed; see the report", len(errs))
	}
	return nil
}
