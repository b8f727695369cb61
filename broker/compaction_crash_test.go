package broker

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The compaction crash test runs a broker in a child process (this test binary re-executed),
// lets it compact, and SIGKILLs it while the compaction's segment swap stands at a chosen step;
// the restarted broker must still have every key's newest value.
const (
	compactChildDirEnv  = "EDDY_COMPACT_CHILD_DATA_DIR"
	compactChildAddrEnv = "EDDY_COMPACT_CHILD_ADDR_FILE"
	compactChildStepEnv = "EDDY_COMPACT_CHILD_STEP" // the swap step to stop at
	compactChildMarkEnv = "EDDY_COMPACT_CHILD_MARK" // written when the child stands there
)

// TestCompactionCrashChild is the child process of TestCompactionSIGKILL; it skips otherwise.
func TestCompactionCrashChild(t *testing.T) {
	dir := os.Getenv(compactChildDirEnv)
	if dir == "" {
		t.Skip("the broker of TestCompactionSIGKILL's child process; runs only there")
	}
	step, mark := os.Getenv(compactChildStepEnv), os.Getenv(compactChildMarkEnv)
	cleanerHook = func(s string) error {
		if s == step {
			os.WriteFile(mark, []byte(s), 0o644)
			select {} // stand here, holding whatever the swap holds, until killed
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger(), CleanerBackoff: time.Hour, RetentionCheckInterval: time.Hour})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	defer b.Close()
	addrFile := os.Getenv(compactChildAddrEnv)
	os.WriteFile(addrFile+".tmp", []byte(b.Addr()), 0o644)
	os.Rename(addrFile+".tmp", addrFile)
	io.Copy(io.Discard, os.Stdin)
}

func TestCompactionSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, step := range []string{"cleaned-written", "committed", "renamed", "old-removed"} {
		t.Run(step, func(t *testing.T) {
			ctx := testCtx(t)
			dir := t.TempDir()
			tmp := t.TempDir()
			addrFile, mark := filepath.Join(tmp, "addr"), filepath.Join(tmp, "mark")
			cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionCrashChild$")
			cmd.Env = append(os.Environ(), compactChildDirEnv+"="+dir, compactChildAddrEnv+"="+addrFile,
				compactChildStepEnv+"="+step, compactChildMarkEnv+"="+mark)
			var out crashLockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			defer func() { cmd.Process.Kill(); <-exited; stdin.Close() }()
			addr := waitFile(t, ctx, addrFile, exited, &out)

			// Produce with cleanup.policy=delete, then switch to compact: the AlterConfigs wakes
			// the cleaner, which compacts and stops at the step.
			cl := newKgoClient(t, addr, kgo.ProducerLinger(2*time.Millisecond))
			adm := kadm.NewClient(cl)
			const topic = "crashy"
			createTopicWithConfigs(t, ctx, adm, topic, map[string]*string{"segment.bytes": kmsg.StringPtr("32768")})
			want := map[string]string{}
			var recs []*kgo.Record
			for i := range 20000 {
				k := fmt.Sprintf("k%03d", (i*31)%500)
				r := &kgo.Record{Topic: topic, Key: []byte(k)}
				if i%9 == 4 {
					delete(want, k)
				} else {
					r.Value = fmt.Appendf(nil, "v%d", i)
					want[k] = string(r.Value)
				}
				recs = append(recs, r)
			}
			// In small requests: one big batch would land whole in the active
			// segment, leaving the cleaner nothing it may clean.
			for len(recs) > 0 {
				n := min(len(recs), 500)
				if err := cl.ProduceSync(ctx, recs[:n]...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				recs = recs[n:]
			}
			if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}, topic); err != nil {
				t.Fatal(err)
			}
			waitFile(t, ctx, mark, exited, &out)
			cl.Close()
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-exited

			// Restart in this process: every key's newest value is there; compaction goes on.
			clock := &testClock{}
			clock.ms.Store(time.Now().UnixMilli())
			b := startLifecycleBroker(t, clock, func(c *Config) { c.DataDir = dir })
			got, _ := consumeAllKgo(t, ctx, b.Addr(), topic)
			checkNewest(t, "after SIGKILL at "+step, got, want)
			if m, _ := filepath.Glob(filepath.Join(dir, topic+"-0", "*.cleaned")); len(m) > 0 {
				t.Errorf("cleaned files left: %v", m)
			}
			b.compactAll()
			got, _ = consumeAllKgo(t, ctx, b.Addr(), topic)
			checkNewest(t, "compacted again after SIGKILL at "+step, got, want)
		})
	}
}

// waitFile waits for path to exist and returns its content.
func waitFile(t *testing.T, ctx context.Context, path string, exited chan struct{}, out *crashLockedBuffer) string {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(path); err == nil {
			return string(data)
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("child exited while waiting for %s:\n%s", filepath.Base(path), out)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v\n%s", filepath.Base(path), ctx.Err(), out)
		}
	}
}
