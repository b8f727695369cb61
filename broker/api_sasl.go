package broker

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSASLHandshake answers SaslHandshake (key 17), v0-v1: it picks the
// mechanism of the exchange that follows (sasl.go). On a listener without
// SASL, or in the middle of an exchange, it answers ILLEGAL_SASL_STATE.
// After authentication it starts a re-authentication (KIP-368), which
// must use the same mechanism.
func handleSASLHandshake(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := r.resp.(*kmsg.SASLHandshakeResponse)
	s := c.sasl
	if s == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return
	}
	resp.SupportedMechanisms = c.lis.mechs
	switch {
	case s.ex != nil:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = fmt.Errorf("SaslHandshake during a SASL exchange: %w", errCloseConn)
	case !slices.Contains(c.lis.mechs, req.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closeAfter = fmt.Errorf("unsupported SASL mechanism %q: %w", req.Mechanism, errCloseConn)
	case s.authenticated && (req.Version == 0 || req.Mechanism != s.mech):
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = fmt.Errorf("re-authentication with SaslHandshake v%d and mechanism %s (was %s): %w",
			req.Version, req.Mechanism, s.mech, errCloseConn)
	default:
		s.mech = req.Mechanism
		s.ex = c.b.newExchange(req.Mechanism)
		s.raw = req.Version == 0
	}
}

// handleSASLAuthenticate answers SaslAuthenticate (key 36), v0-v2: one
// message of the exchange (KIP-152). A failure is answered with
// SASL_AUTHENTICATION_FAILED and closes the connection; v1+ tells the
// client how long its session lasts (KIP-368; 0 for ever).
func handleSASLAuthenticate(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := r.resp.(*kmsg.SASLAuthenticateResponse)
	s := c.sasl
	if s == nil || s.ex == nil || s.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate is only expected after a SaslHandshake v1")
		c.closeAfter = fmt.Errorf("SaslAuthenticate out of turn: %w", errCloseConn)
		return
	}
	out, done, failure := c.saslStep(req.SASLAuthBytes)
	if failure != "" {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(failure)
		c.closeAfter = fmt.Errorf("SASL authentication failed (%s): %w: %w", failure, errAuthFailed, errCloseConn)
		return
	}
	resp.SASLAuthBytes = out
	if resp.SASLAuthBytes == nil {
		resp.SASLAuthBytes = []byte{}
	}
	if done && !s.expires.IsZero() {
		resp.SessionLifetimeMillis = c.b.cfg.ReauthInterval.Milliseconds()
	}
}
