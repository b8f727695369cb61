package connectors_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// call makes one HTTP request the way curl would and decodes the JSON
// answer (if any) into a generic value.
func call(t *testing.T, method, url, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %q", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, v
}

func expect(t *testing.T, method, url, body string, wantCode int) any {
	t.Helper()
	code, v := call(t, method, url, body)
	if code != wantCode {
		t.Fatalf("%s %s: status %d, want %d; body %v", method, url, code, wantCode, v)
	}
	return v
}

// expectError checks Kafka Connect's error payload.
func expectError(t *testing.T, method, url, body string, wantCode int, wantMsg string) {
	t.Helper()
	v := expect(t, method, url, body, wantCode)
	m, _ := v.(map[string]any)
	if m["error_code"] != float64(wantCode) || !strings.Contains(m["message"].(string), wantMsg) {
		t.Fatalf("%s %s: error payload %v, want error_code %d and a message with %q", method, url, v, wantCode, wantMsg)
	}
}

func TestRESTAPI(t *testing.T) {
	addr := startBroker(t)
	w := startWorker(t, addr, nil)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	u := srv.URL
	in := filepath.Join(t.TempDir(), "in.txt")
	appendLines(t, in, "a", "b", "c")

	root := expect(t, "GET", u+"/", "", 200).(map[string]any)
	if root["version"] == "" {
		t.Fatalf("GET / = %v", root)
	}
	plugins := expect(t, "GET", u+"/connector-plugins", "", 200).([]any)
	var classes []string
	for _, p := range plugins {
		classes = append(classes, p.(map[string]any)["class"].(string))
	}
	if !strings.Contains(strings.Join(classes, ","), "org.apache.kafka.connect.file.FileStreamSourceConnector") {
		t.Fatalf("plugins = %v", classes)
	}
	expect(t, "GET", u+"/connectors", "", 200)

	// Bad configs get 400 with Kafka Connect's payload.
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":{"connector.class":"FileStreamSource","topic":"t"}}`,
		400, `Missing required configuration "file" which has no default value.`)
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":{"topic":"t"}}`, 400, "contains no connector type")
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":{"connector.class":"NoSuch"}}`, 400, "Failed to find any class")
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":{"connector.class":"FileStreamSource","file":"x","topic":"t","tasks.max":"zero"}}`,
		400, "Invalid value zero for configuration tasks.max")
	expectError(t, "POST", u+"/connectors", `{"name":"snk","config":{"connector.class":"FileStreamSink"}}`,
		400, "Must configure one of topics or topics.regex")
	expectError(t, "POST", u+"/connectors", `not json`, 400, "")
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":{"connector.class":"FileStreamSource","file":"x","topic":"t",
		"transforms":"a","transforms.a.type":"NoSuchTransform"}}`, 400, "NoSuchTransform")

	cfg := `{"connector.class":"FileStreamSource","tasks.max":"1","file":"` + in + `","topic":"rest-test"}`
	created := expect(t, "POST", u+"/connectors", `{"name":"src","config":`+cfg+`}`, 201).(map[string]any)
	if created["name"] != "src" || created["type"] != "source" || len(created["tasks"].([]any)) != 1 ||
		created["config"].(map[string]any)["name"] != "src" {
		t.Fatalf("created = %v", created)
	}
	expectError(t, "POST", u+"/connectors", `{"name":"src","config":`+cfg+`}`, 409, "Connector src already exists")
	if got := expect(t, "GET", u+"/connectors", "", 200).([]any); len(got) != 1 || got[0] != "src" {
		t.Fatalf("GET /connectors = %v", got)
	}
	expectError(t, "GET", u+"/connectors/nope", "", 404, "Connector nope not found")
	expectError(t, "GET", u+"/connectors/nope/status", "", 404, "Connector nope not found")
	expectError(t, "GET", u+"/no/such/path", "", 404, "HTTP 404 Not Found")

	status := func() (string, string) {
		st := expect(t, "GET", u+"/connectors/src/status", "", 200).(map[string]any)
		tasks := st["tasks"].([]any)
		if len(tasks) != 1 {
			return st["connector"].(map[string]any)["state"].(string), ""
		}
		return st["connector"].(map[string]any)["state"].(string), tasks[0].(map[string]any)["state"].(string)
	}
	waitFor(t, 10*time.Second, "RUNNING", func() bool { c, tk := status(); return c == "RUNNING" && tk == "RUNNING" })
	st := expect(t, "GET", u+"/connectors/src/status", "", 200).(map[string]any)
	if st["type"] != "source" || st["connector"].(map[string]any)["worker_id"] == "" {
		t.Fatalf("status = %v", st)
	}
	ts := expect(t, "GET", u+"/connectors/src/tasks/0/status", "", 200).(map[string]any)
	if ts["id"] != float64(0) || ts["state"] != "RUNNING" {
		t.Fatalf("task status = %v", ts)
	}
	expectError(t, "GET", u+"/connectors/src/tasks/7/status", "", 404, "Task src-7 not found")
	tasks := expect(t, "GET", u+"/connectors/src/tasks", "", 200).([]any)
	if id := tasks[0].(map[string]any)["id"].(map[string]any); id["connector"] != "src" || id["task"] != float64(0) {
		t.Fatalf("tasks = %v", tasks)
	}
	if c := expect(t, "GET", u+"/connectors/src/config", "", 200).(map[string]any); c["topic"] != "rest-test" {
		t.Fatalf("config = %v", c)
	}

	// Offsets appear once the three lines are acknowledged and flushed.
	waitFor(t, 10*time.Second, "offsets", func() bool {
		o := expect(t, "GET", u+"/connectors/src/offsets", "", 200).(map[string]any)["offsets"].([]any)
		return len(o) == 1 && o[0].(map[string]any)["offset"].(map[string]any)["line"] == float64(3)
	})

	expect(t, "PUT", u+"/connectors/src/pause", "", 202)
	waitFor(t, 10*time.Second, "PAUSED", func() bool { c, tk := status(); return c == "PAUSED" && tk == "PAUSED" })
	expect(t, "PUT", u+"/connectors/src/resume", "", 202)
	waitFor(t, 10*time.Second, "RUNNING again", func() bool { c, tk := status(); return c == "RUNNING" && tk == "RUNNING" })

	// PUT config updates (200) or creates (201).
	upd := expect(t, "PUT", u+"/connectors/src/config", strings.Replace(cfg, "rest-test", "rest-test-2", 1), 200).(map[string]any)
	if upd["config"].(map[string]any)["topic"] != "rest-test-2" {
		t.Fatalf("updated = %v", upd)
	}
	expect(t, "PUT", u+"/connectors/src2/config", cfg, 201)
	expectError(t, "PUT", u+"/connectors/src3/config", `{"connector.class":"FileStreamSource","name":"other","file":"x","topic":"t"}`,
		400, "doesn't match connector name in the URL")

	expect(t, "POST", u+"/connectors/src/restart", "", 204)
	rs := expect(t, "POST", u+"/connectors/src/restart?includeTasks=true", "", 202).(map[string]any)
	if rs["name"] != "src" {
		t.Fatalf("restart = %v", rs)
	}
	expect(t, "POST", u+"/connectors/src/tasks/0/restart", "", 204)
	waitFor(t, 10*time.Second, "RUNNING after restart", func() bool { c, tk := status(); return c == "RUNNING" && tk == "RUNNING" })

	// Offsets change only while the connector is stopped (KIP-875).
	patch := `{"offsets":[{"partition":{"filename":"` + in + `"},"offset":{"position":2,"line":1}}]}`
	expectError(t, "PATCH", u+"/connectors/src/offsets", patch, 400, "must be in the STOPPED state")
	expect(t, "PUT", u+"/connectors/src/stop", "", 202)
	waitFor(t, 10*time.Second, "STOPPED", func() bool { c, _ := status(); return c == "STOPPED" })
	if m := expect(t, "PATCH", u+"/connectors/src/offsets", patch, 200).(map[string]any); !strings.Contains(m["message"].(string), "altered successfully") {
		t.Fatalf("PATCH offsets = %v", m)
	}
	o := expect(t, "GET", u+"/connectors/src/offsets", "", 200).(map[string]any)["offsets"].([]any)
	if len(o) != 1 || o[0].(map[string]any)["offset"].(map[string]any)["line"] != float64(1) {
		t.Fatalf("offsets after PATCH = %v", o)
	}
	expect(t, "DELETE", u+"/connectors/src/offsets", "", 200)
	if o := expect(t, "GET", u+"/connectors/src/offsets", "", 200).(map[string]any)["offsets"].([]any); len(o) != 0 {
		t.Fatalf("offsets after DELETE = %v", o)
	}
	expect(t, "PUT", u+"/connectors/src/resume", "", 202)
	waitFor(t, 10*time.Second, "RUNNING after stop", func() bool { c, tk := status(); return c == "RUNNING" && tk == "RUNNING" })

	exp := expect(t, "GET", u+"/connectors?expand=status&expand=info", "", 200).(map[string]any)
	if _, ok := exp["src"].(map[string]any)["status"]; !ok {
		t.Fatalf("expanded = %v", exp)
	}

	// Validation answers 200 with the errors in the body.
	v := expect(t, "PUT", u+"/connector-plugins/FileStreamSourceConnector/config/validate",
		`{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","topic":"t","name":"x"}`, 200).(map[string]any)
	if v["name"] != "FileStreamSourceConnector" || v["error_count"] != float64(1) {
		t.Fatalf("validate = %v", v)
	}
	var fileErrs []any
	for _, c := range v["configs"].([]any) {
		c := c.(map[string]any)
		if c["definition"].(map[string]any)["name"] == "file" {
			fileErrs = c["value"].(map[string]any)["errors"].([]any)
		}
	}
	if len(fileErrs) != 1 {
		t.Fatalf("validate: errors of file = %v", fileErrs)
	}
	v = expect(t, "PUT", u+"/connector-plugins/FileStreamSink/config/validate",
		`{"connector.class":"FileStreamSink","topics":"t","name":"x"}`, 200).(map[string]any)
	if v["error_count"] != float64(0) {
		t.Fatalf("validate of a good config = %v", v)
	}

	expect(t, "DELETE", u+"/connectors/src", "", 204)
	expect(t, "DELETE", u+"/connectors/src2", "", 204)
	expectError(t, "GET", u+"/connectors/src", "", 404, "Connector src not found")
	expectError(t, "DELETE", u+"/connectors/src", "", 404, "Connector src not found")
	if got := expect(t, "GET", u+"/connectors", "", 200).([]any); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}
