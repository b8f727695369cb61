package broker

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testPKI is a certificate authority made for one test, with a server
// certificate for 127.0.0.1 and localhost.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	pool   *x509.CertPool
	server tls.Certificate
	// serverPEM is the server's chain and key in one PEM file, as
	// ssl.keystore.location takes it.
	serverPEM []byte
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "eddy test CA", Organization: []string{"Eddy"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.server, p.serverPEM = p.issue(t, pkix.Name{CommonName: "localhost"}, true)
	return p
}

// issue makes a certificate signed by the CA: a server certificate for
// 127.0.0.1 and localhost, or a client certificate with subject name.
func (p *testPKI) issue(t testing.TB, name pkix.Name, server bool) (tls.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      name,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, append(certPEM, keyPEM...)
}

// clientTLS is a client configuration trusting the test CA, presenting
// certs if any.
func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12}
}

// serverTLS is a listener's TLS configuration; clientAuth asks for client
// certificates signed by the test CA.
func (p *testPKI) serverTLS(clientAuth tls.ClientAuthType) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: clientAuth, ClientCAs: p.pool}
}

// writeFiles writes the CA and the server keystore as PEM files for the
// properties tests and kcat, and returns their paths.
func (p *testPKI) writeFiles(t testing.TB) (caFile, keystore string) {
	dir := t.TempDir()
	caFile, keystore = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem")
	if err := os.WriteFile(caFile, p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keystore, p.serverPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, keystore
}

// Users every security test knows; admin is the super user where there is
// an authorizer.
var testUsers = map[string]string{"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}

// addTestUsers stores SCRAM-SHA-256 and -512 credentials of testUsers in
// dir before the broker starts.
func addTestUsers(t testing.TB, dir string) {
	t.Helper()
	for u, p := range testUsers {
		for _, m := range []string{mechScramSHA256, mechScramSHA512} {
			if err := SetUserPassword(dir, u, m, p, 4096); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// kgoSASL returns franz-go options authenticating as user with mech.
func kgoSASL(mech, user, pass string) kgo.Opt {
	var m sasl.Mechanism
	switch mech {
	case mechPlain:
		m = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case mechScramSHA256:
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case mechScramSHA512:
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return kgo.SASL(m)
}

// saramaSCRAM adapts franz-go's SCRAM client to sarama's SCRAMClient, so
// sarama can be tested with SCRAM without another dependency.
type saramaSCRAM struct {
	mech sasl.Mechanism
	sess sasl.Session
	done bool
}

func (s *saramaSCRAM) Begin(user, pass, authz string) error {
	a := scram.Auth{User: user, Pass: pass, Zid: authz}
	if s.mech.Name() == mechScramSHA512 {
		s.mech = a.AsSha512Mechanism()
	} else {
		s.mech = a.AsSha256Mechanism()
	}
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.sess == nil {
		sess, first, err := s.mech.Authenticate(context.Background(), "127.0.0.1")
		s.sess = sess
		return string(first), err
	}
	done, req, err := s.sess.Challenge([]byte(challenge))
	s.done = done
	return string(req), err
}

func (s *saramaSCRAM) Done() bool { return s.done }

// saramaConfig is a sarama configuration for SASL mech as user.
func saramaConfig(mech, user, pass string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, pass
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	if mech != mechPlain {
		sha512 := mech == mechScramSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			c := &saramaSCRAM{mech: scram.Sha256(nil)}
			if sha512 {
				c.mech = scram.Sha512(nil)
			}
			return c
		}
	}
	return cfg
}

// rawConn speaks the Kafka protocol by hand, for what clients will not
// do: calls out of turn, wrong credentials with the exact answer.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	corr int32
}

func dialRaw(t testing.TB, addr string, tlsCfg *tls.Config) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		nc = tls.Client(nc, tlsCfg)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// send writes req with a request header; the version is req's.
func (rc *rawConn) send(req kmsg.Request) {
	rc.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(rc.corr))
	buf = binary.BigEndian.AppendUint16(buf, 4)
	buf = append(buf, "test"...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := rc.nc.Write(buf); err != nil {
		rc.t.Fatalf("send %s: %v", kmsg.NameForKey(req.Key()), err)
	}
}

// frame reads one frame, or returns an error if the connection ends.
func (rc *rawConn) frame() ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(rc.br, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(rc.br, b)
	return b, err
}

// roundTrip sends req and decodes its response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	rc.send(req)
	b, err := rc.frame()
	if err != nil {
		rc.t.Fatalf("%s: read response: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	b = b[4:] // correlation id
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		rc.t.Fatalf("%s: decode response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// closed reports whether the broker closed the connection (reads end).
func (rc *rawConn) closed() bool {
	rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.frame()
	return err != nil && !os.IsTimeout(err)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}
