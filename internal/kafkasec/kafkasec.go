// Package kafkasec turns client-side TLS and SASL settings into what the
// Kafka clients Eddy uses need: a *tls.Config, and an adjustment of a
// *sarama.Config (TLS, SASL PLAIN or SCRAM). Streams and connectors share
// it, and read Kafka's client properties (security.protocol,
// sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...) with
// FromProperties.
package kafkasec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security protocols, as Kafka names them (security.protocol).
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// SASL mechanisms supported.
const (
	MechPlain        = "PLAIN"
	MechScramSHA256  = "SCRAM-SHA-256"
	MechScramSHA512  = "SCRAM-SHA-512"
	mechanismsListed = "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
)

// Settings are a client's TLS and SASL settings. The zero value is
// PLAINTEXT.
type Settings struct {
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Empty: SSL
	// when a TLS setting is given, SASL_* when Mechanism is, combined.
	Protocol string
	// Mechanism is the SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
	Mechanism      string
	User, Password string
	// CAFile is a PEM file of the CAs to trust (default: the system's).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key for
	// mTLS; KeyFile empty means the key is in CertFile.
	CertFile, KeyFile string
	// InsecureSkipVerify does not verify the broker's certificate.
	InsecureSkipVerify bool
}

// protocol returns the effective security protocol.
func (s Settings) protocol() (string, error) {
	p := strings.ToUpper(strings.TrimSpace(s.Protocol))
	if p == "" {
		tlsWanted := s.CAFile != "" || s.CertFile != "" || s.InsecureSkipVerify
		switch {
		case s.Mechanism != "" && tlsWanted:
			p = SASLSSL
		case s.Mechanism != "":
			p = SASLPlaintext
		case tlsWanted:
			p = SSL
		default:
			p = Plaintext
		}
	}
	switch p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("security protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.Protocol)
}

// UsesTLS reports whether the settings ask for TLS.
func (s Settings) UsesTLS() bool {
	p, err := s.protocol()
	return err == nil && (p == SSL || p == SASLSSL)
}

// Check validates the settings without reading any file.
func (s Settings) Check() error {
	p, err := s.protocol()
	if err != nil {
		return err
	}
	sasl := p == SASLPlaintext || p == SASLSSL
	if !sasl {
		if s.Mechanism != "" {
			return fmt.Errorf("SASL mechanism %s given with security protocol %s (want SASL_PLAINTEXT or SASL_SSL)", s.Mechanism, p)
		}
		return nil
	}
	if _, err := mechanism(s.Mechanism); err != nil {
		return err
	}
	if s.User == "" {
		return fmt.Errorf("SASL %s needs a user name", strings.ToUpper(s.Mechanism))
	}
	return nil
}

func mechanism(m string) (string, error) {
	switch u := strings.ToUpper(strings.TrimSpace(m)); u {
	case MechPlain, MechScramSHA256, MechScramSHA512:
		return u, nil
	case "":
		return "", fmt.Errorf("SASL needs a mechanism: %s", mechanismsListed)
	default:
		return "", fmt.Errorf("SASL mechanism %q: want %s", m, mechanismsListed)
	}
}

// TLSConfig returns the TLS client configuration, or nil when the
// settings do not ask for TLS. It reads the PEM files.
func (s Settings) TLSConfig() (*tls.Config, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if !s.UsesTLS() {
		if s.CAFile != "" || s.CertFile != "" {
			return nil, fmt.Errorf("TLS files given with security protocol %s (want SSL or SASL_SSL)", s.Protocol)
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificates: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates in it", s.CAFile)
		}
	}
	if s.CertFile != "" {
		key := s.KeyFile
		if key == "" {
			key = s.CertFile
		}
		cert, err := tls.LoadX509KeyPair(s.CertFile, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", s.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	} else if s.KeyFile != "" {
		return nil, errors.New("a client key was given without its certificate")
	}
	return cfg, nil
}

// Sarama validates the settings, reads the files they name and returns
// a function that applies them to a sarama configuration (it may be
// called for many configurations).
func (s Settings) Sarama() (func(*sarama.Config), error) {
	tc, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	p, _ := s.protocol()
	if p == Plaintext {
		return func(*sarama.Config) {}, nil
	}
	var mech string
	if p == SASLPlaintext || p == SASLSSL {
		mech, _ = mechanism(s.Mechanism)
	}
	return func(c *sarama.Config) {
		if tc != nil {
			c.Net.TLS.Enable = true
			c.Net.TLS.Config = tc.Clone()
		}
		if mech == "" {
			return
		}
		c.Net.SASL.Enable = true
		c.Net.SASL.Handshake = true
		c.Net.SASL.Version = sarama.SASLHandshakeV1
		c.Net.SASL.User, c.Net.SASL.Password = s.User, s.Password
		c.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
		if mech != MechPlain {
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{sha512: mech == MechScramSHA512} }
		}
	}, nil
}

// scramClient is sarama's SCRAMClient over franz-go's SCRAM implementation.
type scramClient struct {
	sha512 bool
	mech   sasl.Mechanism
	sess   sasl.Session
	done   bool
}

func (c *scramClient) Begin(user, pass, authzID string) error {
	a := scram.Auth{User: user, Pass: pass, Zid: authzID}
	if c.sha512 {
		c.mech = a.AsSha512Mechanism()
	} else {
		c.mech = a.AsSha256Mechanism()
	}
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.sess == nil {
		sess, first, err := c.mech.Authenticate(context.Background(), "")
		if err != nil {
			return "", err
		}
		c.sess = sess
		return string(first), nil
	}
	done, resp, err := c.sess.Challenge([]byte(challenge))
	c.done = done
	return string(resp), err
}

func (c *scramClient) Done() bool { return c.done }

// jaasOption matches key="value" (or key=value) in sasl.jaas.config.
var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))`)

// FromProperties reads Kafka client security properties: security.protocol,
// sasl.mechanism, sasl.jaas.config (PlainLoginModule or ScramLoginModule
// with username and password), or sasl.username and sasl.password (an
// Eddy shorthand), ssl.truststore.location and ssl.keystore.location as
// PEM files (ssl.truststore.type / ssl.keystore.type must be PEM when
// given; the keystore holds the certificate and an unencrypted key, or
// ssl.key.location names the key). It returns the keys it used.
func FromProperties(props map[string]string) (Settings, []string, error) {
	var s Settings
	var used []string
	get := func(k string) string {
		v, ok := props[k]
		if ok {
			used = append(used, k)
		}
		return strings.TrimSpace(v)
	}
	s.Protocol = get("security.protocol")
	s.Mechanism = get("sasl.mechanism")
	if jaas := get("sasl.jaas.config"); jaas != "" {
		module, _, _ := strings.Cut(jaas, " ")
		if !strings.HasSuffix(module, "PlainLoginModule") && !strings.HasSuffix(module, "ScramLoginModule") {
			return s, used, fmt.Errorf("sasl.jaas.config: login module %q not supported (want org.apache.kafka.common.security.plain.PlainLoginModule or org.apache.kafka.common.security.scram.ScramLoginModule)", module)
		}
		for _, m := range jaasOption.FindAllStringSubmatch(jaas, -1) {
			v := m[3]
			if m[3] == "" {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
			}
			switch m[1] {
			case "username":
				s.User = v
			case "password":
				s.Password = v
			}
		}
		if s.Mechanism == "" {
			s.Mechanism = MechPlain
			if strings.HasSuffix(module, "ScramLoginModule") {
				return s, used, errors.New("sasl.jaas.config: ScramLoginModule needs sasl.mechanism (SCRAM-SHA-256 or SCRAM-SHA-512)")
			}
		}
	}
	if u := get("sasl.username"); u != "" {
		s.User = u
	}
	if p, ok := props["sasl.password"]; ok {
		used = append(used, "sasl.password")
		s.Password = p
	}
	for _, k := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
		if t := get(k); t != "" && !strings.EqualFold(t, "PEM") {
			return s, used, fmt.Errorf("%s=%s: only PEM files are read (convert with openssl or keytool)", k, t)
		}
	}
	s.CAFile = get("ssl.truststore.location")
	s.CertFile = get("ssl.keystore.location")
	s.KeyFile = get("ssl.key.location")
	if alg, ok := props["ssl.endpoint.identification.algorithm"]; ok {
		used = append(used, "ssl.endpoint.identification.algorithm")
		if strings.TrimSpace(alg) == "" {
			return s, used, errors.New("ssl.endpoint.identification.algorithm is empty: turning host name verification off is not supported (use a certificate for the host name)")
		}
	}
	if s.Protocol == "" && (s.Mechanism != "" || s.CAFile != "" || s.CertFile != "") {
		return s, used, errors.New("security settings given without security.protocol (SSL, SASL_PLAINTEXT or SASL_SSL)")
	}
	return s, used, s.Check()
}

// propertyNames are the properties FromProperties reads.
var propertyNames = []string{
	"security.protocol", "sasl.mechanism", "sasl.jaas.config", "sasl.username", "sasl.password",
	"ssl.truststore.location", "ssl.truststore.type", "ssl.keystore.location", "ssl.keystore.type",
	"ssl.key.location", "ssl.endpoint.identification.algorithm",
}

// IsProperty reports whether FromProperties reads the property k.
func IsProperty(k string) bool {
	for _, p := range propertyNames {
		if p == k {
			return true
		}
	}
	return false
}
