package connectors_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// restWorker is a distributed worker serving its REST API on a loopback
// port that it advertises as its RESTURL; forwarded counts the requests
// it received with ?forward=false (forwarded to it as the leader).
type restWorker struct {
	w         *connectors.Worker
	url       string
	forwarded atomic.Int64
}

func startRESTWorker(t *testing.T, addr, id string) *restWorker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rw := &restWorker{url: "http://" + ln.Addr().String()}
	rw.w = startWorker(t, addr, func(c *connectors.WorkerConfig) {
		c.GroupID, c.WorkerID, c.RESTURL = "forwarding", id, rw.url
	})
	h := rw.w.Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(resp http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("forward") == "false" {
			rw.forwarded.Add(1)
		}
		h.ServeHTTP(resp, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rw
}

// In distributed mode, changes sent to a worker that is not the leader go
// to the leader, which orders them: of two creations of one name sent to
// the two workers at once, exactly one succeeds. Log levels set with
// scope=cluster reach every worker.
func TestRESTForwardsToLeader(t *testing.T) {
	addr := startBroker(t)
	w1, w2 := startRESTWorker(t, addr, "w1"), startRESTWorker(t, addr, "w2")
	expect(t, "POST", w1.url+"/connectors", `{"name":"gen","config":{"connector.class":"DatagenSource","quickstart":"users",
		"kafka.topic":"users","tasks.max":"2","iterations":"10"}}`, 201)
	waitFor(t, 30*time.Second, "a task on each worker (the group has a leader)", func() bool {
		m := tasksByWorker(w1.w, "gen")
		return m["w1"] == 1 && m["w2"] == 1
	})

	// One request to each worker: the leader's own is handled there, the
	// other's is forwarded to it.
	before := w1.forwarded.Load() + w2.forwarded.Load()
	expect(t, "PUT", w1.url+"/connectors/gen/config", `{"connector.class":"DatagenSource","quickstart":"users",
		"kafka.topic":"users","tasks.max":"2","iterations":"20"}`, 200)
	info := expect(t, "PATCH", w2.url+"/connectors/gen/config", `{"iterations":"30"}`, 200).(map[string]any)
	if info["config"].(map[string]any)["iterations"] != "30" {
		t.Fatalf("PATCH through w2 answered %v", info)
	}
	if got := w1.forwarded.Load() + w2.forwarded.Load() - before; got != 1 {
		t.Fatalf("%d requests were forwarded, want 1", got)
	}
	if cfg, _ := w1.w.Config("gen"); cfg["iterations"] != "30" {
		t.Fatalf("w1's config after the forwarded PATCH: %v", cfg)
	}

	// Concurrent creations of one name through both workers: one 201, one 409.
	for i := range 3 {
		name := fmt.Sprintf("race-%d", i)
		body := `{"name":"` + name + `","config":{"connector.class":"DatagenSource","quickstart":"users","kafka.topic":"u","iterations":"1"}}`
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for j, rw := range []*restWorker{w1, w2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[j], _ = callNoFatal(rw.url+"/connectors", body)
			}()
		}
		wg.Wait()
		if !(codes[0] == 201 && codes[1] == 409 || codes[0] == 409 && codes[1] == 201) {
			t.Fatalf("two creations of %s answered %v, want one 201 and one 409", name, codes)
		}
	}

	// A level set with scope=cluster reaches every worker through the
	// configs topic, and a worker that starts later reads it too.
	expect(t, "PUT", w1.url+"/admin/loggers/eddy.connect.connector?scope=cluster", `{"level":"DEBUG"}`, 204)
	waitFor(t, 10*time.Second, "DEBUG on w2", func() bool {
		l, err := w2.w.Logger("eddy.connect.connector.gen")
		return err == nil && l.Level == "DEBUG"
	})
	w3 := startWorker(t, addr, func(c *connectors.WorkerConfig) { c.GroupID, c.WorkerID = "forwarding", "w3" })
	if l, err := w3.Logger("eddy.connect.connector.gen"); err != nil || l.Level != "DEBUG" {
		t.Fatalf("w3's level: %+v, %v", l, err)
	}
	if l, _ := w3.Logger("eddy.connect.runtime"); l.Level == "DEBUG" {
		t.Fatalf("a sibling logger changed too: %+v", l)
	}
}

// callNoFatal POSTs body to url (from any goroutine) and returns the status.
func callNoFatal(url, body string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
