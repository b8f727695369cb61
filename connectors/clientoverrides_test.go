package connectors_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/connectors"
)

// Worker properties prefixed producer., consumer. and admin. override the
// unprefixed security settings for their kind of client, key by key;
// the unprefixed ones stay the default, and prefixed keys that are not
// understood are reported.
func TestClientOverrideProperties(t *testing.T) {
	jaas := func(user, pass string) string {
		return `org.apache.kafka.common.security.scram.ScramLoginModule required username="` + user + `" password="` + pass + `";`
	}
	cfg, _, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, map[string]string{
		"security.protocol":                  "SASL_SSL",
		"sasl.mechanism":                     "SCRAM-SHA-256",
		"sasl.jaas.config":                   jaas("connect", "connect-secret"),
		"ssl.truststore.location":            "/etc/ca.pem",
		"producer.sasl.jaas.config":          jaas("tasks", "tasks-secret"),
		"consumer.security.protocol":         "SSL",
		"consumer.ssl.keystore.location":     "/etc/client.pem",
		"producer.compression.type":          "LZ4",
		"producer.linger.ms":                 "5",
		"consumer.max.poll.records":          "10",
		"consumer.fetch.min.bytes":           "1024",
		"consumer.fetch.max.wait.ms":         "100",
		"consumer.max.partition.fetch.bytes": "65536",
		"producer.batch.size":                "16384",
		"producer.acks":                      "all",
		"consumer.fetch.max.bytes":           "1048576",
		"admin.request.timeout.ms":           "1000",
	})
	if err != nil {
		t.Fatal(err)
	}
	def := connectors.Security{Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-256", User: "connect", Password: "connect-secret", CAFile: "/etc/ca.pem"}
	if cfg.Security != def {
		t.Errorf("Security = %+v, want %+v", cfg.Security, def)
	}
	// producer.: only the credentials change.
	prod := def
	prod.User, prod.Password = "tasks", "tasks-secret"
	if cfg.ProducerSecurity == nil || *cfg.ProducerSecurity != prod {
		t.Errorf("ProducerSecurity = %+v, want %+v", cfg.ProducerSecurity, prod)
	}
	// consumer.: SSL, so the worker's SASL settings are left out, its
	// truststore kept.
	cons := connectors.Security{Protocol: "SSL", CAFile: "/etc/ca.pem", CertFile: "/etc/client.pem"}
	if cfg.ConsumerSecurity == nil || *cfg.ConsumerSecurity != cons {
		t.Errorf("ConsumerSecurity = %+v, want %+v", cfg.ConsumerSecurity, cons)
	}
	if cfg.AdminSecurity != nil {
		t.Errorf("AdminSecurity = %+v, want nil (the worker's)", cfg.AdminSecurity)
	}
	if cfg.ProducerCompression != "lz4" || cfg.ProducerLinger != 5*time.Millisecond || cfg.ConsumerMaxPollRecords != 10 ||
		cfg.ConsumerFetchMinBytes != 1024 || cfg.ConsumerFetchMaxWait != 100*time.Millisecond ||
		cfg.ConsumerMaxPartitionFetchBytes != 65536 {
		t.Errorf("client settings: %+v", cfg)
	}
	want := []string{"admin.request.timeout.ms", "consumer.fetch.max.bytes", "producer.acks", "producer.batch.size"}
	if !slices.Equal(ignored, want) {
		t.Errorf("ignored = %v, want %v", ignored, want)
	}

	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"producer.security.protocol": "SASL_TLS"}, `producer.* security settings: security protocol "SASL_TLS"`},
		{map[string]string{"admin.sasl.mechanism": "PLAIN", "admin.sasl.username": "u"}, "admin.* security settings"},
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "u",
			"consumer.security.protocol": "PLAINTEXT", "consumer.sasl.mechanism": "PLAIN"}, "consumer.* security settings"},
		{map[string]string{"producer.compression.type": "brotli"}, "producer.compression.type"},
		{map[string]string{"producer.linger.ms": "-1"}, "producer.linger.ms"},
		{map[string]string{"consumer.max.poll.records": "0"}, "consumer.max.poll.records"},
	} {
		_, _, _, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, c.props)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.props, err, c.want)
		}
	}
}

// startTwoUserBroker starts a broker whose only listener is
// SASL_PLAINTEXT, knowing users connect (connect-secret) and tasks
// (tasks-secret) for SCRAM-SHA-256.
func startTwoUserBroker(t *testing.T) string {
	return startSASLBrokerUsers(t, map[string]string{"connect": "connect-secret", "tasks": "tasks-secret"}, "SCRAM-SHA-256")
}

// clientUsers records the SASL user and the configuration of each client
// a worker configures, by client id.
type clientUsers struct {
	mu      sync.Mutex
	configs map[string]sarama.Config
}

func (c *clientUsers) record(sc *sarama.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.configs == nil {
		c.configs = map[string]sarama.Config{}
	}
	c.configs[sc.ClientID] = *sc
}

func (c *clientUsers) get(id string) (sarama.Config, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sc, ok := c.configs[id]
	return sc, ok
}

// A worker whose producer.* properties name other credentials than its
// own runs its source tasks' producers with them, and its sink tasks'
// consumers and its own clients with the worker's; wrong producer.* or
// consumer.* credentials fail the tasks with the broker's answer, while
// the worker runs on.
func TestClientOverridesOverSASL(t *testing.T) {
	addr := startTwoUserBroker(t)
	scram := func(prefix, user, pass string) map[string]string {
		return map[string]string{
			prefix + "security.protocol": "SASL_PLAINTEXT",
			prefix + "sasl.mechanism":    "SCRAM-SHA-256",
			prefix + "sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="` +
				user + `" password="` + pass + `";`,
		}
	}
	worker := func(t *testing.T, overrides map[string]string, seen *clientUsers) *connectors.Worker {
		props := scram("", "connect", "connect-secret")
		props["bootstrap.servers"] = addr
		// A worker of its own for each subtest: topics of its own.
		topic := strings.ReplaceAll(t.Name(), "/", "-")
		props["config.storage.topic"], props["offset.storage.topic"], props["status.storage.topic"] =
			topic+"-configs", topic+"-offsets", topic+"-status"
		for k, v := range overrides {
			props[k] = v
		}
		cfg, _, ignored, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, props)
		if err != nil {
			t.Fatal(err)
		}
		if len(ignored) != 0 {
			t.Fatalf("ignored: %v", ignored)
		}
		return startWorker(t, addr, func(c *connectors.WorkerConfig) {
			c.ConfigTopic, c.OffsetsTopic, c.StatusTopic = cfg.ConfigTopic, cfg.OffsetsTopic, cfg.StatusTopic
			c.Security, c.ProducerSecurity, c.ConsumerSecurity, c.AdminSecurity =
				cfg.Security, cfg.ProducerSecurity, cfg.ConsumerSecurity, cfg.AdminSecurity
			c.ProducerCompression, c.ConsumerFetchMinBytes = cfg.ProducerCompression, cfg.ConsumerFetchMinBytes
			c.Sarama = seen.record
		})
	}
	fileConnectors := func(t *testing.T, w *connectors.Worker, topic string) (in, out string) {
		dir := t.TempDir()
		in, out = filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
		appendLines(t, in, "one", "two", "three")
		for name, c := range map[string]map[string]string{
			"src":  {"connector.class": "FileStreamSource", "file": in, "topic": topic},
			"sink": {"connector.class": "FileStreamSink", "file": out, "topics": topic},
		} {
			if _, _, err := w.CreateConnector(name, c, false); err != nil {
				t.Fatal(err)
			}
		}
		return in, out
	}
	taskFailed := func(t *testing.T, w *connectors.Worker, name, want string) {
		t.Helper()
		var trace string
		waitFor(t, 30*time.Second, name+"'s task to fail", func() bool {
			st, err := w.Status(name)
			if err != nil || len(st.Tasks) == 0 || st.Tasks[0].State != connectors.StateFailed {
				return false
			}
			trace = st.Tasks[0].Trace
			return true
		})
		if !strings.Contains(trace, want) {
			t.Fatalf("%s's task failed with %q, want a trace mentioning %q", name, trace, want)
		}
		t.Logf("%s: %s", name, trace)
	}

	t.Run("producer credentials", func(t *testing.T) {
		overrides := scram("producer.", "tasks", "tasks-secret")
		for k, v := range scram("admin.", "tasks", "tasks-secret") {
			overrides[k] = v
		}
		overrides["producer.compression.type"] = "gzip"
		overrides["consumer.fetch.min.bytes"] = "2"
		var seen clientUsers
		w := worker(t, overrides, &seen)
		_, out := fileConnectors(t, w, "tasks-over-sasl")
		waitFor(t, 30*time.Second, "3 lines in the sink file", func() bool { return len(lines(out)) >= 3 })
		if got := lines(out); !slices.Equal(got, []string{"one", "two", "three"}) {
			t.Fatalf("sink file = %q", got)
		}
		for id, want := range map[string]string{"connector-producer-src-0": "tasks", "connector-consumer-sink-0": "connect",
			"eddy-connect": "connect", "eddy-connect-admin": "tasks"} {
			sc, ok := seen.get(id)
			if !ok {
				t.Fatalf("no client %s", id)
			}
			if sc.Net.SASL.User != want {
				t.Errorf("client %s connects as %q, want %q", id, sc.Net.SASL.User, want)
			}
		}
		// The sink connector's offsets are read with the admin client.
		waitFor(t, 10*time.Second, "the sink's committed offsets", func() bool {
			offs, err := w.Offsets("sink")
			if err != nil {
				t.Fatal(err)
			}
			return len(offs) > 0
		})
		if sc, _ := seen.get("connector-producer-src-0"); sc.Producer.Compression != sarama.CompressionGZIP {
			t.Errorf("source producer compression = %v, want gzip", sc.Producer.Compression)
		}
		if sc, _ := seen.get("connector-consumer-sink-0"); sc.Consumer.Fetch.Min != 2 || sc.Producer.Compression != sarama.CompressionNone {
			t.Errorf("sink consumer: fetch.min.bytes %d, compression %v", sc.Consumer.Fetch.Min, sc.Producer.Compression)
		}
	})

	t.Run("wrong producer credentials", func(t *testing.T) {
		var seen clientUsers
		w := worker(t, scram("producer.", "tasks", "wrong"), &seen)
		fileConnectors(t, w, "wrong-producer")
		taskFailed(t, w, "src", "invalid credentials")
		// The worker itself is fine, and so is the sink task.
		if st, err := w.Status("sink"); err != nil || st.Tasks[0].State != connectors.StateRunning {
			t.Fatalf("sink status %+v, %v", st, err)
		}
	})

	t.Run("wrong consumer credentials", func(t *testing.T) {
		var seen clientUsers
		w := worker(t, scram("consumer.", "tasks", "wrong"), &seen)
		_, _ = fileConnectors(t, w, "wrong-consumer")
		taskFailed(t, w, "sink", "consumer.*")
		taskFailed(t, w, "sink", "invalid credentials")
	})

	t.Run("wrong admin credentials", func(t *testing.T) {
		props := scram("", "connect", "connect-secret")
		for k, v := range scram("admin.", "tasks", "wrong") {
			props[k] = v
		}
		props["bootstrap.servers"] = addr
		cfg, _, _, err := connectors.WorkerConfigFromProperties(connectors.WorkerConfig{}, props)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Logger, cfg.Sarama = testLogger(t), fastFail
		w, err := connectors.NewWorker(context.Background(), cfg)
		if err == nil {
			w.Close()
			t.Fatal("NewWorker succeeded")
		}
		if !strings.Contains(err.Error(), "admin.*") || !strings.Contains(err.Error(), "invalid credentials") {
			t.Fatalf("error %q does not name admin.* and the broker's answer", err)
		}
	})
}
