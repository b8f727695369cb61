package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The crash test runs a broker in a child process: this same test binary,
// re-executed with -test.run=^TestCrashChildBroker$ and these variables set.
const (
	crashDirEnv      = "EDDY_CRASH_CHILD_DATA_DIR"  // the child's Config.DataDir
	crashAddrEnv     = "EDDY_CRASH_CHILD_ADDR_FILE" // where the child writes its listen address
	crashSegmentEnv  = "EDDY_CRASH_CHILD_SEGMENT_BYTES"
	crashSegmentSize = 16 << 10 // small, so that a run rolls segments and recovery crosses them
)

// TestCrashChildBroker is not a test of its own: it is the body of the
// child process of TestCrashDurability, and skips unless that test started
// it. It runs a broker until its parent kills it (SIGKILL, the point of the
// exercise) or closes its stdin (the parent has gone away).
func TestCrashChildBroker(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the broker of TestCrashDurability's child process; runs only there")
	}
	segBytes, err := strconv.ParseInt(os.Getenv(crashSegmentEnv), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashSegmentEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", SegmentBytes: segBytes, Logger: testLogger()})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	defer b.Close()
	// Publish the address atomically: the parent polls for the file.
	addrFile := os.Getenv(crashAddrEnv)
	if err := os.WriteFile(addrFile+".tmp", []byte(b.Addr()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin) // returns when the parent closes the pipe or dies
}

// crashChild is a broker running in a child process.
type crashChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *crashLockedBuffer
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's result, set before exited is closed
	addr   string
}

// startCrashChild starts a child broker on dir and waits until it listens.
func startCrashChild(t *testing.T, ctx context.Context, dir string) *crashChild {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildBroker$")
	cmd.Env = append(os.Environ(),
		crashDirEnv+"="+dir,
		crashAddrEnv+"="+addrFile,
		crashSegmentEnv+"="+strconv.Itoa(crashSegmentSize))
	c := &crashChild{cmd: cmd, stderr: new(crashLockedBuffer), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child broker: %v", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
	})
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(addrFile); err == nil {
			c.addr = string(data)
			return c
		}
		select {
		case <-tick.C:
		case <-c.exited:
			t.Fatalf("child broker exited before listening: %v\n%s", c.err, c.stderr)
		case <-ctx.Done():
			t.Fatalf("child broker did not start: %v\n%s", ctx.Err(), c.stderr)
		}
	}
}

// kill SIGKILLs the child and waits for it to be gone.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("child broker died before it was killed: %v\n%s", c.err, c.stderr)
	default:
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child broker: %v", err)
	}
	<-c.exited
}

// crashLockedBuffer is a bytes.Buffer safe for concurrent writers.
type crashLockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *crashLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *crashLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// crashAck is an acknowledged record: the broker said key is at offset.
type crashAck struct {
	offset int64
	key    string
}

// crashAcks collects acknowledgements per producer and partition, in the
// order the producer's callbacks ran. franz-go calls a partition's
// callbacks in the order the records were produced, and a connection's
// produces are appended in request order, so within one producer and
// partition the acknowledged offsets must increase.
type crashAcks struct {
	mu   sync.Mutex
	byPP map[[2]int32][]crashAck // [producer, partition]
}

func (a *crashAcks) add(producer, partition int32, ack crashAck) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byPP == nil {
		a.byPP = make(map[[2]int32][]crashAck)
	}
	k := [2]int32{producer, partition}
	a.byPP[k] = append(a.byPP[k], ack)
}

// TestCrashDurability checks the acks=all promise (design: "an acks=all
// produce is answered only after its bytes are fsynced") against a real
// crash: a broker process is SIGKILLed while producers pipeline acks=all
// requests to 8 partitions, a broker is restarted on the same directory,
// and every acknowledged record must be there, at the offset the broker
// acknowledged, in a dense log without duplicates. Three rounds run on the
// same directory, so later rounds also recover logs that were recovered
// (and written to by the in-process broker) before.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts broker processes and kills them")
	}
	ctx := testCtx(t)
	dir := t.TempDir()
	const (
		topic      = "crash"
		partitions = 8
		producers  = 4
		// outstanding bounds each producer's unacknowledged records, so
		// that there are always requests in flight but never an
		// unbounded buffer.
		outstanding = 400
		ackTarget   = 3000 // per round, before the kill
		rounds      = 3
	)
	acks := &crashAcks{}
	var seq atomic.Int64 // unique key source across rounds
	for round := range rounds {
		child := startCrashChild(t, ctx, dir)
		if round == 0 {
			crashCreateTopic(t, ctx, child.addr, topic, partitions)
		}

		var (
			acked, failed atomic.Int64
			inFlight      sync.WaitGroup
			stop          = make(chan struct{})
			reached       = make(chan struct{})
			reachedOnce   sync.Once
			producersDone sync.WaitGroup
			clients       []*kgo.Client
		)
		for pi := range int32(producers) {
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(child.addr),
				kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.DisableIdempotentWrite(), // the broker has no InitProducerID yet
				kgo.MaxProduceRequestsInflightPerBroker(5),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.RecordRetries(0),
				// Small batches: many requests in flight, each its own append.
				kgo.ProducerBatchMaxBytes(4<<10),
			)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, cl)
			sem := make(chan struct{}, outstanding)
			producersDone.Add(1)
			go func() {
				defer producersDone.Done()
				for i := 0; ; i++ {
					select {
					case sem <- struct{}{}:
					case <-stop:
						return
					}
					part := int32(i % partitions)
					key := fmt.Sprintf("r%d-p%d-%d", round, pi, seq.Add(1))
					rec := &kgo.Record{
						Topic: topic, Partition: part, Key: []byte(key),
						Value: bytes.Repeat([]byte{byte('a' + i%26)}, 100),
					}
					inFlight.Add(1)
					cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
						defer inFlight.Done()
						<-sem
						if err != nil {
							failed.Add(1)
							return
						}
						acks.add(pi, r.Partition, crashAck{offset: r.Offset, key: string(r.Key)})
						if acked.Add(1) == ackTarget {
							reachedOnce.Do(func() { close(reached) })
						}
					})
				}
			}()
		}

		select {
		case <-reached:
		case <-child.exited:
			t.Fatalf("round %d: child broker died: %v\n%s", round, child.err, child.stderr)
		case <-ctx.Done():
			t.Fatalf("round %d: %d acks after %v, want %d", round, acked.Load(), ctx.Err(), ackTarget)
		}
		if f := failed.Load(); f > 0 {
			t.Fatalf("round %d: %d produces failed before the kill", round, f)
		}
		child.kill(t)
		close(stop)
		producersDone.Wait()
		for _, cl := range clients {
			cl.Close() // fails what is still buffered
		}
		inFlight.Wait()
		if failed.Load() == 0 {
			t.Errorf("round %d: no produce failed, so none was in flight at the kill", round)
		}
		t.Logf("round %d: killed after %d acks; %d records unacknowledged", round, acked.Load(), failed.Load())

		verifyCrashRecovery(t, ctx, dir, topic, partitions, acks)
	}
}

// verifyCrashRecovery restarts a broker on dir and checks every
// acknowledged record, then that the broker takes new writes.
func verifyCrashRecovery(t *testing.T, ctx context.Context, dir, topic string, partitions int32, acks *crashAcks) {
	t.Helper()
	b := startBroker(t, func(c *Config) { c.DataDir = dir; c.SegmentBytes = crashSegmentSize })
	logs := crashReadTopic(t, ctx, b.Addr(), topic, partitions)

	where := make(map[string]string) // key -> "partition/offset", to find duplicates
	for p := range partitions {
		for i, r := range logs[p] {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d; offsets are not dense", p, i, r.Offset)
			}
			at := fmt.Sprintf("%d/%d", p, r.Offset)
			if prev, dup := where[string(r.Key)]; dup {
				t.Errorf("key %s at %s and again at %s", r.Key, prev, at)
			}
			where[string(r.Key)] = at
		}
	}

	acks.mu.Lock()
	checked := 0
	for pp, list := range acks.byPP {
		p := pp[1]
		prev := int64(-1)
		for _, a := range list {
			if a.offset <= prev {
				t.Errorf("producer %d partition %d: ack for %s at offset %d came after an ack at offset %d",
					pp[0], p, a.key, a.offset, prev)
			}
			prev = a.offset
			switch {
			case a.offset >= int64(len(logs[p])):
				t.Errorf("partition %d: acknowledged %s at offset %d is lost; the log ends at %d",
					p, a.key, a.offset, len(logs[p]))
			case string(logs[p][a.offset].Key) != a.key:
				t.Errorf("partition %d offset %d: key %s, but %s was acknowledged there",
					p, a.offset, logs[p][a.offset].Key, a.key)
			}
			checked++
		}
	}
	acks.mu.Unlock()
	if t.Failed() {
		t.FailNow()
	}

	// The recovered broker takes writes at the next offsets.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for p := range partitions {
		key := fmt.Sprintf("after-restart-%d-%d", p, len(logs[p]))
		r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(key)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("partition %d: produce after recovery: %v", p, err)
		}
		if r.Offset != int64(len(logs[p])) {
			t.Errorf("partition %d: produce after recovery got offset %d, want %d", p, r.Offset, len(logs[p]))
		}
		acks.add(-1, p, crashAck{offset: r.Offset, key: key})
	}
	t.Logf("recovered %d acknowledged records intact; %d records in the log (%d written but never acknowledged)",
		checked, len(where), len(where)-checked)
	if err := b.Close(); err != nil {
		t.Fatalf("close recovered broker: %v", err)
	}
}

// crashCreateTopic creates topic with n partitions on the broker at addr.
func crashCreateTopic(t testing.TB, ctx context.Context, addr, topic string, n int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// crashReadTopic consumes every partition of topic from offset 0 to the end
// offset reported by ListOffsets and returns the records by partition.
func crashReadTopic(t testing.TB, ctx context.Context, addr, topic string, partitions int32) map[int32][]*kgo.Record {
	t.Helper()
	offsets := make(map[int32]kgo.Offset)
	for p := range partitions {
		offsets[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	want := make(map[int32]int64)
	remaining := 0
	for p := range partitions {
		o, ok := ends.Lookup(topic, p)
		if !ok || o.Err != nil {
			t.Fatalf("end offset of %s-%d: found %v, err %v", topic, p, ok, o.Err)
		}
		want[p] = o.Offset
		if o.Offset > 0 {
			remaining++
		}
	}
	got := make(map[int32][]*kgo.Record)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("fetch %s-%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if int64(len(got[r.Partition])) < want[r.Partition] {
				got[r.Partition] = append(got[r.Partition], r)
				if int64(len(got[r.Partition])) == want[r.Partition] {
					remaining--
				}
			}
		})
	}
	return got
}
