package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startSecureBroker runs a broker with testUsers and a PLAINTEXT, a
// SASL_PLAINTEXT, an SSL and a SASL_SSL listener, all on free loopback
// ports.
func startSecureBroker(t testing.TB, pki *testPKI, mutate ...func(*Config)) *Broker {
	t.Helper()
	dir := t.TempDir()
	addTestUsers(t, dir)
	return startBroker(t, append([]func(*Config){func(c *Config) {
		c.DataDir = dir
		c.Listeners = []Listener{
			{Name: "PLAINTEXT", Addr: "127.0.0.1:0"},
			{Name: "SASL_PLAINTEXT", Protocol: SASLPlaintext, Addr: "127.0.0.1:0"},
			{Name: "SSL", Protocol: SSL, Addr: "127.0.0.1:0", TLS: pki.serverTLS(tls.VerifyClientCertIfGiven)},
			{Name: "SASL_SSL", Protocol: SASLSSL, Addr: "127.0.0.1:0", TLS: pki.serverTLS(tls.NoClientCert)},
		}
	}}, mutate...)...)
}

// roundTripKgo produces n records to a new topic through cl and reads
// them back through a second client made with the same options.
func roundTripKgo(t *testing.T, addr string, opts ...kgo.Opt) {
	t.Helper()
	ctx := testCtx(t)
	topic := fmt.Sprintf("rt-%d", time.Now().UnixNano())
	cl := newKgoClient(t, addr, append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())...)
	const n = 20
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := newKgoClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
	}
}

// TestSecurityListeners drives franz-go and sarama through all four
// listener kinds with every SASL mechanism, and checks that Metadata
// advertises the listener the client came in on.
func TestSecurityListeners(t *testing.T) {
	pki := newTestPKI(t)
	b := startSecureBroker(t, pki)
	mechs := []string{mechPlain, mechScramSHA256, mechScramSHA512}

	t.Run("franz-go", func(t *testing.T) {
		t.Run("PLAINTEXT", func(t *testing.T) { roundTripKgo(t, b.ListenerAddr("PLAINTEXT")) })
		t.Run("SSL", func(t *testing.T) {
			roundTripKgo(t, b.ListenerAddr("SSL"), kgo.DialTLSConfig(pki.clientTLS()))
		})
		for _, m := range mechs {
			t.Run("SASL_PLAINTEXT/"+m, func(t *testing.T) {
				roundTripKgo(t, b.ListenerAddr("SASL_PLAINTEXT"), kgoSASL(m, "alice", testUsers["alice"]))
			})
			t.Run("SASL_SSL/"+m, func(t *testing.T) {
				roundTripKgo(t, b.ListenerAddr("SASL_SSL"), kgoSASL(m, "bob", testUsers["bob"]), kgo.DialTLSConfig(pki.clientTLS()))
			})
		}
	})

	t.Run("sarama", func(t *testing.T) {
		for _, m := range mechs {
			for _, v := range []int16{sarama.SASLHandshakeV0, sarama.SASLHandshakeV1} {
				for _, lis := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
					t.Run(fmt.Sprintf("%s/%s/handshake-v%d", lis, m, v), func(t *testing.T) {
						cfg := saramaConfig(m, "alice", testUsers["alice"])
						cfg.Net.SASL.Version = v
						cfg.ApiVersionsRequest = v == sarama.SASLHandshakeV1 // sarama's rule for the legacy flow
						if lis == "SASL_SSL" {
							cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, pki.clientTLS()
						}
						saramaRoundTrip(t, b.ListenerAddr(lis), cfg)
					})
				}
			}
		}
		t.Run("SSL", func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = sarama.V2_8_0_0
			cfg.Producer.Return.Successes = true
			cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, pki.clientTLS()
			saramaRoundTrip(t, b.ListenerAddr("SSL"), cfg)
		})
	})

	t.Run("advertised", func(t *testing.T) {
		for _, lis := range []string{"PLAINTEXT", "SSL"} {
			var opts []kgo.Opt
			if lis == "SSL" {
				opts = append(opts, kgo.DialTLSConfig(pki.clientTLS()))
			}
			cl := newKgoClient(t, b.ListenerAddr(lis), opts...)
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s:%d", resp.Brokers[0].Host, resp.Brokers[0].Port)
			if got != b.ListenerAddr(lis) {
				t.Errorf("%s listener advertises %s, want %s", lis, got, b.ListenerAddr(lis))
			}
		}
	})
}

func saramaRoundTrip(t *testing.T, addr string, cfg *sarama.Config) {
	t.Helper()
	topic := fmt.Sprintf("sarama-%d", time.Now().UnixNano())
	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer prod.Close()
	for i := range 5 {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	defer pc.Close()
	for i := range 5 {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprint(i) {
				t.Fatalf("record %d is %q", i, m.Value)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("record %d did not come", i)
		}
	}
}

// TestSecuritySASLRefusals checks the answers to wrong passwords and
// unknown users (the same, so user names cannot be probed), to
// unsupported mechanisms, and that nothing but ApiVersions and the SASL
// handshake can be called before authentication.
func TestSecuritySASLRefusals(t *testing.T) {
	pki := newTestPKI(t)
	b := startSecureBroker(t, pki)
	addr := b.ListenerAddr("SASL_PLAINTEXT")

	handshake := func(rc *rawConn, mech string) *kmsg.SASLHandshakeResponse {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, mech
		return rc.roundTrip(req).(*kmsg.SASLHandshakeResponse)
	}
	authenticate := func(rc *rawConn, msg []byte) *kmsg.SASLAuthenticateResponse {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 2, msg
		return rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
	}
	// failPlain logs in with PLAIN and returns the failure message.
	failPlain := func(user, pass string) string {
		rc := dialRaw(t, addr, nil)
		if r := handshake(rc, mechPlain); r.ErrorCode != 0 {
			t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		r := authenticate(rc, []byte("\x00"+user+"\x00"+pass))
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil {
			t.Fatalf("PLAIN %s/%s: error %v, want SASL_AUTHENTICATION_FAILED", user, pass, kerr.ErrorForCode(r.ErrorCode))
		}
		if !rc.closed() {
			t.Errorf("connection stays open after a failed authentication")
		}
		return *r.ErrorMessage
	}
	t.Run("PLAIN", func(t *testing.T) {
		wrong, unknown := failPlain("alice", "nope"), failPlain("mallory", "nope")
		if wrong != unknown {
			t.Errorf("wrong password answers %q, unknown user %q: they must not differ", wrong, unknown)
		}
	})

	// For SCRAM, an unknown user must get a server-first message just
	// like a real one and fail at the proof, with the same message.
	failScram := func(mech, user, pass string) (string, string) {
		rc := dialRaw(t, addr, nil)
		if r := handshake(rc, mech); r.ErrorCode != 0 {
			t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		k := scramKindByName(mech)
		cfirst := "n=" + user + ",r=clientnonce"
		r1 := authenticate(rc, []byte("n,,"+cfirst))
		if r1.ErrorCode != 0 {
			t.Fatalf("%s client-first for %s: %v", mech, user, kerr.ErrorForCode(r1.ErrorCode))
		}
		sfirst := string(r1.SASLAuthBytes)
		nonce, salt, iter := parseServerFirst(t, sfirst)
		salted := k.saltedPassword(pass, salt, iter)
		final := "c=biws,r=" + nonce
		authMsg := cfirst + "," + sfirst + "," + final
		clientKey := k.hmac(salted, "Client Key")
		sig := k.hmac(k.sum(clientKey), authMsg)
		for i := range clientKey {
			clientKey[i] ^= sig[i]
		}
		r2 := authenticate(rc, []byte(final+",p="+b64(clientKey)))
		if r2.ErrorCode != kerr.SaslAuthenticationFailed.Code || r2.ErrorMessage == nil {
			t.Fatalf("%s %s/%s: error %v, want SASL_AUTHENTICATION_FAILED", mech, user, pass, kerr.ErrorForCode(r2.ErrorCode))
		}
		if !rc.closed() {
			t.Errorf("connection stays open after a failed authentication")
		}
		return *r2.ErrorMessage, fmt.Sprintf("iterations=%d salt=%d bytes", iter, len(salt))
	}
	for _, mech := range []string{mechScramSHA256, mechScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			wrong, wrongShape := failScram(mech, "alice", "nope")
			unknown, unknownShape := failScram(mech, "mallory", "nope")
			if wrong != unknown {
				t.Errorf("wrong password answers %q, unknown user %q", wrong, unknown)
			}
			if !strings.Contains(wrong, mech) {
				t.Errorf("message %q does not name the mechanism", wrong)
			}
			if wrongShape != unknownShape {
				t.Errorf("server-first differs: known user %s, unknown %s", wrongShape, unknownShape)
			}
		})
	}

	t.Run("franz-go wrong password", func(t *testing.T) {
		cl := newKgoClient(t, addr, kgoSASL(mechScramSHA256, "alice", "nope"), kgo.RequestRetries(0))
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("metadata with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})

	t.Run("unsupported mechanism", func(t *testing.T) {
		rc := dialRaw(t, addr, nil)
		r := handshake(rc, "GSSAPI")
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 3 {
			t.Errorf("GSSAPI: %v %v, want UNSUPPORTED_SASL_MECHANISM and our three", kerr.ErrorForCode(r.ErrorCode), r.SupportedMechanisms)
		}
		if !rc.closed() {
			t.Errorf("connection stays open")
		}
	})

	t.Run("gate", func(t *testing.T) {
		// ApiVersions is answered; Metadata closes the connection.
		rc := dialRaw(t, addr, nil)
		av := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
		if av.ErrorCode != 0 || len(av.ApiKeys) == 0 {
			t.Fatalf("ApiVersions before authentication: %v", kerr.ErrorForCode(av.ErrorCode))
		}
		rc.send(kmsg.NewPtrMetadataRequest())
		if !rc.closed() {
			t.Errorf("Metadata before authentication was answered")
		}
		// So does anything between the handshake and its end.
		rc = dialRaw(t, addr, nil)
		handshake(rc, mechScramSHA256)
		rc.send(kmsg.NewPtrListGroupsRequest())
		if !rc.closed() {
			t.Errorf("ListGroups during the SASL exchange was answered")
		}
		// SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE.
		rc = dialRaw(t, addr, nil)
		if r := authenticate(rc, []byte("x")); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Errorf("SaslAuthenticate first: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
		// A SaslHandshake on a listener without SASL: ILLEGAL_SASL_STATE.
		rc = dialRaw(t, b.ListenerAddr("PLAINTEXT"), nil)
		if r := handshake(rc, mechPlain); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Errorf("SaslHandshake on PLAINTEXT: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
		// After a successful login everything is open.
		rc = dialRaw(t, addr, nil)
		handshake(rc, mechPlain)
		if r := authenticate(rc, []byte("\x00alice\x00"+testUsers["alice"])); r.ErrorCode != 0 {
			t.Fatalf("PLAIN alice: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if md := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(md.Brokers) != 1 {
			t.Errorf("metadata after login: %+v", md)
		}
	})

	t.Run("mTLS required", func(t *testing.T) {
		b2 := startBroker(t, func(c *Config) {
			c.Listeners = []Listener{{Protocol: SSL, Addr: "127.0.0.1:0", TLS: pki.serverTLS(tls.RequireAndVerifyClientCert)}}
		})
		cl := newKgoClient(t, b2.Addr(), kgo.DialTLSConfig(pki.clientTLS()), kgo.RequestRetries(0))
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl); err == nil {
			t.Errorf("a client without a certificate got metadata from an ssl.client.auth=required listener")
		}
	})
}

func parseServerFirst(t testing.TB, s string) (nonce string, salt []byte, iter int) {
	t.Helper()
	for _, attr := range strings.Split(s, ",") {
		switch {
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		case strings.HasPrefix(attr, "s="):
			salt = unb64(t, attr[2:])
		case strings.HasPrefix(attr, "i="):
			fmt.Sscan(attr[2:], &iter)
		}
	}
	if nonce == "" || salt == nil || iter == 0 {
		t.Fatalf("bad server-first %q", s)
	}
	return nonce, salt, iter
}

// TestSecuritySCRAMAdmin manages users through the Kafka API with kadm
// (the client salts the password) and logs in with the result; a
// restarted broker still knows them.
func TestSecuritySCRAMAdmin(t *testing.T) {
	pki := newTestPKI(t)
	b := startSecureBroker(t, pki)
	ctx := testCtx(t)
	adm := kadm.NewClient(newKgoClient(t, b.ListenerAddr("PLAINTEXT")))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res["carol"].Err; err != nil {
		t.Errorf("upsert carol: %v", err)
	}
	// kadm checks iterations itself; the broker must too.
	raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	raw.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "dave", Mechanism: 1, Iterations: 100, Salt: []byte("salt"), SaltedPassword: make([]byte, 32)}}
	rresp, err := raw.RequestWith(ctx, newKgoClient(t, b.ListenerAddr("PLAINTEXT")))
	if err != nil {
		t.Fatal(err)
	}
	if c := rresp.Results[0].ErrorCode; c != kerr.UnacceptableCredential.Code {
		t.Errorf("upsert dave with 100 iterations: %v, want UNACCEPTABLE_CREDENTIAL", kerr.ErrorForCode(c))
	}
	roundTripKgo(t, b.ListenerAddr("SASL_PLAINTEXT"), kgoSASL(mechScramSHA512, "carol", "carol-secret"))
	roundTripKgo(t, b.ListenerAddr("SASL_PLAINTEXT"), kgoSASL(mechPlain, "carol", "carol-secret"))

	desc, err := adm.DescribeUserSCRAMs(ctx, "carol", "alice", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if c := desc["carol"]; c.Err != nil || len(c.CredInfos) != 1 || c.CredInfos[0].Iterations != 8192 {
		t.Errorf("carol: %+v", c)
	}
	if a := desc["alice"]; a.Err != nil || len(a.CredInfos) != 2 {
		t.Errorf("alice: %+v", a)
	}
	if n := desc["nobody"]; !errors.Is(n.Err, kerr.ResourceNotFound) {
		t.Errorf("nobody: %v, want RESOURCE_NOT_FOUND", n.Err)
	}

	del, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}, {User: "nobody", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if del["carol"].Err != nil || !errors.Is(del["nobody"].Err, kerr.ResourceNotFound) {
		t.Errorf("delete: carol %v, nobody %v", del["carol"].Err, del["nobody"].Err)
	}
	cl := newKgoClient(t, b.ListenerAddr("SASL_PLAINTEXT"), kgoSASL(mechScramSHA512, "carol", "carol-secret"), kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("login after deletion: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	users, err := UserCredentials(b.cfg.DataDir)
	if err != nil || len(users["alice"]) != 2 || users["carol"] != nil {
		t.Errorf("stored users: %v %v", users, err)
	}
}

// TestSecurityReauth runs with a one-second session lifetime (KIP-368):
// franz-go re-authenticates on its own and keeps working; a raw client
// that does not is cut off.
func TestSecurityReauth(t *testing.T) {
	pki := newTestPKI(t)
	b := startSecureBroker(t, pki, func(c *Config) { c.ReauthInterval = time.Second })
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	ctx := testCtx(t)
	cl := newKgoClient(t, addr, kgoSASL(mechScramSHA256, "alice", testUsers["alice"]))
	for range 3 {
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			t.Fatalf("metadata: %v", err)
		}
		time.Sleep(700 * time.Millisecond)
	}

	rc := dialRaw(t, addr, nil)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mechPlain
	rc.roundTrip(hs)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.Version, auth.SASLAuthBytes = 1, []byte("\x00alice\x00"+testUsers["alice"])
	r := rc.roundTrip(auth).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || r.SessionLifetimeMillis != 1000 {
		t.Fatalf("login: %v, session lifetime %d ms, want 1000", kerr.ErrorForCode(r.ErrorCode), r.SessionLifetimeMillis)
	}
	time.Sleep(1100 * time.Millisecond)
	rc.send(kmsg.NewPtrMetadataRequest())
	if !rc.closed() {
		t.Errorf("a request after the session expired was answered")
	}
}

// TestSecuritySASLFailureLogLevel checks that a client's wrong password is
// logged at INFO, as Kafka logs failed authentications: a WARN for every
// mistyped password would drown the broker's real warnings.
func TestSecuritySASLFailureLogLevel(t *testing.T) {
	logs := &levelRecorder{}
	b := startSecureBroker(t, newTestPKI(t), func(c *Config) { c.Logger = slog.New(logs) })
	cl := newKgoClient(t, b.ListenerAddr("SASL_PLAINTEXT"), kgoSASL(mechPlain, "alice", "nope"), kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("metadata with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	cl.Close()
	// The broker logs once it has closed the connection; wait for that.
	ctx := testCtx(t)
	for {
		changed := logs.changed() // before looking, so no message slips between
		if level, ok := logs.levelOf("closing connection"); ok {
			if level != slog.LevelInfo {
				t.Errorf("a failed authentication is logged at %v, want INFO", level)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the broker never logged the connection it closed")
		case <-changed:
		}
	}
}

// levelRecorder is a slog.Handler that remembers each message's level.
type levelRecorder struct {
	mu     sync.Mutex
	levels map[string]slog.Level
	notify chan struct{}
}

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler            { return h }

func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.levels == nil {
		h.levels = map[string]slog.Level{}
	}
	h.levels[r.Message] = r.Level
	if h.notify != nil {
		close(h.notify)
		h.notify = nil
	}
	return nil
}

func (h *levelRecorder) levelOf(msg string) (slog.Level, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.levels[msg]
	return l, ok
}

// changed returns a channel closed at the next message.
func (h *levelRecorder) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notify == nil {
		h.notify = make(chan struct{})
	}
	return h.notify
}
