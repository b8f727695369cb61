package kafkasec_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/broker"
	"github.com/eddy-streams/eddy/internal/kafkasec"
	"github.com/eddy-streams/eddy/streams"
)

func TestFromProperties(t *testing.T) {
	s, used, err := kafkasec.FromProperties(map[string]string{
		"security.protocol": "SASL_PLAINTEXT",
		"sasl.jaas.config":  `org.apache.kafka.common.security.plain.PlainLoginModule required username=alice password="s3 cr\"et";`,
		"group.id":          "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := kafkasec.Settings{Protocol: "SASL_PLAINTEXT", Mechanism: "PLAIN", User: "alice", Password: `s3 cr"et`}
	if s != want {
		t.Errorf("settings = %+v, want %+v", s, want)
	}
	if strings.Join(used, ",") != "security.protocol,sasl.jaas.config" {
		t.Errorf("used = %v", used)
	}
	if _, _, err := kafkasec.FromProperties(map[string]string{"security.protocol": "SASL_SSL",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";`}); err == nil ||
		!strings.Contains(err.Error(), "needs sasl.mechanism") {
		t.Errorf("SCRAM module without sasl.mechanism: %v", err)
	}
}

// writeCA writes a self-signed CA certificate as PEM and returns its path.
func writeCA(t *testing.T) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSConfig(t *testing.T) {
	ca := writeCA(t)
	tc, err := kafkasec.Settings{CAFile: ca}.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tc == nil || tc.RootCAs == nil || tc.MinVersion == 0 {
		t.Fatalf("TLS config = %+v", tc)
	}
	if tc, err := (kafkasec.Settings{}).TLSConfig(); tc != nil || err != nil {
		t.Fatalf("PLAINTEXT: %v, %v", tc, err)
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, c := range []struct {
		s    kafkasec.Settings
		want string
	}{
		{kafkasec.Settings{CAFile: notPEM}, "no PEM certificates"},
		{kafkasec.Settings{CertFile: ca}, "client certificate"},
		{kafkasec.Settings{Protocol: "SSL", KeyFile: ca}, "without its certificate"},
		{kafkasec.Settings{Protocol: "PLAINTEXT", CAFile: ca}, "TLS files given with security protocol PLAINTEXT"},
	} {
		if _, err := c.s.TLSConfig(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.s, err, c.want)
		}
	}
}

// A streams application runs over SASL_PLAINTEXT with SCRAM-SHA-256,
// configured with streams.SecureSaramaConfig, against a broker that has
// no other listener.
func TestStreamsOverSASL(t *testing.T) {
	dir := t.TempDir()
	if err := broker.SetUserPassword(dir, "app", "SCRAM-SHA-256", "app-secret", 4096); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{
		DataDir:                    dir,
		Listeners:                  []broker.Listener{{Name: "SASL_PLAINTEXT", Protocol: broker.SASLPlaintext, Addr: "127.0.0.1:0"}},
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sec := streams.Security{Protocol: "SASL_PLAINTEXT", Mechanism: "SCRAM-SHA-256", User: "app", Password: "app-secret"}
	sc, err := streams.SecureSaramaConfig(sec)
	if err != nil {
		t.Fatal(err)
	}

	sb := streams.NewBuilder()
	upper := streams.MapValues(streams.From(sb, "in", streams.Consumed[string, string]{}),
		func(_, v string) string { return strings.ToUpper(v) })
	upper.To("out", streams.Produced[string, string]{})
	top, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.NewApp(top, streams.Config{ApplicationID: "secured", Brokers: []string{b.Addr()},
		Sarama: sc, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("app.Run: %v", err)
		}
	}()

	// The test's own clients authenticate the same way.
	pc, _ := streams.SecureSaramaConfig(sec)
	pc.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, v := range []string{"a", "b", "c"} {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "in", Key: sarama.StringEncoder(v), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
	cc, _ := streams.SecureSaramaConfig(sec)
	c, err := sarama.NewConsumer([]string{b.Addr()}, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// "out" is created (one partition, the broker's default) when the app
	// first writes to it.
	deadline := time.After(30 * time.Second)
	var pcons sarama.PartitionConsumer
	for pcons == nil {
		if pcons, err = c.ConsumePartition("out", 0, sarama.OffsetOldest); err != nil {
			select {
			case <-deadline:
				t.Fatalf("consuming out: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	defer pcons.Close()
	var got []string
	for len(got) < 3 {
		select {
		case m := <-pcons.Messages():
			got = append(got, string(m.Value))
		case <-deadline:
			t.Fatalf("out has %q, want A, B, C", got)
		}
	}
	joined := strings.Join(got, "")
	for _, want := range []string{"A", "B", "C"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("out has %q, want A, B and C", got)
		}
	}
}

// IsProperty names every key FromProperties uses.
func TestIsProperty(t *testing.T) {
	props := map[string]string{
		"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p",
		"ssl.truststore.location": "ca.pem", "ssl.truststore.type": "PEM", "ssl.keystore.location": "c.pem",
		"ssl.keystore.type": "PEM", "ssl.key.location": "k.pem", "ssl.endpoint.identification.algorithm": "https",
	}
	_, used, err := kafkasec.FromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	used = append(used, "sasl.jaas.config")
	for _, k := range used {
		if !kafkasec.IsProperty(k) {
			t.Errorf("IsProperty(%q) = false", k)
		}
	}
	if kafkasec.IsProperty("group.id") {
		t.Error("IsProperty(group.id) = true")
	}
}
