package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/broker"
)

func TestConsoleHelpAndErrors(t *testing.T) {
	out := eddy(t, nil, "", "console", "--help").ok(t)
	for _, want := range []string{"--brokers", "--connect", "--listen", "Apache Kafka or Redpanda alike", "no login", "eddy broker --http"} {
		if !strings.Contains(out, want) {
			t.Errorf("console --help lacks %q:\n%s", want, out)
		}
	}
	r := eddy(t, nil, "", "console", "--brokers", "127.0.0.1:1", "--timeout", "2s", "--listen", "127.0.0.1:0")
	if r.code() != exitError || !strings.Contains(r.err.Error(), "Kafka cluster at 127.0.0.1:1") ||
		!strings.Contains(r.err.Error(), "set --brokers") {
		t.Errorf("console with no cluster: code %d, err %v", r.code(), r.err)
	}
	r = eddy(t, nil, "", "console", "--connect", "localhost:8083")
	if r.code() != exitUsage || !strings.Contains(r.err.Error(), "want http://HOST:PORT") {
		t.Errorf("console with a bad Connect URL: code %d, err %v", r.code(), r.err)
	}
	r = eddy(t, nil, "", "console", "extra")
	if r.code() != exitUsage {
		t.Errorf("console with an argument: code %d, err %v", r.code(), r.err)
	}
}

// serveProcess runs eddy ARGS as a process until the test ends (then
// SIGTERM, and it must exit 0), and returns the first match of re's group
// 1 in its output.
func serveProcess(t *testing.T, re *regexp.Regexp, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := eddyCommand(ctx, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer cancel()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("eddy %v exited with %v; stderr:\n%s", args, err, stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1]
		}
	}
	t.Fatalf("eddy %v printed no line matching %s; stderr:\n%s", args, re, stderr.String())
	return ""
}

func consoleGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestConsoleCommandServes(t *testing.T) {
	b := startTestBroker(t)
	eddy(t, b, "", "topic", "create", "clicks", "-p", "2").ok(t)
	url := serveProcess(t, regexp.MustCompile(`eddy console on (\S+) `), "console", "--brokers", b.Addr(), "--listen", "127.0.0.1:0")
	if code, body := consoleGet(t, url+"/"); code != 200 || !strings.Contains(body, "<title>Eddy console</title>") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	code, body := consoleGet(t, url+"/api/topics")
	var topics struct {
		Topics []struct {
			Name       string
			Partitions int
		}
	}
	if err := json.Unmarshal([]byte(body), &topics); code != 200 || err != nil || len(topics.Topics) != 1 ||
		topics.Topics[0].Name != "clicks" || topics.Topics[0].Partitions != 2 {
		t.Fatalf("GET /api/topics: %d %v\n%s", code, err, body)
	}
}

func TestBrokerCommandServesConsole(t *testing.T) {
	url := serveProcess(t, regexp.MustCompile(`web console on (\S+)`),
		"broker", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	if code, body := consoleGet(t, url); code != 200 || !strings.Contains(body, "<title>Eddy console</title>") {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	if code, body := consoleGet(t, url+"api/overview"); code != 200 || !strings.Contains(body, `"cluster_id"`) {
		t.Fatalf("GET %sapi/overview: %d\n%s", url, code, body)
	}
	if code, body := consoleGet(t, url+"metrics"); code != 200 || !strings.Contains(body, "# TYPE") {
		t.Fatalf("GET %smetrics: %d", url, code)
	}
}

// eddy console reaches a SASL_SSL cluster with the client commands'
// security flags; a wrong password is an error that says so.
func TestConsoleOverSASLSSL(t *testing.T) {
	b, caFile := startSecuredBroker(t, broker.SASLSSL)
	t.Setenv(saslPasswordEnv, "admin-secret")
	sec := []string{"--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin", "--timeout", "5s"}
	eddy(t, b, "", append([]string{"topic", "create", "secured"}, sec...)...).ok(t)
	url := serveProcess(t, regexp.MustCompile(`eddy console on (\S+) `),
		append([]string{"console", "--brokers", b.Addr(), "--listen", "127.0.0.1:0"}, sec...)...)
	if code, body := consoleGet(t, url+"/api/topics"); code != 200 || !strings.Contains(body, `"name":"secured"`) {
		t.Fatalf("GET /api/topics over SASL_SSL: %d\n%s", code, body)
	}
	r := eddy(t, b, "", "console", "--listen", "127.0.0.1:0", "--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512",
		"--sasl-user", "admin", "--sasl-password", "wrong", "--timeout", "5s")
	if r.code() != exitError || !strings.Contains(r.err.Error(), "refused the console") {
		t.Fatalf("console with a wrong password: code %d, err %v", r.code(), r.err)
	}
	r = eddy(t, b, "", "console", "--sasl-mechanism", "GSSAPI", "--sasl-user", "admin")
	if r.code() != exitUsage {
		t.Fatalf("console with an unknown mechanism: code %d, err %v", r.code(), r.err)
	}
}

// With a SASL listener first, eddy broker --http connects its console to
// the PLAINTEXT listener; with no PLAINTEXT listener it serves no console.
func TestBrokerConsoleUsesPlaintextListener(t *testing.T) {
	dir := t.TempDir()
	write := func(name, listeners, protocols string) string {
		p := filepath.Join(dir, name)
		props := "log.dirs=" + filepath.Join(dir, name+"-data") + "\nlisteners=" + listeners +
			"\nlistener.security.protocol.map=" + protocols + "\nlistener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512\n"
		if err := os.WriteFile(p, []byte(props), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := write("both.properties", "CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0", "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT")
	url := serveProcess(t, regexp.MustCompile(`web console on (\S+)`), "broker", "--config", both, "--http", "127.0.0.1:0")
	if code, body := consoleGet(t, url+"api/overview"); code != 200 || !strings.Contains(body, `"cluster_id"`) {
		t.Fatalf("console of a broker with a SASL listener first: %d\n%s", code, body)
	}

	saslOnly := write("sasl.properties", "CLIENT://127.0.0.1:0", "CLIENT:SASL_PLAINTEXT")
	metrics := serveProcess(t, regexp.MustCompile(`metrics on (\S+)`), "broker", "--config", saslOnly, "--http", "127.0.0.1:0")
	root := strings.TrimSuffix(metrics, "metrics")
	if code, body := consoleGet(t, root); code != 200 || !strings.Contains(body, "Prometheus metrics") {
		t.Fatalf("GET / of a broker without a PLAINTEXT listener: %d\n%s", code, body)
	}
}
