//go:build !race

// The race detector reports a data race inside goka v1.1.14 itself
// (processor.go against partition_table.go), not in Eddy, so this test
// runs only without -race; `go test ./broker/` runs it.

package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// clicks is the value of goka's click-counting example: the group table
// holds one per user.
type clicks struct{ Clicks int }

type clicksCodec struct{}

func (clicksCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }
func (clicksCodec) Decode(b []byte) (any, error) {
	var c clicks
	err := json.Unmarshal(b, &c)
	return &c, err
}

// TestGokaClickCounter runs goka's own example shape (count clicks per
// user into a group table) against the broker, stops the processor,
// emits more clicks, starts a new processor with empty local storage —
// so its table can only come back from the broker — and checks the counts
// with a goka view.
func TestGokaClickCounter(t *testing.T) {
	b := startBroker(t, groupTestConfig)
	ctx := testCtx(t)
	brokers := []string{b.Addr()}
	const (
		stream goka.Stream = "user-clicks"
		group  goka.Group  = "click-counter"
		users              = 10
	)
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	tmBuilder := goka.TopicManagerBuilderWithTopicManagerConfig(tmc)

	tm, err := tmBuilder(brokers)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.EnsureStreamExists(string(stream), 2); err != nil {
		t.Fatalf("create stream topic: %v", err)
	}
	tm.Close()

	emitter, err := goka.NewEmitter(brokers, stream, new(codec.String), goka.WithEmitterTopicManagerBuilder(tmBuilder))
	if err != nil {
		t.Fatal(err)
	}
	defer emitter.Finish()
	want := map[string]int{}
	emit := func(n int) {
		// Emit asynchronously and wait for all: goka's producer batches
		// for up to 100ms, which EmitSync would pay per record.
		var wg sync.WaitGroup
		var failed atomic.Value
		for i := range n {
			user := fmt.Sprintf("user-%d", i%users)
			p, err := emitter.Emit(user, "click")
			if err != nil {
				t.Fatalf("emit: %v", err)
			}
			wg.Add(1)
			p.Then(func(err error) {
				if err != nil {
					failed.Store(err)
				}
				wg.Done()
			})
			want[user]++
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			t.Fatalf("emit: %v", err)
		}
	}

	count := func(ctx goka.Context, msg any) {
		c := &clicks{}
		if v := ctx.Value(); v != nil {
			c = v.(*clicks)
		}
		c.Clicks++
		ctx.SetValue(c)
	}
	runProcessor := func() (*goka.Processor, func()) {
		p, err := goka.NewProcessor(brokers,
			goka.DefineGroup(group, goka.Input(stream, new(codec.String), count), goka.Persist(clicksCodec{})),
			goka.WithTopicManagerBuilder(tmBuilder),
			goka.WithStorageBuilder(storage.MemoryBuilder()),
		)
		if err != nil {
			t.Fatalf("new processor: %v", err)
		}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(pctx) }()
		return p, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("processor: %v", err)
			}
		}
	}
	waitCounts := func(get func(string) (any, error)) {
		t.Helper()
		for {
			ok := true
			for user, n := range want {
				v, err := get(user)
				if err != nil || v == nil || v.(*clicks).Clicks != n {
					ok = false
					break
				}
			}
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				for user, n := range want {
					v, err := get(user)
					t.Errorf("%s: got %v (%v), want %d clicks", user, v, err, n)
				}
				t.Fatal("counts never matched")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// goka starts a new group's input streams at the newest offset, so
	// the processor must be running before the first clicks.
	p, stop := runProcessor()
	if err := p.WaitForReadyContext(ctx); err != nil {
		t.Fatal(err)
	}
	emit(100)
	waitCounts(p.Get)
	stop()

	// Clicks while no processor runs: the next one resumes from the
	// offsets the first one committed.
	emit(55)
	p2, stop2 := runProcessor()
	defer stop2()
	waitCounts(p2.Get)

	view, err := goka.NewView(brokers, goka.GroupTable(group), clicksCodec{},
		goka.WithViewStorageBuilder(storage.MemoryBuilder()), goka.WithViewTopicManagerBuilder(tmBuilder))
	if err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithCancel(ctx)
	vdone := make(chan error, 1)
	go func() { vdone <- view.Run(vctx) }()
	defer func() {
		vcancel()
		if err := <-vdone; err != nil {
			t.Errorf("view: %v", err)
		}
	}()
	waitCounts(view.Get)
}
