package connectors_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/file"
)

// testLogger logs to the test's output with -v, and is quiet otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts an embedded broker for one test.
func startBroker(t testing.TB) string {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// startWorker starts a worker with a short flush interval.
func startWorker(t testing.TB, addr string, mod func(*connectors.WorkerConfig)) *connectors.Worker {
	t.Helper()
	cfg := connectors.WorkerConfig{
		Brokers:             []string{addr},
		OffsetsPartitions:   5,
		OffsetFlushInterval: 200 * time.Millisecond,
		Logger:              testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := connectors.NewWorker(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lines reads a file's lines (none when it does not exist).
func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func appendLines(t testing.TB, path string, ls ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range ls {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
