package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/console"
)

// chromiumPath finds Debian's chromium (or the browser named by
// EDDY_CHROMIUM).
func chromiumPath() string {
	if p := os.Getenv("EDDY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts headless Chromium with flags that keep it from
// reaching for the network (it hangs on a closed network otherwise) and
// returns a tab's context.
func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("no chromium: install Debian's chromium (apt-get install -y chromium chromium-driver) or set EDDY_CHROMIUM")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tab); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return tab
}

// consoleLog collects the errors the page writes to its console: calls of
// console.error, uncaught exceptions, failed loads.
type consoleLog struct {
	mu     sync.Mutex
	errors []string
	done   chan struct{}
}

func collectConsole(ctx context.Context) *consoleLog {
	cl := &consoleLog{done: make(chan struct{})}
	msgs := chromedp.Console(ctx)
	go func() {
		defer close(cl.done)
		for m, err := range msgs {
			if err != nil {
				return // the tab's context ended
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				cl.mu.Lock()
				cl.errors = append(cl.errors, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				cl.mu.Unlock()
			}
		}
	}()
	return cl
}

func (cl *consoleLog) take() []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	e := cl.errors
	cl.errors = nil
	return e
}

// TestBrowser loads every page of the console in headless Chromium against
// a real broker, a real connectors worker and a registered streams app, and
// checks what the pages show and do.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	shots := os.Getenv("EDDY_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// The cluster: a topic with records, a group 7 records behind, a
	// connector, a streams app.
	b := startBroker(t)
	cl, adm := admin(t, b.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprintf("order-%d", i)),
			Value:   []byte(fmt.Sprintf(`{"order":%d,"note":"<b>not bold</b> from the browser test"}`, i)),
			Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("browser-test")}}})
	}
	produce(t, cl, recs...)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	w, connectURL := startConnect(t, b.Addr(), "gen")
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, console.StreamsAppsTopic); err != nil {
		t.Fatal(err)
	}
	app, _ := json.Marshal(console.StreamsApp{ApplicationID: "wordcount", UpdatedMs: time.Now().UnixMilli(), Instances: 1,
		Subtopologies: []console.Subtopology{
			{ID: 0, Nodes: []console.TopologyNode{
				{Name: "KSTREAM-SOURCE-0000000000", Type: "source", Topics: []string{"lines"}, Successors: []string{"KSTREAM-FLATMAPVALUES-0000000001"}},
				{Name: "KSTREAM-FLATMAPVALUES-0000000001", Type: "processor", Successors: []string{"KSTREAM-SINK-0000000002"}},
				{Name: "KSTREAM-SINK-0000000002", Type: "sink", Topics: []string{"wordcount-repartition"}},
			}},
			{ID: 1, Nodes: []console.TopologyNode{
				{Name: "KSTREAM-SOURCE-0000000003", Type: "source", Topics: []string{"wordcount-repartition"}, Successors: []string{"KSTREAM-AGGREGATE-0000000004"}},
				{Name: "KSTREAM-AGGREGATE-0000000004", Type: "processor", Stores: []string{"counts"}, Successors: []string{"KSTREAM-SINK-0000000005"}},
				{Name: "KSTREAM-SINK-0000000005", Type: "sink", Topics: []string{"word-counts"}},
			}},
		}})
	produce(t, cl, &kgo.Record{Topic: console.StreamsAppsTopic, Key: []byte("wordcount"), Value: app})

	_, srv := newConsole(t, b.Addr(), connectURL)
	tab := startBrowser(t, ctx)
	logs := collectConsole(tab)

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// text reads an element's text in one evaluation: the pages replace
	// their tables on every refresh, so a node found by one call may be
	// gone by the next.
	text := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(document.querySelector(`+string(q)+`) || {innerText: ''}).innerText`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// waitText waits until the element's text is want (pages refresh
	// themselves from the API).
	waitText := func(sel, want string) {
		t.Helper()
		waitFor(t, 20*time.Second, fmt.Sprintf("%s to read %q", sel, want), func() (bool, string) {
			s := text(sel)
			return s == want, s
		})
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if errs := logs.take(); len(errs) > 0 {
			t.Errorf("page %s wrote errors to the console:\n%s", name, strings.Join(errs, "\n"))
		}
		// Values the script failed to format show up as these words.
		for _, line := range strings.Split(text("main"), "\n") {
			line = strings.TrimSpace(line)
			if line == "null" || strings.Contains(line, "undefined") || strings.Contains(line, "[object ") || strings.Contains(line, "NaN") {
				t.Errorf("page %s shows %q", name, line)
			}
		}
	}
	// click clicks an element with the mouse, again if the page replaced
	// it between finding and clicking (tables are redrawn on refresh).
	click := func(sel string) {
		t.Helper()
		waitFor(t, 15*time.Second, "a click on "+sel, func() (bool, string) {
			cctx, cancel := context.WithTimeout(tab, 5*time.Second)
			defer cancel()
			if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	nav := func(page string) {
		t.Helper()
		do("open "+page, chromedp.Click(chromedp.CSS(`header nav a[data-page="`+page+`"]`)))
	}

	// Overview: cluster numbers, the throughput chart.
	do("load the console", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#ov-cards .card")),
		chromedp.WaitVisible(chromedp.CSS("#ov-chart canvas")))
	if s := strings.ToUpper(text("#ov-cards")); !strings.Contains(s, "TOPICS") || !strings.Contains(s, "CONSUMER GROUPS") {
		t.Fatalf("overview cards: %q", s)
	}
	// Hovering the chart shows the values at that time.
	waitFor(t, 20*time.Second, "samples in the overview chart", func() (bool, string) {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`!!document.querySelector('#ov-chart canvas').chart`))
		return ok && err == nil, fmt.Sprint(err)
	})
	box, err := chromedp.Run(tab, chromedp.Evaluate[[]float64](
		`(r => [r.left + r.width / 2, r.top + r.height / 2])(document.querySelector('#ov-chart canvas').getBoundingClientRect())`))
	if err != nil || len(box) != 2 {
		t.Fatalf("chart position: %v %v", box, err)
	}
	do("hover the chart", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1]))
	if tip := text("#ov-chart .tip"); !strings.Contains(tip, "all topics: ") || !strings.Contains(tip, "/s") {
		t.Fatalf("chart tooltip: %q", tip)
	}
	shot("overview")

	// Topics: orders with its 10 records.
	nav("topics")
	do("topics table", chromedp.WaitVisible(chromedp.CSS(`tr[data-topic="orders"]`)))
	waitText(`tr[data-topic="orders"] td.records`, "10")
	shot("topics")

	// Topic detail and message browser: the produced value, as text (the
	// markup in it is not interpreted).
	click(`tr[data-topic="orders"] a`)
	do("records of orders", chromedp.WaitVisible(chromedp.CSS(`#records tr[data-offset="9"]`)))
	if s := text(`#records tr[data-offset="4"] td.value`); !strings.Contains(s, `"note": "<b>not bold</b> from the browser test"`) ||
		!strings.Contains(s, `"order": 4`) {
		t.Fatalf("value of offset 4 in the browser: %q", s)
	}
	if s := text(`#records tr[data-offset="4"]`); !strings.Contains(s, "order-4") || !strings.Contains(s, "origin: browser-test") {
		t.Fatalf("row of offset 4: %q", s)
	}
	// Read from offset 7 with the form.
	do("read from offset 7",
		chromedp.SetValue(chromedp.CSS("#rb-from"), "offset"),
		chromedp.SetValue(chromedp.CSS("#rb-offset"), "7"),
		chromedp.Click(chromedp.CSS("#rb-read")),
		chromedp.WaitNotPresent(chromedp.CSS(`#records tr[data-offset="4"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#records tr[data-offset="7"]`)))
	if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('#records tbody tr').length`)); err != nil || n != 3 {
		t.Fatalf("rows from offset 7: %d (%v), want 3", n, err)
	}
	shot("topic")

	// Consumer groups: the real lag, 10 - 3.
	nav("groups")
	do("groups table", chromedp.WaitVisible(chromedp.CSS(`tr[data-group="billing"]`)))
	waitText(`tr[data-group="billing"] td.lag`, "7")
	shot("groups")
	click(`tr[data-group="billing"] a`)
	do("billing's partitions", chromedp.WaitVisible(chromedp.CSS("#group-partitions")))
	waitText("#group-lag", "7")
	shot("group")

	// Connectors: pause and resume gen from the page; Connect's REST API
	// says so.
	restState := func() string {
		resp, err := http.Get(connectURL + "/connectors/gen/status")
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Connector struct{ State string } }
		if err := json.Unmarshal([]byte(readAll(t, resp)), &st); err != nil {
			t.Fatal(err)
		}
		return st.Connector.State
	}
	nav("connectors")
	pause := `button[data-connector="gen"][data-action="pause"]`
	resume := `button[data-connector="gen"][data-action="resume"]`
	do("connectors table", chromedp.WaitEnabled(chromedp.CSS(pause)))
	waitText(`tr[data-connector="gen"] td.state`, "RUNNING")
	shot("connectors")
	click(pause)
	waitFor(t, 15*time.Second, "gen PAUSED in Connect's REST API", func() (bool, string) { s := restState(); return s == "PAUSED", s })
	waitText(`tr[data-connector="gen"] td.state`, "PAUSED")
	shot("connectors-paused")
	do("Resume enabled", chromedp.WaitEnabled(chromedp.CSS(resume)))
	click(resume)
	waitFor(t, 15*time.Second, "gen RUNNING in Connect's REST API", func() (bool, string) { s := restState(); return s == "RUNNING", s })
	waitConnector(t, w, "gen", "RUNNING")
	waitText(`tr[data-connector="gen"] td.state`, "RUNNING")

	// Streams: the topology drawn from __eddy_streams_apps.
	nav("streams")
	do("streams graph", chromedp.WaitVisible(chromedp.CSS(`div[data-app="wordcount"] svg.topology`)))
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('div[data-app="wordcount"] svg.topology g.node').length`))
	if err != nil {
		t.Fatal(err)
	}
	// 6 processor nodes and 3 topics (lines, the repartition topic drawn in
	// both sub-topologies, word-counts): 6 + 4.
	if n != 10 {
		t.Fatalf("graph nodes: %d, want 10", n)
	}
	edges, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('div[data-app="wordcount"] svg.topology path[marker-end]').length`))
	if err != nil || edges != 8 {
		t.Fatalf("graph edges: %d (%v), want 8", edges, err)
	}
	if s := text(`div[data-app="wordcount"]`); !strings.Contains(s, "stores: counts") {
		t.Fatalf("streams app text: %q", s)
	}
	shot("streams")
	t.Logf("screenshots in %s", shots)

	cancel()
	<-logs.done
}
