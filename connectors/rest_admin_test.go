package connectors_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// PATCH /connectors/{name}/config (KIP-477) and /admin/loggers (KIP-495),
// driven as a Kafka Connect user would with curl.
func TestRESTPatchConfigAndLoggers(t *testing.T) {
	addr := startBroker(t)
	w := startWorker(t, addr, nil)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	u := srv.URL
	in := filepath.Join(t.TempDir(), "in.txt")
	appendLines(t, in, "a")

	expect(t, "POST", u+"/connectors", `{"name":"src","config":{"connector.class":"FileStreamSource","file":"`+in+`","topic":"t1","batch.size":"10"}}`, 201)
	info := expect(t, "PATCH", u+"/connectors/src/config", `{"topic":"t2","batch.size":null,"tasks.max":1}`, 200).(map[string]any)
	cfg := info["config"].(map[string]any)
	if cfg["topic"] != "t2" || cfg["file"] != in || cfg["tasks.max"] != "1" {
		t.Fatalf("patched config = %v", cfg)
	}
	if _, ok := cfg["batch.size"]; ok {
		t.Fatalf("batch.size still set after null: %v", cfg)
	}
	got := expect(t, "GET", u+"/connectors/src/config", "", 200).(map[string]any)
	if got["topic"] != "t2" {
		t.Fatalf("GET config after PATCH = %v", got)
	}
	expectError(t, "PATCH", u+"/connectors/nope/config", `{"topic":"x"}`, 404, "Connector nope not found")
	expectError(t, "PATCH", u+"/connectors/src/config", `{"connector.class":"NoSuchConnector"}`, 400, "NoSuchConnector")
	expectError(t, "PATCH", u+"/connectors/src/config", `{"name":null}`, 400, "cannot be removed")
	expectError(t, "PATCH", u+"/connectors/src/config", `[1]`, 400, "not valid JSON")

	loggers := expect(t, "GET", u+"/admin/loggers", "", 200).(map[string]any)
	for _, name := range []string{"root", "eddy.connect.runtime", "eddy.connect.connector.src"} {
		if _, ok := loggers[name].(map[string]any)["level"]; !ok {
			t.Fatalf("GET /admin/loggers lacks %s: %v", name, loggers)
		}
	}
	changed := expect(t, "PUT", u+"/admin/loggers/eddy.connect", `{"level":"DEBUG"}`, 200).([]any)
	if len(changed) != 3 || changed[0] != "eddy.connect" || changed[1] != "eddy.connect.connector.src" || changed[2] != "eddy.connect.runtime" {
		t.Fatalf("PUT eddy.connect changed %v", changed)
	}
	one := expect(t, "GET", u+"/admin/loggers/eddy.connect.connector.src", "", 200).(map[string]any)
	if one["level"] != "DEBUG" || one["last_modified"] == nil {
		t.Fatalf("GET logger after PUT = %v", one)
	}
	expect(t, "PUT", u+"/admin/loggers/eddy.connect.runtime?scope=cluster", `{"level":"warn"}`, 204)
	if l := expect(t, "GET", u+"/admin/loggers/eddy.connect.runtime", "", 200).(map[string]any); l["level"] != "WARN" {
		t.Fatalf("runtime logger = %v", l)
	}
	expectError(t, "PUT", u+"/admin/loggers/root", `{"level":"LOUD"}`, 400, "Invalid log level 'LOUD'")
	expectError(t, "PUT", u+"/admin/loggers/root", `{}`, 400, "'level' parameter was not specified")
	expectError(t, "PUT", u+"/admin/loggers/root?scope=galaxy", `{"level":"INFO"}`, 400, "Invalid scope")
	expectError(t, "GET", u+"/admin/loggers/no.such.logger", "", 404, "Logger no.such.logger not found")
}
