package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// The REST subcommands of eddy connect against a worker: create from a
// properties file, list, status, config (read and PATCH), pause, resume,
// delete; errors from the API exit with 1 and its message.
func TestConnectRESTCommands(t *testing.T) {
	b := startTestBroker(t)
	w, err := connectors.NewWorker(context.Background(), connectors.WorkerConfig{Brokers: []string{b.Addr()},
		OffsetsPartitions: 1, StatusPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	u := []string{"--url", srv.URL}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	props := filepath.Join(dir, "src.properties")
	os.WriteFile(in, []byte("a\nb\n"), 0o644)
	os.WriteFile(props, []byte("name=src\nconnector.class=FileStreamSource\nfile="+in+"\ntopic=rest-cli\n"), 0o644)

	out := eddy(t, nil, "", append([]string{"connect", "create", props}, u...)...).ok(t)
	if !strings.Contains(out, props) || !strings.Contains(out, "OK") {
		t.Fatalf("create:\n%s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out = eddy(t, nil, "", append([]string{"connect", "list"}, u...)...).ok(t)
		rows := tableRows(out)
		if len(rows) == 2 && rows[1][0] == "src" && rows[1][1] == "source" && rows[1][2] == "RUNNING" && rows[1][3] == "1/1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list never showed src running:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := decodeJSON[restStatus](t, eddy(t, nil, "", append([]string{"connect", "status", "src", "-o", "json"}, u...)...).ok(t))
	if st.Name != "src" || len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" {
		t.Fatalf("status: %+v", st)
	}
	cfg := decodeJSON[map[string]string](t, eddy(t, nil, "", append([]string{"connect", "config", "src", "--set", "topic=other",
		"--set", "batch.size=5", "-o", "json"}, u...)...).ok(t))
	if cfg["topic"] != "other" || cfg["batch.size"] != "5" || cfg["file"] != in {
		t.Fatalf("config after --set: %v", cfg)
	}
	cfg = decodeJSON[map[string]string](t, eddy(t, nil, "", append([]string{"connect", "config", "src", "--delete", "batch.size", "-o", "json"}, u...)...).ok(t))
	if _, ok := cfg["batch.size"]; ok || cfg["topic"] != "other" {
		t.Fatalf("config after --delete: %v", cfg)
	}
	eddy(t, nil, "", append([]string{"connect", "pause", "src"}, u...)...).ok(t)
	if st, _ := w.Status("src"); st.Connector.State != connectors.StatePaused {
		t.Fatalf("after pause: %+v", st.Connector)
	}
	eddy(t, nil, "", append([]string{"connect", "resume", "src"}, u...)...).ok(t)
	if out := eddy(t, nil, "", append([]string{"connect", "plugins"}, u...)...).ok(t); !strings.Contains(out, "FileStreamSourceConnector") {
		t.Fatalf("plugins:\n%s", out)
	}

	// Errors: the API's message and exit code 1; a bad flag exit code 2;
	// nothing listening: a hint.
	r := eddy(t, nil, "", append([]string{"connect", "status", "nope"}, u...)...)
	if r.code() != exitError || !strings.Contains(r.err.Error(), "Connector nope not found (HTTP 404)") {
		t.Fatalf("status of a missing connector: %d %v", r.code(), r.err)
	}
	r = eddy(t, nil, "", append([]string{"connect", "create", props}, u...)...)
	if r.code() != exitError || !strings.Contains(r.stdout, "already exists") {
		t.Fatalf("second create: %d %v\n%s", r.code(), r.err, r.stdout)
	}
	if r = eddy(t, nil, "", append([]string{"connect", "config", "src", "--set", "novalue"}, u...)...); r.code() != exitUsage {
		t.Fatalf("--set without =: %d %v", r.code(), r.err)
	}
	if r = eddy(t, nil, "", "connect", "list", "--url", "http://127.0.0.1:1"); r.code() != exitError ||
		!strings.Contains(r.err.Error(), "is eddy connect running there?") {
		t.Fatalf("unreachable worker: %d %v", r.code(), r.err)
	}
	eddy(t, nil, "", append([]string{"connect", "delete", "src"}, u...)...).ok(t)
	if names := w.Connectors(); len(names) != 0 {
		t.Fatalf("after delete: %v", names)
	}
}
