package broker

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Properties are broker settings under Kafka's own names, as found in a
// server.properties file. ConfigFromProperties turns them into a Config.
type Properties map[string]string

// ReadProperties parses a Java-style properties file (key=value lines,
// '#' comments).
func ReadProperties(path string) (Properties, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("broker: read config file: %w", err)
	}
	return Properties(parseProperties(data)), nil
}

// KnownProperties lists the Kafka settings Eddy's broker understands, with
// a one-line description each (used for help text and warnings).
var KnownProperties = map[string]string{
	"log.dirs":                                  "data directory (one; Eddy does not spread partitions over several)",
	"log.dir":                                   "data directory, if log.dirs is unset",
	"listeners":                                 "listeners, e.g. PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9093",
	"advertised.listeners":                      "addresses given to clients in metadata, per listener, e.g. PLAINTEXT://myhost:9092",
	"listener.security.protocol.map":            "listener name to security protocol, e.g. CLIENT:SASL_SSL,INTERNAL:PLAINTEXT",
	"ssl.keystore.location":                     "PEM file with the server certificate chain and private key (listener.name.<l>. prefix per listener)",
	"ssl.truststore.location":                   "PEM file with the CA certificates client certificates are checked against",
	"ssl.keystore.type":                         "PEM (the only keystore type read)",
	"ssl.keystore.certificate.chain":            "the server certificate chain as PEM text, instead of ssl.keystore.location",
	"ssl.keystore.key":                          "the server private key as PEM text, with ssl.keystore.certificate.chain",
	"ssl.key.password":                          "refused: encrypted private keys are not supported",
	"ssl.truststore.type":                       "PEM (the only truststore type read)",
	"ssl.truststore.certificates":               "CA certificates as PEM text, instead of ssl.truststore.location",
	"ssl.client.auth":                           "client certificates: none, requested or required",
	"ssl.enabled.protocols":                     "TLS versions: TLSv1.2, TLSv1.3",
	"ssl.principal.mapping.rules":               "client certificate subject to principal name, e.g. RULE:^CN=([^,]+).*$/$1/,DEFAULT",
	"sasl.enabled.mechanisms":                   "SASL mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
	"connections.max.reauth.ms":                 "SASL session lifetime before re-authentication (0: none)",
	"authorizer.class.name":                     "any non-empty value turns on ACL authorization",
	"super.users":                               "principals allowed everything, e.g. User:admin;User:ops",
	"allow.everyone.if.no.acl.found":            "allow what no ACL matches (true/false)",
	"node.id":                                   "this broker's id",
	"broker.id":                                 "alias of node.id",
	"num.partitions":                            "partitions of auto-created topics",
	"auto.create.topics.enable":                 "create unknown topics on metadata requests (true/false)",
	"log.segment.bytes":                         "segment size before rolling",
	"message.max.bytes":                         "largest record batch accepted",
	"socket.request.max.bytes":                  "largest request accepted",
	"max.incremental.fetch.session.cache.slots": "fetch sessions kept",
	"connections.max.idle.ms":                   "idle connections are closed after this",
}

// ConfigFromProperties applies props on top of base. Unknown keys are
// returned in ignored (the caller decides whether to warn); bad values are
// errors that name the setting.
func ConfigFromProperties(base Config, props Properties) (cfg Config, ignored []string, err error) {
	cfg = base
	bad := func(k, v string, why string) error {
		return fmt.Errorf("broker: setting %s=%q: %s", k, v, why)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := props[k]
		switch k {
		case "log.dirs", "log.dir":
			if k == "log.dir" && props["log.dirs"] != "" {
				continue
			}
			if strings.Contains(v, ",") {
				return cfg, nil, bad(k, v, "Eddy uses one data directory; give one path")
			}
			cfg.DataDir = v
		case "listeners", "advertised.listeners", "listener.security.protocol.map":
			// With the ssl.* and sasl.* settings, after the loop.
		case "authorizer.class.name":
			cfg.Authorizer = strings.TrimSpace(v) != ""
		case "super.users":
			cfg.SuperUsers = nil
			for _, p := range strings.Split(v, ";") {
				if p = strings.TrimSpace(p); p != "" {
					cfg.SuperUsers = append(cfg.SuperUsers, p)
				}
			}
		case "allow.everyone.if.no.acl.found":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, nil, bad(k, v, "want true or false")
			}
			cfg.AllowEveryoneIfNoACLFound = on
		case "ssl.principal.mapping.rules":
			if _, err := parsePrincipalRules(v); err != nil {
				return cfg, nil, bad(k, v, err.Error())
			}
			cfg.SSLPrincipalMappingRules = v
		case "connections.max.reauth.ms":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return cfg, nil, bad(k, v, "want a non-negative number of milliseconds")
			}
			cfg.ReauthInterval = time.Duration(n) * time.Millisecond
		case "node.id", "broker.id":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return cfg, nil, bad(k, v, "want a non-negative integer")
			}
			cfg.NodeID = int32(n)
		case "num.partitions":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return cfg, nil, bad(k, v, "want a positive integer")
			}
			cfg.NumPartitions = int32(n)
		case "auto.create.topics.enable":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, nil, bad(k, v, "want true or false")
			}
			cfg.DisableAutoCreateTopics = !on
		case "log.segment.bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 14 {
				return cfg, nil, bad(k, v, "want an integer of at least 14")
			}
			cfg.SegmentBytes = n
		case "message.max.bytes", "socket.request.max.bytes":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return cfg, nil, bad(k, v, "want a positive 32-bit integer")
			}
			if k == "message.max.bytes" {
				cfg.MaxMessageBytes = int32(n)
			} else {
				cfg.MaxRequestBytes = int32(n)
			}
		case "max.incremental.fetch.session.cache.slots":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cfg, nil, bad(k, v, "want a non-negative integer")
			}
			cfg.FetchSessionCacheSlots = n
			if n == 0 {
				cfg.FetchSessionCacheSlots = -1 // zero disables, as in Kafka
			}
		case "connections.max.idle.ms":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return cfg, nil, bad(k, v, "want a positive number of milliseconds")
			}
			cfg.IdleTimeout = time.Duration(n) * time.Millisecond
		case "log.retention.hours", "log.retention.minutes", "log.roll.hours":
			// Kafka's coarser spellings; the .ms settings, sorted after them, win.
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < -1 {
				return cfg, nil, bad(k, v, "want an integer")
			}
			unit, name := int64(3600_000), "log.retention.ms"
			switch k {
			case "log.retention.minutes":
				unit = 60_000
			case "log.roll.hours":
				name = "log.roll.ms"
			}
			if n > 0 {
				n *= unit
			}
			cfg.TopicDefaults = setDefault(cfg.TopicDefaults, name, strconv.FormatInt(n, 10))
		case "log.retention.check.interval.ms", "log.cleaner.backoff.ms":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return cfg, nil, bad(k, v, "want a positive number of milliseconds")
			}
			if k == "log.cleaner.backoff.ms" {
				cfg.CleanerBackoff = time.Duration(n) * time.Millisecond
			} else {
				cfg.RetentionCheckInterval = time.Duration(n) * time.Millisecond
			}
		default:
			if isListenerSetting(k) {
				continue
			}
			if d := topicConfigByBroke[k]; d != nil && k != "log.segment.bytes" && k != "message.max.bytes" {
				if why := d.check(v); why != "" {
					return cfg, nil, bad(k, v, why)
				}
				cfg.TopicDefaults = setDefault(cfg.TopicDefaults, k, strings.TrimSpace(v))
				continue
			}
			ignored = append(ignored, k)
		}
	}
	if props["listeners"] != "" || props["advertised.listeners"] != "" {
		if err := listenersFromProperties(&cfg, props); err != nil {
			return cfg, nil, err
		}
	}
	return cfg, ignored, nil
}

// setDefault sets m[k] = v, copying m so that a Config passed in is never modified.
func setDefault(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// listenersFromProperties sets cfg's listeners from listeners,
// advertised.listeners, listener.security.protocol.map and each
// listener's ssl.* and sasl.enabled.mechanisms settings (which a
// listener.name.<name>. prefix sets for one listener only). A single
// PLAINTEXT listener is kept in the Listen shorthand.
func listenersFromProperties(cfg *Config, props Properties) error {
	lv := props["listeners"]
	if lv == "" {
		lv = "PLAINTEXT://" + cmp.Or(cfg.Listen, defaultListen)
	}
	ls, err := parseListeners(lv, props["advertised.listeners"], props["listener.security.protocol.map"])
	if err != nil {
		return fmt.Errorf("broker: setting %w", err)
	}
	if len(ls) == 1 && ls[0].Protocol == Plaintext && ls[0].Name == string(Plaintext) {
		if props["listeners"] != "" {
			cfg.Listen = ls[0].Addr
		}
		cfg.AdvertisedAddr = ls[0].AdvertisedAddr
		cfg.Listeners = nil
		return nil
	}
	for i := range ls {
		l := &ls[i]
		get := func(k string) string {
			if v, ok := props["listener.name."+strings.ToLower(l.Name)+"."+k]; ok {
				return v
			}
			return props[k]
		}
		if l.Protocol.usesTLS() {
			if l.TLS, err = tlsFromProperties(get); err != nil {
				return fmt.Errorf("broker: listener %s: %w", l.Name, err)
			}
			if len(l.TLS.Certificates) == 0 {
				return fmt.Errorf("broker: setting listeners: listener %s (%s) needs ssl.keystore.location", l.Name, l.Protocol)
			}
		}
		if l.Protocol.usesSASL() {
			if v := get("sasl.enabled.mechanisms"); v != "" {
				for _, m := range strings.Split(v, ",") {
					l.SASLMechanisms = append(l.SASLMechanisms, strings.ToUpper(strings.TrimSpace(m)))
				}
			}
		}
	}
	cfg.Listeners = ls
	c := *cfg
	if _, err := c.effectiveListeners(); err != nil {
		return fmt.Errorf("broker: setting listeners: %w", err)
	}
	return nil
}

// listenerSettings are the per-listener settings listenersFromProperties reads.
var listenerSettings = []string{
	"ssl.keystore.location", "ssl.keystore.type", "ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.key.password", "ssl.truststore.location", "ssl.truststore.type", "ssl.truststore.certificates",
	"ssl.client.auth", "ssl.enabled.protocols", "sasl.enabled.mechanisms",
}

func isListenerSetting(k string) bool {
	if strings.HasPrefix(k, "listener.name.") {
		rest := strings.TrimPrefix(k, "listener.name.")
		if _, after, ok := strings.Cut(rest, "."); ok {
			k = after
		}
	}
	return slices.Contains(listenerSettings, k)
}
