package broker

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzSASLExchange feeds arbitrary client messages to the SASL
// mechanisms and to a SASL listener's connection state machine: nothing
// may panic, and a connection is authenticated only with a principal.
//
//	go test -run '^$' -fuzz FuzzSASLExchange ./broker/
func FuzzSASLExchange(f *testing.F) {
	f.Add(uint8(0), []byte("\x00alice\x00alice-secret"), []byte{}, false)
	f.Add(uint8(1), []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"), true)
	f.Add(uint8(2), []byte("y,a=alice,n=alice,r=x"), []byte("c=eSxhPWFsaWNlLA==,r=x,p="), false)
	f.Add(uint8(1), []byte("n,,n=a=2Cb=3D,r=\xff"), []byte(",p=,p="), true)
	f.Add(uint8(0), []byte{0, 0, 0}, []byte{0x00, 0x24, 0x00, 0x01}, false)

	dir := f.TempDir()
	addTestUsers(f, dir)
	b := startBroker(f, func(c *Config) {
		c.DataDir = dir
		c.Listeners = []Listener{{Protocol: SASLPlaintext, Addr: "127.0.0.1:0"}}
	})
	mechs := []string{mechPlain, mechScramSHA256, mechScramSHA512}

	f.Fuzz(func(t *testing.T, which uint8, first, second []byte, legacy bool) {
		mech := mechs[int(which)%len(mechs)]

		// The mechanism alone.
		ex := b.newExchange(mech)
		if _, done, err := ex.step(first); err == nil && !done {
			ex.step(second)
		}

		// The connection: handshake, then the two messages as
		// SaslAuthenticate requests (or bare tokens in the legacy flow),
		// then the same bytes as whole request frames.
		server, client := net.Pipe()
		defer server.Close()
		defer client.Close()
		c := newConn(b, server, b.listeners[0])
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Mechanism = mech
		if !legacy {
			hs.Version = 1
		}
		if _, err := c.handle(requestBody(hs)); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		for _, msg := range [][]byte{first, second, first} {
			var body []byte
			if legacy {
				body = msg
			} else {
				auth := kmsg.NewPtrSASLAuthenticateRequest()
				auth.Version, auth.SASLAuthBytes = 2, msg
				body = requestBody(auth)
			}
			if c.sasl.raw != legacy && c.sasl.ex != nil {
				t.Fatalf("legacy flow %v but raw %v", legacy, c.sasl.raw)
			}
			if _, err := c.handle(body); err != nil || c.closeAfter != nil {
				break
			}
			if len(msg) >= 8 {
				c.handle(msg) // whatever it is, as a request frame
			}
		}
		if c.sasl.authenticated != (c.principal != "") {
			t.Fatalf("authenticated %v with principal %q", c.sasl.authenticated, c.principal)
		}
	})
}

// requestBody encodes req as a request frame body (no length prefix).
func requestBody(req kmsg.Request) []byte {
	buf := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, 1)
	buf = binary.BigEndian.AppendUint16(buf, 4)
	buf = append(buf, "fuzz"...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	return req.AppendTo(buf)
}
