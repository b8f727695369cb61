package streams_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// TestKillChild is not a test: it is the word-count instance that
// TestKillAndJoin runs in child processes.
func TestKillChild(t *testing.T) {
	addr := os.Getenv("STREAMS_KILL_CHILD_BROKER")
	if addr == "" {
		t.Skip("child process of TestKillAndJoin")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	app, err := streams.NewApp(testapps.WordCount(), streams.Config{
		ApplicationID:  "kill",
		Brokers:        []string{addr},
		Sarama:         saramaConfig(),
		StateDir:       os.Getenv("STREAMS_KILL_CHILD_DIR"),
		CommitInterval: 300 * time.Millisecond,
		Logger:         quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	for {
		select {
		case err := <-done:
			fmt.Printf("stats %d %d\n", app.Processed(), app.ProcessedAtCommit())
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
			// processed-at-commit first: the pair bounds what a kill
			// right now would make the group reprocess.
			c := app.ProcessedAtCommit()
			fmt.Printf("stats %d %d\n", app.Processed(), c)
		}
	}
}

type child struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	// last processed and processed-at-commit printed, and the largest
	// growth of processed between two prints.
	processed, committed, maxStep int64
	exited                        chan struct{}
}

func startChild(t *testing.T, addr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "STREAMS_KILL_CHILD_BROKER="+addr, "STREAMS_KILL_CHILD_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "stats" {
				continue
			}
			p, _ := strconv.ParseInt(f[1], 10, 64)
			cm, _ := strconv.ParseInt(f[2], 10, 64)
			c.mu.Lock()
			c.maxStep = max(c.maxStep, p-c.processed)
			c.processed, c.committed = p, cm
			c.mu.Unlock()
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	return c
}

func (c *child) stats() (processed, committed, maxStep int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.processed, c.committed, c.maxStep
}

// TestKillAndJoin runs three instances of the word count in child
// processes, SIGKILLs one while it processes, starts a fourth, and checks
// that no count falls short and that the counts exceed the truth by no more
// than what the killed instance had processed since its last commit.
func TestKillAndJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes for ~20s")
	}
	start := time.Now()
	addr := startBroker(t)
	createTopics(t, addr, 6, "text", "word-counts")
	lines, want := words(6000)
	third := len(lines) / 3
	produce(t, addr, "text", lines[:third])
	var children []*child
	for i := 0; i < 3; i++ {
		children = append(children, startChild(t, addr))
	}
	// The victim is the first instance seen processing: which instance
	// gets partitions first depends on how fast each child starts, which
	// on a loaded machine varies a lot.
	var victim *child
	deadline := time.Now().Add(60 * time.Second)
	for victim == nil {
		for _, c := range children {
			if p, _, _ := c.stats(); p > 0 {
				victim = c
				break
			}
		}
		if victim != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no instance processed anything")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Keep input flowing while the victim commits once and dies.
	produced := make(chan error, 1)
	go func() { produced <- produceErr(addr, "text", lines[third:2*third]) }()
	for {
		if _, c, _ := victim.stats(); c > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	vp, vc, step := victim.stats()
	t.Logf("killed after %v", time.Since(start))
	t.Logf("killed an instance that had processed %d records, %d as of its last commit (print step %d)", vp, vc, step)
	children = append(children, startChild(t, addr))
	time.Sleep(time.Second)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	produce(t, addr, "text", lines[2*third:])

	msgs := consumeAll(t, addr, "word-counts", 90*time.Second, reached(want))
	// Let the survivors finish, then stop them gracefully.
	time.Sleep(500 * time.Millisecond)
	for _, c := range children {
		if c != victim {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range children {
		if c == victim {
			continue
		}
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			t.Fatal("an instance did not stop on SIGTERM")
		}
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("instance exited with %d", code)
		}
	}
	t.Logf("all counts reached after %v", time.Since(start))
	msgs = consumeToEnd(t, addr, "word-counts")
	got := latestCounts(t, msgs, false)
	var over int64
	for w, n := range want {
		if got[w] < n {
			t.Errorf("%s: %d, want at least %d", w, got[w], n)
		}
		over += got[w] - n
	}
	// Each line has at most 4 words, and a record is a line or a word, so
	// every record reprocessed adds at most 4 to the counts. The victim
	// may have processed up to one print step after its last print.
	bound := 4 * (vp - vc + step)
	t.Logf("counts exceed the truth by %d in total (bound %d); %d count records", over, bound, len(msgs))
	if over > bound {
		t.Errorf("counts exceed the truth by %d, more than the bound %d", over, bound)
	}
}

// TestKfakeWordCount runs the word count against franz-go's kfake with
// three brokers, as a stand-in for a multi-broker Kafka cluster.
func TestKfakeWordCount(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(4, "text", "word-counts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the apps stop: cleanups run last-in first-out
	addrs := c.ListenAddrs()
	lines, want := words(300)
	produce(t, addrs[0], "text", lines)
	cfg := saramaConfig()
	cfg.Version = sarama.V2_8_0_0
	runApp(t, testapps.WordCount(), streams.Config{ApplicationID: "wc", Brokers: addrs, Sarama: cfg})
	runApp(t, testapps.WordCount(), streams.Config{ApplicationID: "wc", Brokers: addrs, Sarama: cfg})
	msgs := consumeAll(t, addrs[1], "word-counts", 60*time.Second, reached(want))
	got := latestCounts(t, msgs, false)
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%s: %d, want %d", w, got[w], n)
		}
	}
}
