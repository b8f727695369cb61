package broker

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// TestSecurityProperties reads listeners and security settings under
// Kafka's server.properties names and starts a broker from them.
func TestSecurityProperties(t *testing.T) {
	pki := newTestPKI(t)
	caFile, keystore := pki.writeFiles(t)
	props := Properties{
		"log.dirs":                                     t.TempDir(),
		"listeners":                                    "CLIENT://127.0.0.1:0,SECURE://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"advertised.listeners":                         "CLIENT://kafka.example:9092",
		"listener.security.protocol.map":               "CLIENT:SASL_PLAINTEXT,SECURE:SSL,INTERNAL:PLAINTEXT",
		"ssl.keystore.type":                            "PEM",
		"ssl.keystore.location":                        keystore,
		"ssl.truststore.location":                      caFile,
		"listener.name.secure.ssl.client.auth":         "required",
		"listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
		"ssl.principal.mapping.rules":                  "RULE:^CN=([^,]+).*$/$1/L,DEFAULT",
		"authorizer.class.name":                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                                  "User:admin;User:CN=ops,O=Eddy",
		"allow.everyone.if.no.acl.found":               "true",
		"connections.max.reauth.ms":                    "3600000",
	}
	cfg, ignored, err := ConfigFromProperties(Config{}, props)
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Errorf("ignored %v", ignored)
	}
	if len(cfg.Listeners) != 3 || !cfg.Authorizer || !cfg.AllowEveryoneIfNoACLFound || cfg.ReauthInterval != time.Hour ||
		len(cfg.SuperUsers) != 2 || cfg.SuperUsers[1] != "User:CN=ops,O=Eddy" {
		t.Fatalf("config %+v", cfg)
	}
	client, secure, internal := cfg.Listeners[0], cfg.Listeners[1], cfg.Listeners[2]
	if client.Protocol != SASLPlaintext || client.AdvertisedAddr != "kafka.example:9092" || strings.Join(client.SASLMechanisms, ",") != "SCRAM-SHA-512,PLAIN" {
		t.Errorf("CLIENT listener %+v", client)
	}
	if secure.Protocol != SSL || secure.TLS == nil || secure.TLS.ClientAuth != tls.RequireAndVerifyClientCert || secure.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("SECURE listener %+v", secure)
	}
	if internal.Protocol != Plaintext || internal.TLS != nil {
		t.Errorf("INTERNAL listener %+v", internal)
	}
	cfg.Logger = testLogger()
	b := startBroker(t, func(c *Config) { *c = cfg })
	if b.ListenerAddr("SECURE") == "" || b.ListenerAddr("client") == "" {
		t.Errorf("listeners not bound")
	}

	for _, bad := range []Properties{
		{"listeners": "SSL://127.0.0.1:0"},             // no keystore
		{"listeners": "A://127.0.0.1:0"},               // unknown name, no map
		{"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"}, // twice
		{"listeners": "SASL_SSL://:1", "ssl.keystore.location": keystore, "ssl.keystore.type": "JKS"}, // not PEM
		{"listeners": "SASL_PLAINTEXT://:1", "sasl.enabled.mechanisms": "GSSAPI"},
		{"listeners": "PLAINTEXT://:1", "advertised.listeners": "OTHER://h:1"},
		{"ssl.principal.mapping.rules": "RULE:[oops"},
	} {
		if _, _, err := ConfigFromProperties(Config{}, bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestPrincipalRules(t *testing.T) {
	rules, err := parsePrincipalRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=([^,]+).*$/$1/U, DEFAULT")
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=svc-a,OU=ServiceUsers,O=Eddy": "svc-a",
		"CN=alice,O=Eddy":                 "ALICE",
		"O=Eddy":                          "O=Eddy",
	} {
		if got := rules.apply(dn); got != want {
			t.Errorf("%s → %q, want %q", dn, got, want)
		}
	}
}
