package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/datagen"
	"github.com/eddy-streams/eddy/console"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startBroker runs an embedded broker on a free loopback port for one test.
func startBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newConsole serves a console of the cluster at addr with httptest.
func newConsole(t testing.TB, addr, connectURL string) (*console.Console, *httptest.Server) {
	t.Helper()
	c, err := console.New(console.Config{
		Brokers: []string{addr}, ConnectURL: connectURL, Logger: quietLogger(),
		SampleInterval: 100 * time.Millisecond, RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(func() { srv.Close(); c.Close() })
	return c, srv
}

// admin is a franz-go admin client of the cluster at addr.
func admin(t testing.TB, addr string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// produce writes records synchronously and fails the test on any error.
func produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// get calls the console's API and decodes its JSON answer into out,
// failing unless the status is want.
func get(t testing.TB, url string, want int, out any) {
	t.Helper()
	call(t, http.MethodGet, url, nil, want, out)
}

func call(t testing.TB, method, url string, hdr http.Header, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, url, resp.StatusCode, want, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON", method, url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, body)
		}
	}
}

// waitFor polls cond until it holds or d passes; cond describes what it
// saw last, for the failure message.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw %s", d, what, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// startConnect runs a connectors worker against addr with its REST API on
// an httptest server, and creates a datagen connector named name.
func startConnect(t testing.TB, addr, name string) (*connectors.Worker, string) {
	t.Helper()
	w, err := connectors.NewWorker(context.Background(), connectors.WorkerConfig{
		Brokers: []string{addr}, OffsetsPartitions: 1, OffsetFlushInterval: 200 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(func() { srv.Close(); w.Close() })
	cfg := map[string]string{
		"name": name, "connector.class": "DatagenSource", "quickstart": "pageviews",
		"kafka.topic": name + "-views", "records.per.second": "20", "tasks.max": "1",
	}
	if _, _, err := w.CreateConnector(name, cfg, false); err != nil {
		t.Fatal(err)
	}
	waitConnector(t, w, name, "RUNNING")
	return w, srv.URL
}

// waitConnector waits until the connector and its tasks are in state.
func waitConnector(t testing.TB, w *connectors.Worker, name, state string) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("connector %s %s", name, state), func() (bool, string) {
		st, err := w.Status(name)
		if err != nil {
			return false, err.Error()
		}
		if st.Connector.State != state || len(st.Tasks) == 0 {
			return false, fmt.Sprintf("%+v", st)
		}
		for _, tk := range st.Tasks {
			if tk.State != state {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
}

// newServer serves h with httptest and returns its URL.
func newServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// lateHandler serves a handler set after the server started.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h.Load()
	if h == nil {
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

// startBrokerWith runs a broker whose HTTP listener serves h beside /metrics.
func startBrokerWith(t testing.TB, h http.Handler) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", HTTPHandler: h,
		GroupInitialRebalanceDelay: -1, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
