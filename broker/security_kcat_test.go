package broker

import (
	"bytes"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityKcat runs kcat (librdkafka) over SSL with a client
// certificate and over SASL_SSL and SASL_PLAINTEXT with each mechanism:
// it produces, consumes and, with a wrong password, is refused.
func TestSecurityKcat(t *testing.T) {
	kcat := kcatPath(t)
	pki := newTestPKI(t)
	b := startSecureBroker(t, pki)
	caFile, _ := pki.writeFiles(t)
	_, clientPEM := pki.issue(t, pkix.Name{CommonName: "kcat"}, false)
	clientFile := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(clientFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(testCtx(t), kcat, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	roundTrip := func(t *testing.T, addr string, sec ...string) {
		topic := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
		base := append([]string{"-b", addr, "-t", topic}, sec...)
		if out, err := run(t, "one\ntwo\nthree\n", append(base, "-P", "-X", "allow.auto.create.topics=true", "-X", "acks=all")...); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		out, err := run(t, "", append(base, "-C", "-o", "beginning", "-e", "-c", "3")...)
		if err != nil || !strings.Contains(out, "one\ntwo\nthree") {
			t.Fatalf("kcat -C: %v\n%s", err, out)
		}
	}
	tlsArgs := []string{"-X", "ssl.ca.location=" + caFile, "-X", "ssl.endpoint.identification.algorithm=none"}

	t.Run("SSL", func(t *testing.T) {
		roundTrip(t, b.ListenerAddr("SSL"), append([]string{"-X", "security.protocol=SSL",
			"-X", "ssl.certificate.location=" + clientFile, "-X", "ssl.key.location=" + clientFile}, tlsArgs...)...)
	})
	for _, mech := range []string{mechPlain, mechScramSHA256, mechScramSHA512} {
		for _, lis := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
			sasl := []string{"-X", "security.protocol=" + lis, "-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=alice"}
			if lis == "SASL_SSL" {
				sasl = append(sasl, tlsArgs...)
			}
			t.Run(fmt.Sprintf("%s/%s", lis, mech), func(t *testing.T) {
				roundTrip(t, b.ListenerAddr(lis), append(sasl, "-X", "sasl.password="+testUsers["alice"])...)
			})
			t.Run(fmt.Sprintf("%s/%s/wrong-password", lis, mech), func(t *testing.T) {
				out, err := run(t, "", append([]string{"-b", b.ListenerAddr(lis), "-L", "-m", "2"}, append(sasl, "-X", "sasl.password=nope")...)...)
				if err == nil || !strings.Contains(out, "Authentication failed") {
					t.Errorf("kcat -L with a wrong password: %v\n%s", err, out)
				}
			})
		}
	}
}
