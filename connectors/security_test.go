package connectors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/connectors"
)

// startSASLBroker starts a broker whose only listener is SASL_PLAINTEXT,
// knowing user connect (password connect-secret) for SCRAM and PLAIN.
func startSASLBroker(t *testing.T) string {
	return startSASLBrokerUsers(t, map[string]string{"connect": "connect-secret"}, "SCRAM-SHA-256", "SCRAM-SHA-512")
}

// startSASLBrokerUsers starts a broker whose only listener is
// SASL_PLAINTEXT, knowing each user with its password for each of the
// SCRAM mechanisms (and for PLAIN).
func startSASLBrokerUsers(t *testing.T, users map[string]string, mechanisms ...string) string {
	t.Helper()
	dir := t.TempDir()
	for user, pass := range users {
		for _, m := range mechanisms {
			if err := broker.SetUserPassword(dir, user, m, pass, 4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir:                    dir,
		Listeners:                  []broker.Listener{{Name: "SASL_PLAINTEXT", Protocol: broker.SASLPlaintext, Addr: "127.0.0.1:0"}},
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// A worker configured from Kafka Connect worker properties (SCRAM through
// sasl.jaas.config) runs a file source and a file sink against a broker
// that refuses unauthenticated clients.
func TestWorkerOverSASL(t *testing.T) {
	addr := startSASLBroker(t)
	cfg, _, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
		"bootstrap.servers": addr,
		"security.protocol": "SASL_PLAINTEXT",
		"sasl.mechanism":    "SCRAM-SHA-512",
		"sasl.jaas.config":  `org.apache.kafka.common.security.scram.ScramLoginModule required username="connect" password="connect-secret";`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Fatalf("ignored settings: %v", ignored)
	}
	if cfg.Security.User != "connect" || cfg.Security.Password != "connect-secret" || cfg.Security.Mechanism != "SCRAM-SHA-512" {
		t.Fatalf("security from properties = %+v", cfg.Security)
	}
	w := startWorker(t, addr, func(c *connectors.WorkerConfig) { c.Security = cfg.Security })

	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	want := []string{"one", "two", "three"}
	appendLines(t, in, want...)
	for name, c := range map[string]map[string]string{
		"src":  {"connector.class": "FileStreamSource", "file": in, "topic": "secured"},
		"sink": {"connector.class": "FileStreamSink", "file": out, "topics": "secured"},
	} {
		if _, _, err := w.CreateConnector(name, c, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "3 lines in the sink file", func() bool { return len(lines(out)) >= 3 })
	if got := lines(out); !slices.Equal(got, want) {
		t.Fatalf("sink file = %q, want %q", got, want)
	}
}

// Wrong credentials and unusable settings are errors from NewWorker, not
// hangs.
func TestWorkerSecurityErrors(t *testing.T) {
	addr := startSASLBroker(t)
	for _, c := range []struct {
		name string
		sec  connectors.Security
		want string
	}{
		{"wrong password", connectors.Security{Mechanism: "SCRAM-SHA-256", User: "connect", Password: "nope"}, "invalid credentials"},
		{"unknown mechanism", connectors.Security{Mechanism: "GSSAPI", User: "connect"}, `SASL mechanism "GSSAPI"`},
		{"no user", connectors.Security{Mechanism: "PLAIN"}, "needs a user"},
		{"mechanism with SSL", connectors.Security{Protocol: "SSL", Mechanism: "PLAIN", User: "u"}, "with security protocol SSL"},
		{"missing CA file", connectors.Security{Protocol: "SSL", CAFile: "/nonexistent/ca.pem"}, "reading CA certificates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{Brokers: []string{addr}, Security: c.sec,
				Logger: testLogger(t), Sarama: fastFail})
			if err == nil {
				w.Close()
				t.Fatal("NewWorker succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			t.Log(err)
		})
	}
}

// fastFail gives up on an unreachable cluster after one retry.
func fastFail(sc *sarama.Config) {
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 10 * time.Millisecond
}

// Properties that cannot work are refused with the setting named.
func TestWorkerSecurityProperties(t *testing.T) {
	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `com.sun.security.auth.module.Krb5LoginModule required;`}, "login module"},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "ca.jks", "ssl.truststore.type": "JKS"}, "only PEM"},
		{map[string]string{"sasl.mechanism": "PLAIN", "sasl.username": "u"}, "without security.protocol"},
		{map[string]string{"security.protocol": "SASL_TLS"}, `security protocol "SASL_TLS"`},
	} {
		_, _, _, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, c.props)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.props, err, c.want)
		}
	}
	cfg, _, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
		"security.protocol":       "SASL_SSL",
		"sasl.mechanism":          "PLAIN",
		"sasl.jaas.config":        `org.apache.kafka.common.security.plain.PlainLoginModule required username="a b" password="p\"w";`,
		"ssl.truststore.location": "/etc/ca.pem",
		"ssl.truststore.type":     "PEM",
		"producer.acks":           "all",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Security{Protocol: "SASL_SSL", Mechanism: "PLAIN", User: "a b", Password: `p"w`, CAFile: "/etc/ca.pem"}
	if cfg.Security != want {
		t.Errorf("security = %+v, want %+v", cfg.Security, want)
	}
	if fmt.Sprint(ignored) != "[producer.acks]" {
		t.Errorf("ignored = %v", ignored)
	}
}
