package streams

import (
	"fmt"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/internal/kafkasec"
)

// Security are an application's client-side TLS and SASL settings, for a
// secured Eddy broker or Kafka cluster. The zero value is PLAINTEXT.
// SecureSaramaConfig turns them into a Config.Sarama.
type Security struct {
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (Kafka's
	// security.protocol). Empty: derived from the other fields (SSL when
	// a TLS field is set, SASL_PLAINTEXT when Mechanism is, SASL_SSL both).
	Protocol string
	// Mechanism is the SASL mechanism (sasl.mechanism): PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512; User and Password the credentials.
	Mechanism      string
	User, Password string
	// CAFile is a PEM file of the CAs that sign the brokers' certificates
	// (default: the system's).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mTLS;
	// KeyFile empty: the key is in CertFile.
	CertFile, KeyFile string
	// InsecureSkipVerify does not verify the brokers' certificates
	// (testing only).
	InsecureSkipVerify bool
}

// SecureSaramaConfig returns a sarama configuration with TLS and SASL set
// as sec says, for Config.Sarama:
//
//	sc, err := streams.SecureSaramaConfig(streams.Security{
//		Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-512",
//		User: "app", Password: os.Getenv("APP_PASSWORD"), CAFile: "ca.pem"})
//	if err != nil {
//		return err
//	}
//	app, err := streams.NewApp(topology, streams.Config{ApplicationID: "app",
//		Brokers: brokers, Sarama: sc})
//
// It reads the PEM files now, and fails on settings that do not fit
// together (a mechanism with protocol SSL, SASL without a user, an
// unknown mechanism, unreadable or empty files).
func SecureSaramaConfig(sec Security) (*sarama.Config, error) {
	apply, err := kafkasec.Settings(sec).Sarama()
	if err != nil {
		return nil, fmt.Errorf("streams: security settings: %w", err)
	}
	sc := sarama.NewConfig()
	apply(sc)
	return sc, nil
}
