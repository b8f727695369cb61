package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Listeners work like Kafka's: each has a name, a security protocol, a
// bind address and an advertised address. Metadata and FindCoordinator
// answer with the advertised address of the listener the request came in
// on, so clients stay on the listener (and protocol) they chose.
//
//   - PLAINTEXT: no encryption, no authentication; the principal is
//     User:ANONYMOUS.
//   - SSL: TLS 1.2+. With client certificates (Listener.TLS.ClientAuth,
//     Kafka's ssl.client.auth) the principal comes from the certificate's
//     subject (ssl.principal.mapping.rules); without one it is
//     User:ANONYMOUS.
//   - SASL_PLAINTEXT, SASL_SSL: the client authenticates with SASL
//     (sasl.go) before it may call anything but ApiVersions,
//     SaslHandshake and SaslAuthenticate.

// SecurityProtocol is a listener's security protocol, by Kafka's name.
type SecurityProtocol string

// The security protocols of Kafka's listener.security.protocol.map.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

func (p SecurityProtocol) usesTLS() bool  { return p == SSL || p == SASLSSL }
func (p SecurityProtocol) usesSASL() bool { return p == SASLPlaintext || p == SASLSSL }

func parseSecurityProtocol(s string) (SecurityProtocol, error) {
	p := SecurityProtocol(strings.ToUpper(strings.TrimSpace(s)))
	switch p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// The SASL mechanisms the broker implements.
const (
	mechPlain       = "PLAIN"
	mechScramSHA256 = "SCRAM-SHA-256"
	mechScramSHA512 = "SCRAM-SHA-512"
)

var allMechanisms = []string{mechScramSHA512, mechScramSHA256, mechPlain}

// Listener is one endpoint of the broker (Kafka: an entry of listeners,
// advertised.listeners and listener.security.protocol.map).
type Listener struct {
	// Name is the listener's name, e.g. "CLIENT" or "INTERNAL". Default:
	// the protocol's name. Names are unique.
	Name string

	// Protocol is the security protocol. Default PLAINTEXT.
	Protocol SecurityProtocol

	// Addr is the host:port to bind; port 0 picks a free port
	// (Broker.ListenerAddr reports it).
	Addr string

	// AdvertisedAddr is the host:port clients are told to connect to.
	// Default: the bound address, an unspecified host replaced by
	// 127.0.0.1.
	AdvertisedAddr string

	// TLS configures SSL and SASL_SSL listeners: at least a server
	// certificate; ClientAuth and ClientCAs for client certificates
	// (mTLS). MinVersion is raised to TLS 1.2 if lower. Required for
	// those protocols, ignored by the others.
	TLS *tls.Config

	// SASLMechanisms are the mechanisms offered on a SASL listener
	// (Kafka: sasl.enabled.mechanisms). Default SCRAM-SHA-512,
	// SCRAM-SHA-256 and PLAIN.
	SASLMechanisms []string
}

// listener is a bound Listener.
type listener struct {
	name     string
	protocol SecurityProtocol
	ln       net.Listener
	tls      *tls.Config
	mechs    []string
	advHost  string
	advPort  int32
}

func (l *listener) advertisedAddr() string {
	return net.JoinHostPort(l.advHost, strconv.Itoa(int(l.advPort)))
}

// effectiveListeners returns c.Listeners checked and with defaults filled
// in, or the single PLAINTEXT listener that Listen and AdvertisedAddr
// describe.
func (c *Config) effectiveListeners() ([]Listener, error) {
	if len(c.Listeners) == 0 {
		return []Listener{{Name: string(Plaintext), Protocol: Plaintext, Addr: c.Listen, AdvertisedAddr: c.AdvertisedAddr}}, nil
	}
	out := make([]Listener, len(c.Listeners))
	seen := map[string]bool{}
	for i, l := range c.Listeners {
		if l.Protocol == "" {
			l.Protocol = Plaintext
		}
		p, err := parseSecurityProtocol(string(l.Protocol))
		if err != nil {
			return nil, fmt.Errorf("broker: listener %q: %w", l.Name, err)
		}
		l.Protocol = p
		if l.Name == "" {
			l.Name = string(p)
		}
		l.Name = strings.ToUpper(l.Name)
		if seen[l.Name] {
			return nil, fmt.Errorf("broker: listeners: name %s appears twice", l.Name)
		}
		seen[l.Name] = true
		if l.Addr == "" {
			return nil, fmt.Errorf("broker: listener %s: no address", l.Name)
		}
		if p.usesTLS() {
			if l.TLS == nil || (len(l.TLS.Certificates) == 0 && l.TLS.GetCertificate == nil && l.TLS.GetConfigForClient == nil) {
				return nil, fmt.Errorf("broker: listener %s (%s) needs a server certificate (ssl.keystore.location)", l.Name, p)
			}
			l.TLS = l.TLS.Clone()
			if l.TLS.MinVersion < tls.VersionTLS12 {
				l.TLS.MinVersion = tls.VersionTLS12
			}
		} else {
			l.TLS = nil
		}
		if p.usesSASL() {
			if len(l.SASLMechanisms) == 0 {
				l.SASLMechanisms = allMechanisms
			}
			for _, m := range l.SASLMechanisms {
				if !slices.Contains(allMechanisms, m) {
					return nil, fmt.Errorf("broker: listener %s: SASL mechanism %q is not supported (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", l.Name, m)
				}
			}
		}
		out[i] = l
	}
	return out, nil
}

// bindListeners binds every listener, or none.
func (b *Broker) bindListeners(ctx context.Context, ls []Listener) error {
	var lc net.ListenConfig
	for _, l := range ls {
		ln, err := lc.Listen(ctx, "tcp", l.Addr)
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("broker: listen on %s (%s): %w", l.Addr, l.Name, err)
		}
		bl := &listener{name: l.Name, protocol: l.Protocol, ln: ln, tls: l.TLS, mechs: l.SASLMechanisms}
		b.listeners = append(b.listeners, bl)
		if err := bl.setAdvertised(l.AdvertisedAddr); err != nil {
			b.closeListeners()
			return err
		}
	}
	return nil
}

func (b *Broker) closeListeners() {
	for _, l := range b.listeners {
		l.ln.Close()
	}
}

func (l *listener) setAdvertised(addr string) error {
	if addr == "" {
		addr = l.ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("broker: advertised.listeners %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("broker: advertised.listeners %q: bad port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	l.advHost, l.advPort = host, int32(port)
	return nil
}

// ListenerAddr is the bound address of the named listener (e.g. "SASL_SSL"),
// or "" if there is none.
func (b *Broker) ListenerAddr(name string) string {
	for _, l := range b.listeners {
		if strings.EqualFold(l.name, name) {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// tlsHandshake completes the TLS handshake of an SSL or SASL_SSL
// connection and, on SSL, names the principal from the client's
// certificate. Other connections pass through.
func (c *conn) tlsHandshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.b.ctx, min(c.b.cfg.IdleTimeout, 30*time.Second))
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if c.sasl == nil {
		c.principal = c.b.tlsPrincipal(tc.ConnectionState())
	}
	return nil
}

// anonymous is the principal of connections that have not authenticated,
// as in Kafka.
const anonymous = "User:ANONYMOUS"

// tlsPrincipal is the principal of a TLS connection: from the client
// certificate's subject if there is one, else User:ANONYMOUS.
func (b *Broker) tlsPrincipal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return anonymous
	}
	dn := cs.PeerCertificates[0].Subject.String()
	return "User:" + b.principalRules.apply(dn)
}

// principalRules are Kafka's ssl.principal.mapping.rules: a list of
// RULE:pattern/replacement/[LU] and DEFAULT, tried in order; the first
// rule whose pattern matches the whole distinguished name gives the name.
// DEFAULT (and no match at all) keeps the DN, e.g. "CN=alice,O=Acme".
type principalRules []principalRule

type principalRule struct {
	re      *regexp.Regexp // nil for DEFAULT
	replace string
	toLower bool
	toUpper bool
}

var ruleSyntax = regexp.MustCompile(`^\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,|$)`)

func parsePrincipalRules(s string) (principalRules, error) {
	var rules principalRules
	rest := strings.TrimSpace(s)
	for rest != "" {
		m := ruleSyntax.FindStringSubmatchIndex(rest)
		if m == nil {
			return nil, fmt.Errorf("cannot parse rule at %q", rest)
		}
		if m[2] >= 0 {
			rules = append(rules, principalRule{})
		} else {
			pattern := rest[m[4]:m[5]]
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("rule pattern %q: %v", pattern, err)
			}
			// Java's $1 is Go's ${1}.
			repl := regexp.MustCompile(`\$(\d+)`).ReplaceAllString(rest[m[6]:m[7]], "$${$1}")
			flag := rest[m[8]:m[9]]
			rules = append(rules, principalRule{re: re, replace: repl, toLower: flag == "L", toUpper: flag == "U"})
		}
		rest = strings.TrimSpace(rest[m[1]:])
	}
	return rules, nil
}

func (rs principalRules) apply(dn string) string {
	for _, r := range rs {
		if r.re == nil {
			return dn
		}
		if !r.re.MatchString(dn) {
			continue
		}
		name := r.re.ReplaceAllString(dn, r.replace)
		switch {
		case r.toLower:
			name = strings.ToLower(name)
		case r.toUpper:
			name = strings.ToUpper(name)
		}
		return name
	}
	return dn
}

// parseListeners turns Kafka's listeners, advertised.listeners and
// listener.security.protocol.map values into Listeners (without their TLS
// settings and SASL mechanisms, which ConfigFromProperties adds).
func parseListeners(listeners, advertised, protocolMap string) ([]Listener, error) {
	protos := map[string]SecurityProtocol{}
	if strings.TrimSpace(protocolMap) != "" {
		for _, kv := range strings.Split(protocolMap, ",") {
			name, proto, ok := strings.Cut(strings.TrimSpace(kv), ":")
			if !ok {
				return nil, fmt.Errorf("listener.security.protocol.map: %q is not NAME:PROTOCOL", kv)
			}
			p, err := parseSecurityProtocol(proto)
			if err != nil {
				return nil, fmt.Errorf("listener.security.protocol.map: %w", err)
			}
			protos[strings.ToUpper(strings.TrimSpace(name))] = p
		}
	}
	split := func(setting, v string) ([][2]string, error) {
		var out [][2]string
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if !strings.Contains(item, "://") {
				out = append(out, [2]string{string(Plaintext), item})
				continue
			}
			u, err := url.Parse(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", setting, err)
			}
			out = append(out, [2]string{strings.ToUpper(u.Scheme), u.Host})
		}
		return out, nil
	}
	ls, err := split("listeners", listeners)
	if err != nil {
		return nil, err
	}
	var out []Listener
	for _, nl := range ls {
		p, ok := protos[nl[0]]
		if !ok {
			if p, err = parseSecurityProtocol(nl[0]); err != nil {
				return nil, fmt.Errorf("listeners: listener %s is not in listener.security.protocol.map and is not a protocol name", nl[0])
			}
		}
		out = append(out, Listener{Name: nl[0], Protocol: p, Addr: nl[1]})
	}
	adv, err := split("advertised.listeners", advertised)
	if err != nil {
		return nil, err
	}
	for _, nl := range adv {
		i := slices.IndexFunc(out, func(l Listener) bool { return l.Name == nl[0] })
		if i < 0 {
			return nil, fmt.Errorf("advertised.listeners: %s is not one of the listeners", nl[0])
		}
		out[i].AdvertisedAddr = nl[1]
	}
	return out, nil
}

// tlsFromProperties builds a listener's TLS settings from Kafka's ssl.*
// names, PEM only: ssl.keystore.location is a PEM file holding the
// certificate chain and an unencrypted private key (or the key and chain
// are given inline in ssl.keystore.key and ssl.keystore.certificate.chain);
// ssl.truststore.location (or ssl.truststore.certificates) holds the CA
// certificates client certificates are checked against.
func tlsFromProperties(get func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, k := range []string{"ssl.keystore.type", "ssl.truststore.type"} {
		if v := get(k); v != "" && !strings.EqualFold(v, "PEM") {
			return nil, fmt.Errorf("%s=%s: only PEM is supported", k, v)
		}
	}
	if get("ssl.key.password") != "" {
		return nil, errors.New("ssl.key.password: encrypted private keys are not supported; give an unencrypted PEM key")
	}
	var certPEM, keyPEM []byte
	if loc := get("ssl.keystore.location"); loc != "" {
		data, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		certPEM, keyPEM = data, data
	}
	if v := get("ssl.keystore.certificate.chain"); v != "" {
		certPEM = []byte(v)
	}
	if v := get("ssl.keystore.key"); v != "" {
		keyPEM = []byte(v)
	}
	if certPEM != nil {
		cert, err := tls.X509KeyPair(pemBlocks(certPEM, "CERTIFICATE"), pemBlocks(keyPEM, "PRIVATE KEY"))
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	var caPEM []byte
	if loc := get("ssl.truststore.location"); loc != "" {
		data, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		caPEM = data
	}
	if v := get("ssl.truststore.certificates"); v != "" {
		caPEM = []byte(v)
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("ssl.truststore.location: no PEM certificates found")
		}
		cfg.ClientCAs = pool
	}
	switch v := strings.ToLower(get("ssl.client.auth")); v {
	case "", "none":
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("ssl.client.auth=%s: want none, requested or required", v)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		return nil, errors.New("ssl.client.auth needs ssl.truststore.location to check client certificates against")
	}
	if v := get("ssl.enabled.protocols"); v != "" {
		min := uint16(0)
		for _, p := range strings.Split(v, ",") {
			var ver uint16
			switch strings.TrimSpace(p) {
			case "TLSv1.2":
				ver = tls.VersionTLS12
			case "TLSv1.3":
				ver = tls.VersionTLS13
			default:
				return nil, fmt.Errorf("ssl.enabled.protocols: %q is not supported (TLSv1.2, TLSv1.3)", p)
			}
			if min == 0 || ver < min {
				min = ver
			}
		}
		cfg.MinVersion = min
	}
	return cfg, nil
}

// pemBlocks keeps the PEM blocks of data whose type ends in kind, so one
// file can hold both the chain and the key.
func pemBlocks(data []byte, kind string) []byte {
	var out []byte
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return out
		}
		if strings.HasSuffix(blk.Type, kind) {
			out = append(out, pem.EncodeToMemory(blk)...)
		}
	}
}
