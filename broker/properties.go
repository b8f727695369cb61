package broker

import (
	"fmt"
	"net/url"
	"os"
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
	"log.dirs":                  "data directory (one; Eddy does not spread partitions over several)",
	"log.dir":                   "data directory, if log.dirs is unset",
	"listeners":                 "listener, e.g. PLAINTEXT://127.0.0.1:9092 (one)",
	"advertised.listeners":      "address given to clients in metadata, e.g. PLAINTEXT://myhost:9092",
	"node.id":                   "this broker's id",
	"broker.id":                 "alias of node.id",
	"num.partitions":            "partitions of auto-created topics",
	"auto.create.topics.enable": "create unknown topics on metadata requests (true/false)",
	"log.segment.bytes":         "segment size before rolling",
	"message.max.bytes":         "largest record batch accepted",
	"socket.request.max.bytes":  "largest request accepted",
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
		case "listeners":
			addr, err := listenerAddr(v)
			if err != nil {
				return cfg, nil, bad(k, v, err.Error())
			}
			cfg.Listen = addr
		case "advertised.listeners":
			addr, err := listenerAddr(v)
			if err != nil {
				return cfg, nil, bad(k, v, err.Error())
			}
			cfg.AdvertisedAddr = addr
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

// listenerAddr turns a Kafka listener ("PLAINTEXT://host:port", or plain
// "host:port") into host:port. Only one PLAINTEXT listener is served.
func listenerAddr(v string) (string, error) {
	if strings.Contains(v, ",") {
		return "", fmt.Errorf("only one listener is supported")
	}
	if !strings.Contains(v, "://") {
		return v, nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(u.Scheme, "PLAINTEXT") {
		return "", fmt.Errorf("only PLAINTEXT listeners are supported so far, not %s", u.Scheme)
	}
	return u.Host, nil
}
