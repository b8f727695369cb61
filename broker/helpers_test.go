package broker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

// testLogger keeps test output quiet unless EDDY_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("EDDY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker runs a broker on a free loopback port in a fresh directory
// (or dir, if given) and stops it when the test ends.
func startBroker(t testing.TB, mutate ...func(*Config)) *Broker {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: testLogger()}
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// testCtx is a context bounded well inside go test's own timeout, so a hang
// fails the test with a message rather than a stack dump.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
