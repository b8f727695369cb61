package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/broker"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it;
// it returns the server's TLS configuration and the CA's PEM file.
func testCA(t *testing.T) (*tls.Config, string) {
	cfg, caFile, _ := testPKI(t)
	return cfg, caFile
}

// testPKI is testCA that also issues a client certificate for CN=alice,
// written with its key to one PEM file (the third result); the server
// configuration trusts the CA for client certificates.
func testPKI(t *testing.T) (*tls.Config, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eddy cli test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ckey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	cder, err := x509.CreateCertificate(rand.Reader, ctmpl, ca, &ckey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ckeyDER, _ := x509.MarshalPKCS8PrivateKey(ckey)
	clientFile := filepath.Join(t.TempDir(), "alice.pem")
	clientPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ckeyDER})...)
	if err := os.WriteFile(clientFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientCAs: pool}, caFile, clientFile
}

// An SSL listener that requires client certificates (mTLS) lets the CLI in
// with --tls-cert, and refuses it without.
func TestClientCommandsOverMTLS(t *testing.T) {
	serverTLS, caFile, clientFile := testPKI(t)
	serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir:   t.TempDir(),
		Listeners: []broker.Listener{{Name: "SSL", Protocol: broker.SSL, Addr: "127.0.0.1:0", TLS: serverTLS}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	eddy(t, b, "", "topic", "create", "mtls", "--tls-ca", caFile, "--tls-cert", clientFile).ok(t)
	if out := eddy(t, b, "", "topic", "list", "--tls-ca", caFile, "--tls-cert", clientFile).ok(t); !strings.Contains(out, "mtls") {
		t.Fatalf("topic list over mTLS:\n%s", out)
	}
	r := eddy(t, b, "", "topic", "list", "--tls-ca", caFile, "--timeout", "3s")
	if r.code() != exitError || !strings.Contains(r.err.Error(), "--tls-cert") {
		t.Fatalf("without a client certificate: exit code %d, %v; want 1 and a hint at --tls-cert", r.code(), r.err)
	}
}

// startSecuredBroker runs a broker with a single listener of protocol
// (SASL_SSL or SASL_PLAINTEXT) knowing user admin, password admin-secret.
func startSecuredBroker(t *testing.T, protocol broker.SecurityProtocol) (*broker.Broker, string) {
	t.Helper()
	dir := t.TempDir()
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		if err := broker.SetUserPassword(dir, "admin", m, "admin-secret", 4096); err != nil {
			t.Fatal(err)
		}
	}
	l := broker.Listener{Name: string(protocol), Protocol: protocol, Addr: "127.0.0.1:0"}
	var caFile string
	if protocol == broker.SASLSSL {
		l.TLS, caFile = testCA(t)
	}
	b, err := broker.Start(context.Background(), broker.Config{
		DataDir: dir, Listeners: []broker.Listener{l}, GroupInitialRebalanceDelay: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, caFile
}

// The client commands reach a SASL_SSL listener with SCRAM, the password
// taken from EDDY_SASL_PASSWORD; wrong credentials or an untrusted
// certificate are errors that say so (exit code 1), bad flags usage errors
// (exit code 2).
func TestClientCommandsOverSASLSSL(t *testing.T) {
	b, caFile := startSecuredBroker(t, broker.SASLSSL)
	t.Setenv(saslPasswordEnv, "admin-secret")
	sec := []string{"--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin", "--timeout", "5s"}

	eddy(t, b, "", append([]string{"topic", "create", "secured", "-p", "2"}, sec...)...).ok(t)
	list := eddy(t, b, "", append([]string{"topic", "list"}, sec...)...).ok(t)
	if !strings.Contains(list, "secured") {
		t.Fatalf("topic list over SASL_SSL lacks the topic:\n%s", list)
	}
	eddy(t, b, "one\ntwo\n", append([]string{"produce", "secured", "-q"}, sec...)...).ok(t)
	got := eddy(t, b, "", append([]string{"consume", "secured", "-n", "2"}, sec...)...).ok(t)
	if lines := strings.Fields(got); len(lines) != 2 {
		t.Fatalf("consumed %q, want one and two", got)
	}
	eddy(t, b, "", append([]string{"cluster", "info"}, sec...)...).ok(t)
	eddy(t, b, "", append([]string{"group", "list"}, sec...)...).ok(t)
	eddy(t, b, "", append([]string{"user", "list"}, sec...)...).ok(t)

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wrong password", []string{"--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin", "--sasl-password", "wrong"},
			exitError, `refused the SASL login of "admin"`},
		{"unknown user", []string{"--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "mallory"},
			exitError, `refused the SASL login of "mallory"`},
		{"untrusted certificate", []string{"--tls", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin"},
			exitError, "certificate"},
		{"unknown mechanism", []string{"--tls-ca", caFile, "--sasl-mechanism", "GSSAPI", "--sasl-user", "admin"},
			exitUsage, `--sasl-mechanism "GSSAPI"`},
		{"no user", []string{"--tls-ca", caFile, "--sasl-mechanism", "PLAIN"}, exitUsage, "needs --sasl-user"},
		{"CA file missing", []string{"--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, exitUsage, "reading CA certificates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := eddy(t, b, "", append([]string{"topic", "list", "--timeout", "5s"}, c.args...)...)
			if r.code() != c.code || r.err == nil || !strings.Contains(r.err.Error(), c.want) {
				t.Fatalf("exit code %d, error %v; want %d and an error mentioning %q", r.code(), r.err, c.code, c.want)
			}
			t.Log(r.err)
		})
	}
}

// eddy connect runs a file source and a file sink against a SASL_PLAINTEXT
// cluster, with the SASL settings in Kafka's worker properties, and its
// GET /metrics shows the records moving.
func TestConnectOverSASL(t *testing.T) {
	b, _ := startSecuredBroker(t, broker.SASLPlaintext)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(in, []byte("alpha\nbeta\ngamma\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"worker.properties": "bootstrap.servers=" + b.Addr() + "\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n" +
			`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";` + "\n" +
			"offset.flush.interval.ms=200\n",
		"source.properties": "name=src\nconnector.class=FileStreamSource\nfile=" + in + "\ntopic=lines\n",
		"sink.properties":   "name=sink\nconnector.class=FileStreamSink\nfile=" + out + "\ntopics=lines\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := eddyCommand(ctx, "connect", "--rest", "127.0.0.1:0", "--worker-config", filepath.Join(dir, "worker.properties"),
		filepath.Join(dir, "source.properties"), filepath.Join(dir, "sink.properties"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var rest string
	for rest == "" && sc.Scan() {
		if m := regexp.MustCompile(`REST API on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			rest = m[1]
		}
	}
	if rest == "" {
		cmd.Wait()
		t.Fatalf("eddy connect printed no REST address; stderr:\n%s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(out)
		if string(data) == "alpha\nbeta\ngamma\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink file has %q; stderr:\n%s", data, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	metrics := httpGet(t, rest+"/metrics")
	for _, want := range []string{
		`eddy_connect_source_records_written_total{connector="src",task="0"} 3`,
		`eddy_connect_sink_records_put_total{connector="sink",task="0"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("eddy connect exited with %v; stderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "ignoring worker setting") {
		t.Errorf("a security setting was ignored:\n%s", stderr.String())
	}

	// A wrong password in the flags (they win over the file) fails the
	// start with exit code 1 and says why.
	bad := eddyCommand(ctx, "connect", "--rest", "127.0.0.1:0", "--worker-config", filepath.Join(dir, "worker.properties"),
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "admin", "--sasl-password", "wrong")
	output, err := bad.CombinedOutput()
	if code := bad.ProcessState.ExitCode(); code != exitError || !strings.Contains(string(output), "invalid credentials") {
		t.Fatalf("wrong password: exit code %d (%v), output:\n%s", code, err, output)
	}
}
