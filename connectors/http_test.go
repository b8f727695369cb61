package connectors_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/http"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Webhooks in, batches out: HTTP source → topic → HTTP sink, with the
// receiving endpoint failing transiently at first.
func TestHTTPSourceToHTTPSink(t *testing.T) {
	var (
		mu       sync.Mutex
		received []any
		calls    int
	)
	endpoint := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			http.Error(rw, "try later", http.StatusServiceUnavailable)
			return
		}
		var batch []any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil || r.Header.Get("X-Source") != "eddy" {
			http.Error(rw, "bad request", http.StatusBadRequest)
			return
		}
		received = append(received, batch...)
	}))
	defer endpoint.Close()

	addr := startBroker(t)
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) {
		c.ValueConverterProps = map[string]string{"schemas.enable": "false"}
	})
	listen := freeAddr(t)
	if _, _, err := w.CreateConnector("hooks", map[string]string{"connector.class": "HttpSource",
		"http.listen": listen, "http.path": "/webhook", "topic": "hooks"}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.CreateConnector("out", map[string]string{"connector.class": "HttpSink", "topics": "hooks",
		"http.api.url": endpoint.URL, "headers": "X-Source:eddy", "retry.backoff.ms": "10"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the webhook listener", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for i := range 5 {
		resp, err := http.Post("http://"+listen+"/webhook", "application/json", strings.NewReader(fmt.Sprintf(`{"event":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook %d: %d %s", i, resp.StatusCode, b)
		}
	}
	waitFor(t, 15*time.Second, "5 records at the endpoint", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) >= 5
	})
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 5 || received[0].(map[string]any)["event"] != float64(0) {
		t.Fatalf("received %v", received)
	}
}
