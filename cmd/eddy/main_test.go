package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMain lets tests run the real eddy command in a child process: the
// test binary re-executes itself with EDDY_TEST_MAIN=1 and the eddy
// arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("EDDY_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"eddy"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func eddyCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "EDDY_TEST_MAIN=1")
	return cmd
}

// TestBrokerCommandServesAndStopsOnSIGTERM runs "eddy broker" as a
// process, produces to it, and checks that SIGTERM stops it cleanly and
// that a restart on the same directory still has the record.
func TestBrokerCommandServesAndStopsOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(conf, []byte("num.partitions=3\nlog.dirs="+filepath.Join(dir, "data")+"\nsome.unknown.setting=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(produce bool) {
		cmd := eddyCommand(ctx, "broker", "--config", conf, "--listen", "127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatalf("broker printed nothing; stderr:\n%s", stderr.String())
		}
		m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("no address in %q", sc.Text())
		}
		go func() {
			for sc.Scan() {
			}
		}()
		cl, err := kgo.NewClient(kgo.SeedBrokers(m[1]), kgo.AllowAutoTopicCreation(),
			kgo.ConsumeTopics("cli"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		if produce {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "cli", Partition: 2, Value: []byte("kept")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		var got []string
		for len(got) == 0 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		cl.Close()
		if got[0] != "kept" {
			t.Fatalf("consumed %q", got)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("broker exited with %v; stderr:\n%s", err, stderr.String())
		}
		for _, want := range []string{"broker started", "some.unknown.setting", "broker stopped"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, stderr.String())
			}
		}
	}
	run(true)
	run(false) // restart: the record is still there
}

func TestBrokerHelpExplainsFlags(t *testing.T) {
	out, err := eddyCommand(context.Background(), "broker", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, flag := range []string{"--data-dir", "--listen", "--config", "--num.partitions", "--auto.create.topics.enable", "--advertised-listener"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("help lacks %s:\n%s", flag, out)
		}
	}
}

func TestBrokerCommandErrors(t *testing.T) {
	out, err := eddyCommand(context.Background(), "broker").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--data-dir") {
		t.Errorf("without a data dir: err=%v, output %q; want an error naming --data-dir", err, out)
	}
	out, err = eddyCommand(context.Background(), "broker", "--data-dir", t.TempDir(), "--listen", "nonsense").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listen") {
		t.Errorf("bad listen address: err=%v, output %q", err, out)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(b))
}
