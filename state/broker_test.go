package state

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/broker"
)

// quietLogger drops logs below Warn, so that broker and restoration chatter
// stays out of test output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts the project's embedded broker, or skips the test if it
// cannot start.
func startBroker(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		cancel()
		t.Skipf("embedded broker not usable: broker.Start: %v", err)
	}
	t.Cleanup(func() {
		b.Close()
		cancel()
	})
	return b.Addr()
}

func saramaClient(t testing.TB, addr string) sarama.Client {
	t.Helper()
	c, err := sarama.NewClient([]string{addr}, NewRestoreConfig())
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func createTopic(t testing.TB, addr, topic string) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{addr}, sarama.NewConfig())
	must(t, err)
	defer adm.Close()
	compact := "compact"
	err = adm.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact},
	}, false)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// changelogContent reads the whole partition and returns its compacted
// content as sorted "k=v" lines.
func changelogContent(t testing.TB, addr, topic string) []string {
	t.Helper()
	c := saramaClient(t, addr)
	end, err := c.GetOffset(topic, 0, sarama.OffsetNewest)
	must(t, err)
	m := map[string]string{}
	if end > 0 {
		cons, err := sarama.NewConsumerFromClient(c)
		must(t, err)
		defer cons.Close()
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		must(t, err)
		defer pc.Close()
		timeout := time.After(time.Minute)
		for done := false; !done; {
			select {
			case msg := <-pc.Messages():
				if msg.Value == nil {
					delete(m, string(msg.Key))
				} else {
					m[string(msg.Key)] = string(msg.Value)
				}
				done = msg.Offset >= end-1
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-timeout:
				t.Fatal("timed out reading the changelog")
			}
		}
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func openLoggedStore(t testing.TB, addr, topic, dir string, progress func(RestoreProgress)) (*Store, *SaramaChangelogWriter) {
	t.Helper()
	w, err := NewSaramaChangelogWriter([]string{addr}, nil, topic, 0)
	must(t, err)
	s, err := OpenStore(context.Background(), StoreOptions{
		Dir: dir, Topic: topic, Partition: 0, Writer: w, Logger: quietLogger(),
		Restorer: &Restorer{Client: saramaClient(t, addr), Topic: topic, Partition: 0,
			Progress: progress, Logger: quietLogger(), IdleTimeout: 20 * time.Second},
	})
	if err != nil {
		w.Close()
		t.Fatalf("open store: %v", err)
	}
	return s, w
}

func TestChangelogAndRestore(t *testing.T) {
	addr := startBroker(t)
	const topic = "kv-changelog"
	createTopic(t, addr, topic)
	ctx := context.Background()

	dirA := t.TempDir()
	a, wa := openLoggedStore(t, addr, topic, dirA, nil)
	kv := NewKeyValueStore[string, int64](a.Backend(), String{}, Int64{})
	for i := range 3000 {
		must(t, kv.Put(fmt.Sprintf("k%04d", i%1000), int64(i)))
	}
	for i := 0; i < 1000; i += 7 {
		must(t, kv.Delete(fmt.Sprintf("k%04d", i)))
	}
	must(t, a.Commit(ctx))
	// The cache sent one record per key: 1000 keys, every write after the
	// first of each key saved.
	if saved := a.Cache().Saved(); saved != 3000+143-1000 {
		t.Errorf("cache saved %d records, want %d", saved, 3000+143-1000)
	}
	if a.Position() != 999 {
		t.Errorf("position after commit = %d, want 999", a.Position())
	}
	want := collect(t, a.Local().Range(nil, nil))
	must(t, a.Close())
	must(t, wa.Close())
	if got := changelogContent(t, addr, topic); !slices.Equal(got, want) {
		t.Fatalf("changelog content (%d keys) differs from the store (%d keys)", len(got), len(want))
	}

	// A fresh directory restores everything.
	var last RestoreProgress
	b, wb := openLoggedStore(t, addr, topic, t.TempDir(), func(p RestoreProgress) { last = p })
	if got := collect(t, b.Local().Range(nil, nil)); !slices.Equal(got, want) {
		t.Fatalf("restored store differs: %d keys, want %d", len(got), len(want))
	}
	if !last.Done || last.Records != 1000 || last.StartOffset != 0 || last.EndOffset != 1000 || b.Position() != 999 {
		t.Fatalf("restore progress = %+v, position %d", last, b.Position())
	}
	// Write more through b, so a has a tail to catch up on.
	kvb := NewKeyValueStore[string, int64](b.Backend(), String{}, Int64{})
	must(t, kvb.Put("k0001", -1))
	must(t, kvb.Delete("k0002"))
	must(t, b.Commit(ctx))
	want = collect(t, b.Local().Range(nil, nil))
	must(t, b.Close())
	must(t, wb.Close())

	// The checkpointed directory replays only the tail.
	last = RestoreProgress{}
	a, wa = openLoggedStore(t, addr, topic, dirA, func(p RestoreProgress) { last = p })
	defer wa.Close()
	defer a.Close()
	if last.StartOffset != 1000 || last.Records != 2 || a.Position() != 1001 {
		t.Fatalf("tail restore progress = %+v, position %d", last, a.Position())
	}
	if got := collect(t, a.Local().Range(nil, nil)); !slices.Equal(got, want) {
		t.Fatalf("store after tail restore differs")
	}
}

// TestKillBetweenWriteAndCheckpoint runs a child process that commits, writes
// more (some of it reaching the changelog, some only the local store) and
// kills itself before the next checkpoint. Reopened, the store must equal
// the changelog's compacted content.
func TestKillBetweenWriteAndCheckpoint(t *testing.T) {
	if os.Getenv("EDDY_STATE_KILL_CHILD") != "" {
		killChild()
		return
	}
	addr := startBroker(t)
	const topic = "kill-changelog"
	createTopic(t, addr, topic)
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillBetweenWriteAndCheckpoint$")
	cmd.Env = append(os.Environ(), "EDDY_STATE_KILL_CHILD=1", "EDDY_STATE_ADDR="+addr, "EDDY_STATE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}

	s, w := openLoggedStore(t, addr, topic, dir, nil)
	defer w.Close()
	defer s.Close()
	got := collect(t, s.Local().Range(nil, nil))
	want := changelogContent(t, addr, topic)
	if !slices.Equal(got, want) {
		t.Fatalf("store after kill (%d keys) differs from the changelog (%d keys); only in store: %q",
			len(got), len(want), onlyIn(got, want))
	}
	if slices.Contains(got, "local-only=x") || len(got) != 500 {
		t.Fatalf("unexpected content after kill: %d keys", len(got))
	}
}

func killChild() {
	addr, dir := os.Getenv("EDDY_STATE_ADDR"), os.Getenv("EDDY_STATE_DIR")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	w, err := NewSaramaChangelogWriter([]string{addr}, nil, "kill-changelog", 0)
	if err != nil {
		fail(err)
	}
	s, err := OpenStore(ctx, StoreOptions{Dir: dir, Topic: "kill-changelog", Writer: w, Logger: quietLogger()})
	if err != nil {
		fail(err)
	}
	kv := NewKeyValueStore[string, string](s.Backend(), String{}, String{})
	for i := range 500 {
		if err := kv.Put(fmt.Sprintf("k%03d", i), "committed"); err != nil {
			fail(err)
		}
	}
	if err := s.Commit(ctx); err != nil {
		fail(err)
	}
	// After the commit: updates and deletes that reach the changelog...
	for i := range 200 {
		if err := kv.Put(fmt.Sprintf("k%03d", i+400), "after-commit"); err != nil {
			fail(err)
		}
	}
	for i := range 100 {
		if err := kv.Delete(fmt.Sprintf("k%03d", i)); err != nil {
			fail(err)
		}
	}
	if err := s.Cache().Flush(); err != nil {
		fail(err)
	}
	if _, err := w.Flush(ctx); err != nil {
		fail(err)
	}
	// ...and a write that reached the local store only (as when a process
	// dies after its cache flush but before the producer sent the record).
	if err := s.Local().Put([]byte("local-only"), []byte("x")); err != nil {
		fail(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

// TestRestoreMillionRecords restores a 1,000,000-record changelog (250,000
// keys, one record in ten a tombstone) from the embedded broker into a fresh
// LevelDB store and checks every key.
func TestRestoreMillionRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("restores 1,000,000 records; skipped with -short")
	}
	addr := startBroker(t)
	const topic = "big-changelog"
	createTopic(t, addr, topic)
	const records, keys = 1_000_000, 250_000

	cfg := sarama.NewConfig()
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.MaxMessageBytes = 1 << 20
	w, err := NewSaramaChangelogWriter([]string{addr}, cfg, topic, 0)
	must(t, err)
	defer w.Close()
	expect := make([]int32, keys) // value version of each key, -1 deleted, 0 never written
	value := make([]byte, 100)
	began := time.Now()
	for i := range records {
		k := (i * 7919) % keys
		key := fmt.Appendf(nil, "key-%07d", k)
		if i%10 == 9 {
			must(t, w.Send(key, nil))
			expect[k] = -1
			continue
		}
		copy(value, fmt.Sprintf("%010d", i))
		must(t, w.Send(key, value))
		expect[k] = int32(i) + 1
	}
	last, err := w.Flush(context.Background())
	must(t, err)
	if last != records-1 {
		t.Fatalf("last offset %d, want %d", last, records-1)
	}
	t.Logf("produced %d records in %v", records, time.Since(began).Round(time.Millisecond))

	db, err := OpenLevelDB(filepath.Join(t.TempDir(), "db"), LevelDBOptions{})
	must(t, err)
	defer db.Close()
	var final RestoreProgress
	r := &Restorer{Client: saramaClient(t, addr), Topic: topic, Partition: 0, Logger: quietLogger(),
		Progress: func(p RestoreProgress) { final = p }}
	pos, err := r.Restore(context.Background(), db, -1)
	must(t, err)
	if pos != records-1 || final.Records != records {
		t.Fatalf("restored to %d with %d records, want %d and %d", pos, final.Records, records-1, records)
	}
	t.Logf("restored %d records, %.1f MB in %v: %.0f records/s, %.1f MB/s", final.Records,
		float64(final.Bytes)/1e6, final.Elapsed.Round(time.Millisecond), final.RecordsPerSec, final.BytesPerSec/1e6)

	it := db.Range(nil, nil)
	seen := 0
	for it.Next() {
		var k int
		if _, err := fmt.Sscanf(string(it.Key()), "key-%07d", &k); err != nil {
			t.Fatalf("bad key %q", it.Key())
		}
		if expect[k] <= 0 {
			t.Fatalf("key %d present, should be deleted or absent", k)
		}
		if want := fmt.Sprintf("%010d", expect[k]-1); string(it.Value()[:10]) != want {
			t.Fatalf("key %d = %q, want %q", k, it.Value()[:10], want)
		}
		seen++
	}
	must(t, it.Close())
	live := 0
	for _, v := range expect {
		if v > 0 {
			live++
		}
	}
	if seen != live {
		t.Fatalf("store holds %d keys, want %d", seen, live)
	}
}

// onlyIn returns the lines of a that are not in b, at most ten.
func onlyIn(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && len(out) < 10 {
			out = append(out, x)
		}
	}
	return out
}
