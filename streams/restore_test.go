package streams_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// A task whose restoration does not finish holds up neither the group nor
// the instance's other tasks, and stopping the app cancels it. A restore
// hook holds task 1_0's restoration until its context is done, while task
// 1_1 counts its words.
func TestAppRestoresBesideProcessing(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 2, "text", "word-counts")

	entered := make(chan struct{})
	var enterOnce sync.Once
	released := make(chan error, 1)
	// Registered before runApp, so its cleanup (resetting the hook) runs
	// after the app has stopped.
	streams.SetRestoreHook(t, func(ctx context.Context, task string) {
		if task != "1_0" {
			return
		}
		enterOnce.Do(func() { close(entered) })
		<-ctx.Done()
		select {
		case released <- ctx.Err():
		default:
		}
	})

	// Words counted by task 1_0 (held) and by task 1_1.
	var stuck, free []string
	for _, w := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"} {
		if streams.DefaultPartition([]byte(w), 2) == 0 {
			stuck = append(stuck, w)
		} else {
			free = append(free, w)
		}
	}
	if len(stuck) == 0 || len(free) == 0 {
		t.Fatalf("words on partition 0: %v, on 1: %v", stuck, free)
	}
	var lines []kv
	for i, w := range append(append([]string{}, stuck...), free...) {
		lines = append(lines, kv{[]byte{byte(i)}, []byte(w)})
	}
	produce(t, addr, "text", lines)

	_, stop := runApp(t, testapps.WordCount(), streams.Config{ApplicationID: "stall", Brokers: []string{addr}})
	select {
	case <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("task 1_0 never began restoring")
	}
	want := map[string]int64{}
	for _, w := range free {
		want[w] = 1
	}
	consumeAll(t, addr, "word-counts", 60*time.Second, reached(want))
	// Task 1_0 is still held in its restoration and has counted nothing.
	select {
	case err := <-released:
		t.Fatalf("task 1_0's restoration ended before the app stopped: %v", err)
	default:
	}
	for _, m := range consumeToEnd(t, addr, "word-counts") {
		for _, w := range stuck {
			if string(m.Key) == w {
				t.Errorf("%s counted by a task still restoring", w)
			}
		}
	}
	// Stopping cancels the restoration; Run returns no error (runApp's stop
	// checks).
	stop()
	select {
	case err := <-released:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("task 1_0's restoration ended with %v, want context.Canceled", err)
		}
	default:
		t.Error("app stopped with task 1_0's restoration still running")
	}
}
