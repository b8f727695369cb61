package streams_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// usersPerRegion reads users (user -> "region:age") as a table and
// re-groups it by region: a count of users, the sum of their ages, and the
// sorted list of their names, written to "region-users", "region-ages" and
// "region-names".
func usersPerRegion(t *testing.T) *streams.Topology {
	t.Helper()
	b := streams.NewBuilder()
	users := streams.TableFrom(b, "users", streams.Consumed[string, string]{}, streams.Materialized[string, string]{Name: "users"})
	split := func(v string) (string, int64) {
		region, age, _ := strings.Cut(v, ":")
		var n int64
		fmt.Sscan(age, &n)
		return region, n
	}
	byRegion := streams.GroupTableBy(users, func(_ string, v string) (string, int64) { return split(v) },
		streams.Grouped[string, int64]{Name: "by-region"})
	byRegion.Count(streams.Materialized[string, int64]{Name: "region-users"}).ToStream().
		To("region-users", streams.Produced[string, int64]{})
	byRegion.Reduce(func(acc, v int64) int64 { return acc + v }, func(acc, v int64) int64 { return acc - v },
		streams.Materialized[string, int64]{Name: "region-ages"}).ToStream().To("region-ages", streams.Produced[string, int64]{})
	names := streams.GroupTableBy(users, func(user string, v string) (string, string) {
		region, _ := split(v)
		return region, user
	}, streams.Grouped[string, string]{Name: "names-by-region"})
	streams.AggregateTable(names, func() []string { return nil },
		func(_ string, user string, agg []string) []string {
			agg = append(agg, user)
			slices.Sort(agg)
			return agg
		},
		func(_ string, user string, agg []string) []string {
			return slices.DeleteFunc(agg, func(u string) bool { return u == user })
		},
		streams.Materialized[string, []string]{Name: "region-names"}).ToStream().
		To("region-names", streams.Produced[string, []string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func TestGroupTableByDriver(t *testing.T) {
	d, err := streamstest.New(usersPerRegion(t), streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	users := streamstest.NewInputTopic[string, string](d, "users", nil, nil, base, time.Millisecond)
	counts := streamstest.NewOutputTopic[string, int64](d, "region-users", nil, nil)
	ages := streamstest.NewOutputTopic[string, int64](d, "region-ages", nil, nil)
	names := streamstest.NewOutputTopic[string, []string](d, "region-names", nil, nil)
	read := func(o *streamstest.OutputTopic[string, int64]) string {
		t.Helper()
		kvs, err := o.ReadKeyValues()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kv := range kvs {
			out = append(out, fmt.Sprintf("%s=%d", kv.Key, kv.Value))
		}
		return strings.Join(out, " ")
	}
	check(t, users.Pipe("ann", "eu:30"))
	check(t, users.Pipe("bob", "eu:40"))
	check(t, users.Pipe("cat", "us:50"))
	if got := read(counts); got != "eu=1 eu=2 us=1" {
		t.Errorf("counts: %s", got)
	}
	if got := read(ages); got != "eu=30 eu=70 us=50" {
		t.Errorf("ages: %s", got)
	}
	// bob moves: out of eu (subtract), into us (add); ann has a birthday
	// (subtract the old age, add the new, same group); cat leaves.
	check(t, users.Pipe("bob", "us:40"))
	check(t, users.Pipe("ann", "eu:31"))
	check(t, users.PipeTombstone("cat"))
	if got := read(counts); got != "eu=1 us=2 eu=0 eu=1 us=1" {
		t.Errorf("counts after moves: %s", got)
	}
	if got := read(ages); got != "eu=30 us=90 eu=0 eu=31 us=40" {
		t.Errorf("ages after moves: %s", got)
	}
	final, err := streamstest.ReadToMap(names, map[string][]string{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(final) != "map[eu:[ann] us:[bob]]" {
		t.Errorf("names: %v", final)
	}
	store, err := streamstest.KeyValueStore[string, int64](d, "region-users")
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := store.Get("us"); n != 1 {
		t.Errorf("store: us=%d", n)
	}
}

// The same on the embedded broker, through the repartition topic.
func TestAppGroupTableBy(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 3, "users", "region-users", "region-ages", "region-names")
	var recs []kv
	want := map[string]int64{}
	region := map[string]string{}
	for i := range 300 {
		u := fmt.Sprint("user", i%40)
		r := fmt.Sprint("r", i%7)
		if i%11 == 0 {
			recs = append(recs, kv{[]byte(u), nil})
			delete(region, u)
			continue
		}
		recs = append(recs, kv{[]byte(u), []byte(r + ":1")})
		region[u] = r
	}
	for _, r := range region {
		want[r]++
	}
	produce(t, addr, "users", recs)
	runApp(t, usersPerRegion(t), streams.Config{ApplicationID: "regions", Brokers: []string{addr}})
	// The counts converge to the number of users in each region once every
	// update went through; empty regions end at 0.
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]int64{}
		for _, m := range consumeToEnd(t, addr, "region-users") {
			n, err := streams.DefaultSerde[int64]().Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			got[string(m.Key)] = n
		}
		ok := true
		for r := range 7 {
			if got[fmt.Sprint("r", r)] != want[fmt.Sprint("r", r)] {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
