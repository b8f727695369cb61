// Command goka runs goka's click counter — an unchanged goka application
// (github.com/lovoo/goka) — on Eddy's embedded broker.
//
//	go run ./examples/goka
//	go run ./examples/goka -clicks 10000 -users 50 -v
//
// An emitter sends clicks keyed by user to the "user-clicks" stream; a
// processor of the group "click-counter" counts them per user in its group
// table (the compacted topic "click-counter-table"); a view reads that
// table back from the broker and the program prints it. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/eddy-streams/eddy/broker"
)

const (
	stream goka.Stream = "user-clicks"
	group  goka.Group  = "click-counter"
)

// user is the value of the group table: the clicks counted for a user.
type user struct {
	Clicks int
}

// userCodec encodes users as JSON in the group table.
type userCodec struct{}

func (userCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }
func (userCodec) Decode(b []byte) (any, error) {
	var u user
	err := json.Unmarshal(b, &u)
	return &u, err
}

// count is the processor's callback: one click for the message's key.
func count(ctx goka.Context, msg any) {
	u := &user{}
	if v := ctx.Value(); v != nil {
		u = v.(*user)
	}
	u.Clicks++
	ctx.SetValue(u)
}

func main() {
	clicks := flag.Int("clicks", 200, "clicks to emit")
	users := flag.Int("users", 10, "users the clicks are spread over")
	verbose := flag.Bool("v", false, "show goka's own log")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var gokaLog *log.Logger
	if *verbose {
		gokaLog = log.New(os.Stderr, "goka: ", log.LstdFlags)
	}
	counts, err := run(ctx, *clicks, *users, gokaLog)
	if err != nil {
		log.Fatal(err)
	}
	printCounts(os.Stdout, counts)
}

// run emits clicks on an embedded broker, counts them with a goka
// processor and returns the counts a goka view reads from the group table.
// gokaLog receives goka's log (nil: discarded).
func run(ctx context.Context, clicks, users int, gokaLog *log.Logger) (map[string]int, error) {
	if gokaLog == nil {
		gokaLog = log.New(io.Discard, "", 0)
	}
	dir, err := os.MkdirTemp("", "eddy-goka-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// The broker, embedded. goka gets its address like any Kafka cluster's.
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:0",
		GroupInitialRebalanceDelay: -1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	brokers := []string{b.Addr()}

	// goka's usual set-up for a single broker: replication factor 1.
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	tmBuilder := goka.TopicManagerBuilderWithTopicManagerConfig(tmc)
	tm, err := tmBuilder(brokers)
	if err != nil {
		return nil, err
	}
	err = tm.EnsureStreamExists(string(stream), 4)
	tm.Close()
	if err != nil {
		return nil, err
	}

	// 1. Emit the clicks. The processor starts after them, so it must read
	// its input from the oldest offset: goka's default for a new group is
	// the newest (it would see none of these clicks).
	want, err := emit(brokers, tmBuilder, clicks, users, gokaLog)
	if err != nil {
		return nil, err
	}

	// 2. The processor: count clicks per user into the group table.
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	p, err := goka.NewProcessor(brokers,
		goka.DefineGroup(group, goka.Input(stream, new(codec.String), count), goka.Persist(userCodec{})),
		goka.WithTopicManagerBuilder(tmBuilder),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg)),
		goka.WithStorageBuilder(storage.DefaultBuilder(filepath.Join(dir, "processor"))),
		goka.WithLogger(gokaLog),
	)
	if err != nil {
		return nil, err
	}
	pctx, stopProcessor := context.WithCancel(ctx)
	defer stopProcessor()
	var perr error
	pdone := make(chan struct{}) // closed when the processor stopped, with perr set
	go func() { perr = p.Run(pctx); close(pdone) }()
	stopped := func(err error) (map[string]int, error) {
		stopProcessor()
		<-pdone
		if err == nil {
			err = perr
		}
		return nil, err
	}
	// Get may only be called once the processor has set up its partitions.
	if err := p.WaitForReadyContext(ctx); err != nil {
		return stopped(err)
	}
	if err := waitCounts(ctx, pdone, want, p.Get); err != nil {
		return stopped(err)
	}

	// 3. A view: the group table, read back from the broker.
	view, err := goka.NewView(brokers, goka.GroupTable(group), userCodec{},
		goka.WithViewTopicManagerBuilder(tmBuilder),
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewLogger(gokaLog))
	if err != nil {
		return stopped(err)
	}
	vctx, stopView := context.WithCancel(ctx)
	var verr error
	vdone := make(chan struct{})
	go func() { verr = view.Run(vctx); close(vdone) }()
	select { // the view has read the table to its end
	case <-view.WaitRunning():
		err = waitCounts(ctx, vdone, want, view.Get)
	case <-vdone:
		err = errors.New("the view stopped before it was running")
	case <-ctx.Done():
		err = ctx.Err()
	}
	got := map[string]int{}
	if err == nil {
		for u := range want {
			v, _ := view.Get(u)
			got[u] = v.(*user).Clicks
		}
	}
	stopView()
	<-vdone
	if err == nil {
		err = verr
	}
	if _, serr := stopped(nil); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return got, nil
}

// emit sends clicks round-robin over users and returns the clicks per user.
func emit(brokers []string, tmBuilder goka.TopicManagerBuilder, clicks, users int, gokaLog *log.Logger) (map[string]int, error) {
	emitter, err := goka.NewEmitter(brokers, stream, new(codec.String),
		goka.WithEmitterTopicManagerBuilder(tmBuilder), goka.WithEmitterLogger(gokaLog))
	if err != nil {
		return nil, err
	}
	want := map[string]int{}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	// Emit asynchronously and wait for all: goka's producer batches for up
	// to 100ms, which EmitSync would pay for every click.
	for i := range clicks {
		u := fmt.Sprintf("user-%d", i%users)
		prom, err := emitter.Emit(u, time.Now().Format(time.RFC3339Nano))
		if err != nil {
			emitter.Finish()
			return nil, err
		}
		wg.Add(1)
		prom.Then(func(err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
			wg.Done()
		})
		want[u]++
	}
	wg.Wait()
	if err := emitter.Finish(); err != nil {
		return nil, err
	}
	return want, failed
}

// waitCounts polls get until it returns the wanted clicks for every user,
// ctx ends or the component stops (done is closed).
func waitCounts(ctx context.Context, done <-chan struct{}, want map[string]int, get func(string) (any, error)) error {
	for {
		ok := true
		for u, n := range want {
			v, err := get(u)
			if err != nil || v == nil || v.(*user).Clicks != n {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errors.New("goka stopped before counting every click")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func printCounts(w io.Writer, counts map[string]int) {
	users := make([]string, 0, len(counts))
	for u := range counts {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool {
		a, b := counts[users[i]], counts[users[j]]
		return a > b || a == b && users[i] < users[j]
	})
	for _, u := range users {
		fmt.Fprintf(w, "%-10s %d clicks\n", u, counts[u])
	}
}
