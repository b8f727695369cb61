package state_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/eddy-streams/eddy/state"
)

// countChangelog stands in for the streams task's changelog producer.
type countChangelog struct{ records int64 }

func (c *countChangelog) Send(key, value []byte) error { c.records++; return nil }
func (c *countChangelog) Flush(context.Context) (int64, error) {
	return c.records - 1, nil
}

type pageViews struct {
	Count int64
	Last  string
}

func Example() {
	dir, err := os.MkdirTemp("", "eddy-state-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// A store over LevelDB in dir, logged to a changelog, with a write
	// cache. A real task also gives a Restorer, to rebuild the store from
	// the changelog when it opens.
	changelog := &countChangelog{}
	st, err := state.OpenStore(ctx, state.StoreOptions{
		Dir: dir, Topic: "app-views-changelog", Partition: 0, Writer: changelog,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	views := state.NewKeyValueStore[string, pageViews](st.Backend(), state.String{}, state.Msgpack[pageViews]{})
	for _, page := range []string{"/home", "/docs", "/home", "/home", "/blog/1", "/blog/2"} {
		v, _, err := views.Get(page)
		if err != nil {
			log.Fatal(err)
		}
		v.Count++
		v.Last = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		if err := views.Put(page, v); err != nil {
			log.Fatal(err)
		}
	}
	// Commit: the cache flushes one record per page, then the checkpoint
	// is written.
	if err := st.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("changelog records:", changelog.records, "saved by the cache:", st.Cache().Saved())

	it := views.Prefix("/blog/")
	for it.Next() {
		fmt.Println(it.Key(), it.Value().Count)
	}
	if err := it.Close(); err != nil {
		log.Fatal(err)
	}

	// Windowed counts: one key's windows are contiguous and in time order.
	clicks := state.NewWindowStore[string, int64](state.NewMemory(), state.String{}, state.Int64{},
		state.WindowStoreOptions{Size: time.Minute, Retention: time.Hour})
	for _, t := range []int64{0, 60_000, 120_000} {
		if err := clicks.Put("/home", t, t/60_000+1); err != nil {
			log.Fatal(err)
		}
	}
	wi := clicks.Fetch("/home", 60_000, 120_000)
	for wi.Next() {
		fmt.Println(wi.Key(), wi.Window(), wi.Value())
	}
	if err := wi.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// changelog records: 4 saved by the cache: 2
	// /blog/1 1
	// /blog/2 1
	// /home {60000 120000} 2
	// /home {120000 180000} 3
}
