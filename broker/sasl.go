package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka
// does it (KIP-43, KIP-152, KIP-368):
//
//  1. The client may send ApiVersions, then SaslHandshake naming a
//     mechanism. An unknown mechanism is answered with
//     UNSUPPORTED_SASL_MECHANISM and the list of enabled ones, and the
//     connection is closed.
//  2. With SaslHandshake v1 the client then sends the mechanism's
//     messages in SaslAuthenticate requests; with v0 (the legacy flow) it
//     sends them as bare length-prefixed frames and gets bare frames back.
//  3. A failed exchange is answered with SASL_AUTHENTICATION_FAILED and
//     one message per mechanism, whether the user is unknown or the
//     password wrong, and the connection is closed.
//  4. Until the exchange succeeds, any other request closes the
//     connection. After it, the principal is User:<name>.
//  5. With connections.max.reauth.ms (Config.ReauthInterval) the session
//     lifetime is returned in SaslAuthenticate v1+; the client must run
//     SaslHandshake and SaslAuthenticate again on the same connection, as
//     the same user, before it ends, or its next request closes the
//     connection.
//
// The state lives in saslConn and is touched only by the connection's
// reader goroutine: handlers run there synchronously.

type saslConn struct {
	authenticated bool
	expires       time.Time // zero: the session does not expire

	// The exchange in progress, between SaslHandshake and its end.
	mech string
	ex   saslExchange
	raw  bool // SaslHandshake v0: tokens come as bare frames
}

// saslExchange is the server side of one mechanism's exchange.
type saslExchange interface {
	// step takes the client's next message and returns the server's
	// reply; done says the client is authenticated. Any error means
	// authentication failed.
	step(msg []byte) (out []byte, done bool, err error)
	// user is the authenticated user, once done.
	user() string
}

var errSASLFailed = errors.New("authentication failed")

// saslFailure is the message of every failed authentication: it must not
// tell an unknown user from a wrong password.
func saslFailure(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

func (b *Broker) newExchange(mech string) saslExchange {
	switch mech {
	case mechPlain:
		return &plainExchange{creds: b.creds}
	case mechScramSHA256:
		return &scramExchange{creds: b.creds, k: scramSHA256}
	case mechScramSHA512:
		return &scramExchange{creds: b.creds, k: scramSHA512}
	}
	return nil
}

// saslGate lets a request through on a SASL listener, or closes the
// connection: before authentication only ApiVersions and the SASL APIs
// may be called; after the session expires only SaslHandshake starts over.
func (c *conn) saslGate(h requestHeader) error {
	switch h.key {
	case int16(kmsg.ApiVersions), int16(kmsg.SASLHandshake), int16(kmsg.SASLAuthenticate):
		return nil
	}
	s := c.sasl
	if s.ex != nil {
		return fmt.Errorf("%s during SASL authentication: %w", kmsg.NameForKey(h.key), errCloseConn)
	}
	if !s.authenticated {
		return fmt.Errorf("%s before SASL authentication: %w", kmsg.NameForKey(h.key), errCloseConn)
	}
	if !s.expires.IsZero() && time.Now().After(s.expires) {
		return fmt.Errorf("SASL session of %s expired without re-authentication (connections.max.reauth.ms): %w", c.principal, errCloseConn)
	}
	return nil
}

// saslStep runs one message of the exchange. On success it returns the
// reply to send; when the exchange completes it authenticates the
// connection. On failure it returns the message for the client.
func (c *conn) saslStep(msg []byte) (out []byte, done bool, failure string) {
	s := c.sasl
	out, done, err := s.ex.step(msg)
	if err != nil {
		c.log.Info("SASL authentication failed", "listener", c.lis.name, "mechanism", s.mech, "err", err)
		return nil, false, saslFailure(s.mech)
	}
	if !done {
		return out, false, ""
	}
	principal := "User:" + s.ex.user()
	if s.authenticated && principal != c.principal {
		c.log.Info("SASL re-authentication as another user refused", "was", c.principal, "now", principal)
		return nil, false, saslFailure(s.mech)
	}
	if !s.authenticated {
		c.log.Debug("SASL authenticated", "listener", c.lis.name, "mechanism", s.mech, "principal", principal)
	}
	c.principal = principal
	s.authenticated = true
	s.ex, s.raw = nil, false
	if d := c.b.cfg.ReauthInterval; d > 0 {
		s.expires = time.Now().Add(d)
	}
	return out, true, ""
}

// handleRawSASL takes one bare token of the legacy flow (after
// SaslHandshake v0) and answers with a bare token. Failure closes the
// connection without an answer, as Kafka does.
func (c *conn) handleRawSASL(body []byte) (*reply, error) {
	out, _, failure := c.saslStep(body)
	if failure != "" {
		return nil, fmt.Errorf("%s: %w: %w", failure, errAuthFailed, errCloseConn)
	}
	return &reply{write: func(_ context.Context, _ requestHeader, bw *bufio.Writer, _ net.Conn) error {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(out)))
		bw.Write(n[:])
		_, err := bw.Write(out)
		return err
	}}, nil
}

// plainExchange is RFC 4616: one message, authzid NUL authcid NUL passwd.
type plainExchange struct {
	creds *credentialStore
	name  string
}

func (p *plainExchange) step(msg []byte) ([]byte, bool, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("PLAIN: malformed message: %w", errSASLFailed)
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return nil, false, fmt.Errorf("PLAIN: empty user name: %w", errSASLFailed)
	}
	if authz != "" && authz != user {
		return nil, false, fmt.Errorf("PLAIN: authorization id %q differs from user %q: %w", authz, user, errSASLFailed)
	}
	if !p.creds.verifyPlain(user, pass) {
		return nil, false, fmt.Errorf("PLAIN: invalid credentials for user %q: %w", user, errSASLFailed)
	}
	p.name = user
	return []byte{}, true, nil
}

func (p *plainExchange) user() string { return p.name }

// scramExchange is the server side of SCRAM (RFC 5802) without channel
// binding, as Kafka implements it: client-first, server-first,
// client-final, server-final. An unknown user gets a server-first built
// from a fake credential, so the exchange fails at the proof like a
// wrong password does.
type scramExchange struct {
	creds *credentialStore
	k     *scramKind

	stage       int // 0: expect client-first; 1: expect client-final; 2: done
	name        string
	known       bool
	cred        scramCredential
	gs2Header   string
	nonce       string
	clientFirst string // client-first-message-bare
	serverFirst string
}

func (s *scramExchange) user() string { return s.name }

func (s *scramExchange) step(msg []byte) ([]byte, bool, error) {
	switch s.stage {
	case 0:
		out, err := s.clientFirstMsg(string(msg))
		if err != nil {
			return nil, false, fmt.Errorf("%s client-first: %v: %w", s.k.name, err, errSASLFailed)
		}
		s.stage = 1
		return out, false, nil
	case 1:
		out, err := s.clientFinalMsg(string(msg))
		s.stage = 2
		if err != nil {
			return nil, false, fmt.Errorf("%s client-final (user %q): %v: %w", s.k.name, s.name, err, errSASLFailed)
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("%s: message after the end of the exchange: %w", s.k.name, errSASLFailed)
}

func (s *scramExchange) clientFirstMsg(msg string) ([]byte, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, errors.New("no GS2 header")
	}
	switch {
	case flag == "n", flag == "y":
	case strings.HasPrefix(flag, "p="):
		return nil, errors.New("channel binding is not supported")
	default:
		return nil, fmt.Errorf("bad channel binding flag %q", flag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, errors.New("GS2 header not terminated")
	}
	s.gs2Header = flag + "," + authz + ","
	s.clientFirst = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, errors.New("want n=user,r=nonce")
	}
	name, err := saslName(attrs[0][2:])
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("empty user name")
	}
	if authz != "" {
		a, err := saslName(strings.TrimPrefix(authz, "a="))
		if err != nil || !strings.HasPrefix(authz, "a=") || a != name {
			return nil, errors.New("authorization id differs from the user name")
		}
	}
	cnonce := attrs[1][2:]
	if cnonce == "" {
		return nil, errors.New("empty nonce")
	}
	s.name = name
	s.cred, s.known = s.creds.lookup(name, s.k)
	var snonce [18]byte
	rand.Read(snonce[:])
	s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce[:])
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), nil
}

func (s *scramExchange) clientFinalMsg(msg string) ([]byte, error) {
	withoutProof, proofAttr, ok := cutLast(msg, ",p=")
	if !ok {
		return nil, errors.New("no proof")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, errors.New("want c=binding,r=nonce,...,p=proof")
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil || string(cb) != s.gs2Header {
		return nil, errors.New("channel binding does not match the GS2 header")
	}
	// Kafka accepts a nonce that merely ends with the server's: librdkafka
	// sends its client nonce once more in front of it.
	if !strings.HasSuffix(attrs[1][2:], s.nonce) {
		return nil, errors.New("nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofAttr)
	if err != nil {
		return nil, errors.New("proof is not base64")
	}
	authMessage := s.clientFirst + "," + s.serverFirst + "," + withoutProof
	signature := s.k.hmac(s.cred.StoredKey, authMessage)
	if len(proof) != len(signature) {
		return nil, errors.New("proof has the wrong length")
	}
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, signature)
	if subtle.ConstantTimeCompare(s.k.sum(clientKey), s.cred.StoredKey) != 1 || !s.known {
		return nil, errors.New("invalid credentials")
	}
	serverSig := s.k.hmac(s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

// saslName decodes RFC 5802's saslname: "=2C" is ',' and "=3D" is '='.
func saslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape in user name")
		}
		i += 2
	}
	return b.String(), nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
