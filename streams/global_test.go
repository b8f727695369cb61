package streams_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// orderRegions joins orders (keyed by order id) with a global table of
// customers (keyed by customer id) on the order's customer: the inner join
// writes "<customer name>/<amount>" to "named-orders", the left join
// "<country or ?>" to "order-countries".
func orderRegions(t *testing.T) *streams.Topology {
	t.Helper()
	b := streams.NewBuilder()
	customers := streams.GlobalTableFrom(b, "customers", streams.Consumed[string, testapps.Customer]{},
		streams.Materialized[string, testapps.Customer]{Name: "customers-global"})
	orders := streams.From(b, "orders", streams.Consumed[string, testapps.Order]{})
	byCustomer := func(_ string, o testapps.Order) string { return o.Customer }
	streams.JoinGlobal(orders, customers, byCustomer, func(o testapps.Order, c testapps.Customer) string {
		return fmt.Sprintf("%s/%d", c.Name, o.Amount)
	}).To("named-orders", streams.Produced[string, string]{})
	streams.LeftJoinGlobal(orders, customers, byCustomer, func(_ testapps.Order, c testapps.Customer, found bool) string {
		if !found {
			return "?"
		}
		return c.Country
	}).To("order-countries", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func TestGlobalTableJoinsDriver(t *testing.T) {
	top := orderRegions(t)
	// The global table is a sub-topology of its own, after the others.
	if d := top.Describe(); !strings.Contains(d, `   Sub-topology: 1 for global store (will not generate tasks)
    Source: KSTREAM-SOURCE-0000000000 (topics: [customers])
      --> KTABLE-SOURCE-0000000001
    Processor: KTABLE-SOURCE-0000000001 (stores: [customers-global])
      --> none
      <-- KSTREAM-SOURCE-0000000000
`) || !strings.Contains(d, "Processor: KSTREAM-JOIN-0000000003 (stores: [customers-global])") {
		t.Errorf("Describe:\n%s", d)
	}
	desc := top.Description()
	if n := len(desc.Subtopologies); n != 2 || desc.Subtopologies[1].ID != 1 || len(desc.Subtopologies[1].Nodes) != 2 ||
		desc.Subtopologies[1].Nodes[1].Stores[0] != "customers-global" {
		t.Errorf("Description: %+v", desc)
	}
	d, err := streamstest.New(top, streamstest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	customers := streamstest.NewInputTopic[string, testapps.Customer](d, "customers", nil, nil, base, 0)
	orders := streamstest.NewInputTopic[string, testapps.Order](d, "orders", nil, nil, base, 0)
	named := streamstest.NewOutputTopic[string, string](d, "named-orders", nil, nil)
	countries := streamstest.NewOutputTopic[string, string](d, "order-countries", nil, nil)
	read := func(o *streamstest.OutputTopic[string, string]) string {
		t.Helper()
		kvs, err := o.ReadKeyValues()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kv := range kvs {
			out = append(out, kv.Key+"="+kv.Value)
		}
		return strings.Join(out, " ")
	}
	check(t, customers.Pipe("c1", testapps.Customer{Name: "Ada", Country: "UK"}))
	check(t, customers.Pipe("c2", testapps.Customer{Name: "Bo", Country: "SE"}))
	check(t, orders.Pipe("o1", testapps.Order{Customer: "c1", Amount: 5}))
	check(t, orders.Pipe("o2", testapps.Order{Customer: "c3", Amount: 6}))
	check(t, orders.Pipe("o3", testapps.Order{Customer: "c2", Amount: 7}))
	if got := read(named); got != "o1=Ada/5 o3=Bo/7" {
		t.Errorf("inner join: %s", got)
	}
	if got := read(countries); got != "o1=UK o2=? o3=SE" {
		t.Errorf("left join: %s", got)
	}
	// Updates and deletions of the global table apply to later records.
	check(t, customers.Pipe("c1", testapps.Customer{Name: "Ada", Country: "FR"}))
	check(t, customers.PipeTombstone("c2"))
	check(t, orders.Pipe("o4", testapps.Order{Customer: "c1", Amount: 8}))
	check(t, orders.Pipe("o5", testapps.Order{Customer: "c2", Amount: 9}))
	if got := read(countries); got != "o4=FR o5=?" {
		t.Errorf("left join after updates: %s", got)
	}
	if got := read(named); got != "o4=Ada/8" {
		t.Errorf("inner join after updates: %s", got)
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGlobalTableTopicAlsoAStream(t *testing.T) {
	b := streams.NewBuilder()
	streams.GlobalTableFrom(b, "customers", streams.Consumed[string, string]{}, streams.Materialized[string, string]{})
	streams.From(b, "customers", streams.Consumed[string, string]{}).To("x", streams.Produced[string, string]{})
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "global table") {
		t.Fatalf("Build: %v", err)
	}
}

// Two instances on the embedded broker: each loads the whole global table
// (3 partitions) before processing orders from a topic of 2 partitions (not
// co-partitioned with it), and follows its later updates.
func TestAppGlobalTableJoin(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 3, "customers")
	createTopics(t, addr, 2, "orders", "named-orders", "order-countries")
	enc := func(v any) []byte {
		switch v := v.(type) {
		case testapps.Customer:
			b, _ := streams.DefaultSerde[testapps.Customer]().Encode(v)
			return b
		case testapps.Order:
			b, _ := streams.DefaultSerde[testapps.Order]().Encode(v)
			return b
		}
		panic(v)
	}
	var customers []kv
	for i := range 30 {
		customers = append(customers, kv{[]byte(fmt.Sprint("c", i)), enc(testapps.Customer{Name: fmt.Sprint("name", i), Country: "UK"})})
	}
	produce(t, addr, "customers", customers)
	top := orderRegions(t)
	runApp(t, top, streams.Config{ApplicationID: "global", Brokers: []string{addr}})
	runApp(t, top, streams.Config{ApplicationID: "global", Brokers: []string{addr}, InMemoryStores: true})

	var orders []kv
	for i := range 200 {
		orders = append(orders, kv{[]byte(fmt.Sprint("o", i)), enc(testapps.Order{Customer: fmt.Sprint("c", i%35), Amount: int64(i)})})
	}
	produce(t, addr, "orders", orders)
	// Orders of c30..c34 are unknown: the inner join drops them, the left
	// join marks them.
	got := consumeAll(t, addr, "order-countries", 60*time.Second, func(ms []*sarama.ConsumerMessage) bool { return len(ms) >= 200 })
	unknown := 0
	for _, m := range got {
		switch string(m.Value) {
		case "?":
			unknown++
		case "UK":
		default:
			t.Errorf("%s: country %q", m.Key, m.Value)
		}
	}
	if unknown != 200/35*5+max(0, 200%35-30) {
		t.Errorf("%d orders of unknown customers", unknown)
	}
	named := consumeAll(t, addr, "named-orders", 30*time.Second, func(ms []*sarama.ConsumerMessage) bool { return len(ms) >= 200-unknown })
	for _, m := range named {
		var i int
		fmt.Sscanf(string(m.Key), "o%d", &i)
		if want := fmt.Sprintf("name%d/%d", i%35, i); string(m.Value) != want {
			t.Errorf("%s: %q, want %q", m.Key, m.Value, want)
		}
	}

	// A customer moves while the apps run: later orders see it.
	produce(t, addr, "customers", []kv{{[]byte("c1"), enc(testapps.Customer{Name: "name1", Country: "FR"})}})
	deadline := time.Now().Add(60 * time.Second)
	for seen := false; !seen; {
		if time.Now().After(deadline) {
			t.Fatal("no order of c1 came out in FR")
		}
		probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
		produce(t, addr, "orders", []kv{{[]byte(probe), enc(testapps.Order{Customer: "c1", Amount: 1})}})
		for _, m := range consumeToEnd(t, addr, "order-countries") {
			if string(m.Key) == probe && string(m.Value) == "FR" {
				seen = true
			}
		}
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// restoredRecords sums the records the restorer reports having applied
// from topic.
func restoredRecords(logs, topic string) int {
	n := 0
	for _, m := range regexp.MustCompile(`msg="state: restored" topic=`+topic+` .* records=(\d+)`).FindAllStringSubmatch(logs, -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// A LevelDB global store stopped cleanly resumes from its checkpoint: the
// next start applies only the records written since, and keeps the rest.
func TestAppGlobalTableResumesFromCheckpoint(t *testing.T) {
	addr := startBroker(t)
	createTopics(t, addr, 3, "customers")
	createTopics(t, addr, 1, "orders", "named-orders", "order-countries")
	customer := func(c testapps.Customer) []byte {
		b, err := streams.DefaultSerde[testapps.Customer]().Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var customers []kv
	for i := range 30 {
		customers = append(customers, kv{[]byte(fmt.Sprint("c", i)), customer(testapps.Customer{Name: fmt.Sprint("name", i), Country: "UK"})})
	}
	produce(t, addr, "customers", customers)
	top := orderRegions(t)
	dir := t.TempDir()
	order := func(id, customer string) {
		b, err := streams.DefaultSerde[testapps.Order]().Encode(testapps.Order{Customer: customer, Amount: 1})
		if err != nil {
			t.Fatal(err)
		}
		produce(t, addr, "orders", []kv{{[]byte(id), b}})
	}
	countryOf := func(id string) func([]*sarama.ConsumerMessage) bool {
		return func(ms []*sarama.ConsumerMessage) bool {
			for _, m := range ms {
				if string(m.Key) == id {
					return true
				}
			}
			return false
		}
	}
	country := func(id string) string {
		for _, m := range consumeAll(t, addr, "order-countries", 60*time.Second, countryOf(id)) {
			if string(m.Key) == id {
				return string(m.Value)
			}
		}
		return ""
	}

	logsA := &lockedBuffer{}
	_, stopA := runApp(t, top, streams.Config{ApplicationID: "global-ckpt", Brokers: []string{addr}, StateDir: dir,
		Logger: slog.New(slog.NewTextHandler(logsA, nil))})
	order("o1", "c29")
	if got := country("o1"); got != "UK" {
		t.Fatalf("o1: %q", got)
	}
	stopA()
	if n := restoredRecords(logsA.String(), "customers"); n != 30 {
		t.Errorf("first start loaded %d customers, want 30", n)
	}

	produce(t, addr, "customers", []kv{{[]byte("c1"), customer(testapps.Customer{Name: "name1", Country: "FR"})}})
	logsB := &lockedBuffer{}
	runApp(t, top, streams.Config{ApplicationID: "global-ckpt", Brokers: []string{addr}, StateDir: dir,
		Logger: slog.New(slog.NewTextHandler(logsB, nil))})
	order("o2", "c1")
	order("o3", "c5")
	if got := country("o2"); got != "FR" {
		t.Errorf("o2 (c1 moved to FR): %q", got)
	}
	if got := country("o3"); got != "UK" {
		t.Errorf("o3 (c5, loaded before the restart): %q", got)
	}
	if n := restoredRecords(logsB.String(), "customers"); n != 1 {
		t.Errorf("second start applied %d customer records, want 1 (the update since the checkpoint)", n)
	}
}
