package connectors

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-streams/eddy/internal/kafkasec"
)

// WorkerProperties lists the Kafka Connect worker settings
// WorkerConfigFromProperties understands, with what each sets.
var WorkerProperties = map[string]string{
	"bootstrap.servers":                     "Brokers",
	"group.id":                              "GroupID (distributed mode)",
	"config.storage.topic":                  "ConfigTopic",
	"offset.storage.topic":                  "OffsetsTopic",
	"status.storage.topic":                  "StatusTopic",
	"offset.storage.partitions":             "OffsetsPartitions",
	"status.storage.partitions":             "StatusPartitions",
	"config.storage.replication.factor":     "ConfigReplicationFactor (-1: the broker's default)",
	"offset.storage.replication.factor":     "OffsetsReplicationFactor (-1: the broker's default)",
	"status.storage.replication.factor":     "StatusReplicationFactor (-1: the broker's default)",
	"offset.flush.interval.ms":              "OffsetFlushInterval",
	"scheduled.rebalance.max.delay.ms":      "ScheduledRebalanceMaxDelay (0: reassign at once)",
	"key.converter":                         "KeyConverter (key.converter.* configure it)",
	"value.converter":                       "ValueConverter (value.converter.* configure it)",
	"rest.advertised.host.name":             "WorkerID, with rest.advertised.port",
	"rest.advertised.port":                  "WorkerID, with rest.advertised.host.name",
	"listeners":                             "the REST address (eddy connect)",
	"offset.storage.file.filename":          "ignored: offsets are kept in offset.storage.topic in both modes",
	"plugin.path":                           "ignored: plugins are Go packages compiled in",
	"security.protocol":                     "Security.Protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
	"sasl.mechanism":                        "Security.Mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
	"sasl.jaas.config":                      "Security.User and Password, from PlainLoginModule's or ScramLoginModule's username and password",
	"sasl.username":                         "Security.User (an Eddy shorthand for sasl.jaas.config)",
	"sasl.password":                         "Security.Password (an Eddy shorthand for sasl.jaas.config)",
	"ssl.truststore.location":               "Security.CAFile: a PEM file of CA certificates",
	"ssl.truststore.type":                   "must be PEM when given",
	"ssl.keystore.location":                 "Security.CertFile: a PEM file with the client certificate (and its unencrypted key)",
	"ssl.keystore.type":                     "must be PEM when given",
	"ssl.key.location":                      "Security.KeyFile: the client key's PEM file, when not in the keystore file",
	"ssl.endpoint.identification.algorithm": "https when given: host names are always verified",
	"producer.security.protocol":            "ProducerSecurity (with producer.sasl.*, producer.ssl.*): source tasks' producers",
	"consumer.security.protocol":            "ConsumerSecurity (with consumer.sasl.*, consumer.ssl.*): sink tasks' consumers",
	"admin.security.protocol":               "AdminSecurity (with admin.sasl.*, admin.ssl.*): the admin client for sink connectors' groups",
	"producer.compression.type":             "ProducerCompression: none, gzip, snappy, lz4 or zstd",
	"producer.linger.ms":                    "ProducerLinger",
	"consumer.max.poll.records":             "ConsumerMaxPollRecords: records per SinkTask.Put",
	"consumer.fetch.min.bytes":              "ConsumerFetchMinBytes",
	"consumer.fetch.max.wait.ms":            "ConsumerFetchMaxWait",
	"consumer.max.partition.fetch.bytes":    "ConsumerMaxPartitionFetchBytes",
}

// clientPrefixes are the prefixes of worker properties for one kind of
// client, as Kafka Connect reads them.
var clientPrefixes = []string{"producer.", "consumer.", "admin."}

// clientSecurity reads the security settings of the clients a prefix
// (producer., consumer., admin.) configures: the unprefixed settings with
// the prefixed ones over them, key by key, as Kafka Connect merges them.
// Unprefixed sasl.* and ssl.* settings the resulting protocol does not
// use are left out (as a Kafka client ignores them).
// It returns nil when no prefixed security setting is given, and the
// prefixed keys it used.
func clientSecurity(props map[string]string, prefix string) (*Security, []string, error) {
	merged := map[string]string{}
	inherited := map[string]bool{}
	var used []string
	for k, v := range props {
		if kafkasec.IsProperty(k) {
			if _, over := props[prefix+k]; !over {
				merged[k] = v
				inherited[k] = true
			}
		} else if sub, ok := strings.CutPrefix(k, prefix); ok && kafkasec.IsProperty(sub) {
			merged[sub] = v
			used = append(used, k)
		}
	}
	if len(used) == 0 {
		return nil, nil, nil
	}
	if p := strings.ToUpper(strings.TrimSpace(merged["security.protocol"])); p != "" {
		for k := range inherited {
			if strings.HasPrefix(k, "sasl.") && !strings.HasPrefix(p, "SASL_") ||
				strings.HasPrefix(k, "ssl.") && !strings.HasSuffix(p, "SSL") {
				delete(merged, k)
			}
		}
	}
	sec, _, err := kafkasec.FromProperties(merged)
	if err != nil {
		return nil, nil, fmt.Errorf("%s* security settings: %w", prefix, err)
	}
	s := Security(sec)
	return &s, used, nil
}

// WorkerConfigFromProperties reads Kafka Connect worker properties (as in
// connect-standalone.properties or connect-distributed.properties) over
// cfg. It returns the REST listener named by listeners (host:port, without
// the scheme) and the keys it did not use.
//
// As in Kafka Connect, settings prefixed producer., consumer. and admin.
// configure the clients of source tasks, sink tasks and the admin client
// the worker uses for connectors: their security settings
// (producer.security.protocol, producer.sasl.*, producer.ssl.*, ...) over
// the unprefixed ones, and the few client settings WorkerProperties
// lists; other prefixed keys are returned as not used.
func WorkerConfigFromProperties(cfg WorkerConfig, props map[string]string) (WorkerConfig, string, []string, error) {
	var rest string
	var ignored []string
	advHost, advPort, advScheme := "", "", "http"
	sec, used, err := kafkasec.FromProperties(props)
	if err != nil {
		return cfg, "", nil, err
	}
	cfg.Security = Security(sec)
	security := map[string]bool{}
	for _, k := range used {
		security[k] = true
	}
	for _, prefix := range clientPrefixes {
		s, used, err := clientSecurity(props, prefix)
		if err != nil {
			return cfg, "", nil, err
		}
		if s == nil {
			continue
		}
		switch prefix {
		case "producer.":
			cfg.ProducerSecurity = s
		case "consumer.":
			cfg.ConsumerSecurity = s
		default:
			cfg.AdminSecurity = s
		}
		for _, k := range used {
			security[k] = true
		}
	}
	// positive reads a positive number of at most bits bits.
	positive := func(k, v string, bits int) (int64, error) {
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s=%q: want a positive number", k, v)
		}
		return n, nil
	}
	// millis reads a number of milliseconds, zero allowed.
	millis := func(k, v string) (time.Duration, error) {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q: want a number of milliseconds", k, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	for _, k := range sortedKeys(props) {
		if security[k] {
			continue
		}
		v := strings.TrimSpace(props[k])
		switch {
		case k == "bootstrap.servers":
			cfg.Brokers = splitList(v)
		case k == "group.id":
			cfg.GroupID = v
		case k == "config.storage.topic":
			cfg.ConfigTopic = v
		case k == "offset.storage.topic":
			cfg.OffsetsTopic = v
		case k == "status.storage.topic":
			cfg.StatusTopic = v
		case k == "offset.storage.partitions" || k == "status.storage.partitions":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return cfg, "", nil, fmt.Errorf("%s=%q: want a positive number", k, v)
			}
			if k == "offset.storage.partitions" {
				cfg.OffsetsPartitions = int32(n)
			} else {
				cfg.StatusPartitions = int32(n)
			}
		case k == "config.storage.replication.factor" || k == "offset.storage.replication.factor" ||
			k == "status.storage.replication.factor":
			n, err := strconv.ParseInt(v, 10, 16)
			if err != nil || (n < 1 && n != -1) {
				return cfg, "", nil, fmt.Errorf("%s=%q: want a positive replication factor, or -1 for the broker's default", k, v)
			}
			switch k {
			case "config.storage.replication.factor":
				cfg.ConfigReplicationFactor = int16(n)
			case "offset.storage.replication.factor":
				cfg.OffsetsReplicationFactor = int16(n)
			default:
				cfg.StatusReplicationFactor = int16(n)
			}
		case k == "offset.flush.interval.ms":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return cfg, "", nil, fmt.Errorf("%s=%q: want a positive number of milliseconds", k, v)
			}
			cfg.OffsetFlushInterval = time.Duration(n) * time.Millisecond
		case k == "scheduled.rebalance.max.delay.ms":
			d, err := millis(k, v)
			if err != nil {
				return cfg, "", nil, err
			}
			cfg.ScheduledRebalanceMaxDelay = d
			if d == 0 {
				cfg.ScheduledRebalanceMaxDelay = -1 // WorkerConfig's zero is the default
			}
		case k == "producer.compression.type":
			if _, ok := compressionCodecs[strings.ToLower(v)]; !ok {
				return cfg, "", nil, fmt.Errorf("%s=%q: want none, gzip, snappy, lz4 or zstd", k, v)
			}
			cfg.ProducerCompression = strings.ToLower(v)
		case k == "producer.linger.ms":
			d, err := millis(k, v)
			if err != nil {
				return cfg, "", nil, err
			}
			cfg.ProducerLinger = d
		case k == "consumer.max.poll.records":
			n, err := positive(k, v, 32)
			if err != nil {
				return cfg, "", nil, err
			}
			cfg.ConsumerMaxPollRecords = int(n)
		case k == "consumer.fetch.min.bytes" || k == "consumer.max.partition.fetch.bytes":
			n, err := positive(k, v, 32)
			if err != nil {
				return cfg, "", nil, err
			}
			if k == "consumer.fetch.min.bytes" {
				cfg.ConsumerFetchMinBytes = int32(n)
			} else {
				cfg.ConsumerMaxPartitionFetchBytes = int32(n)
			}
		case k == "consumer.fetch.max.wait.ms":
			n, err := positive(k, v, 32)
			if err != nil {
				return cfg, "", nil, err
			}
			cfg.ConsumerFetchMaxWait = time.Duration(n) * time.Millisecond
		case k == "key.converter":
			cfg.KeyConverter = v
		case k == "value.converter":
			cfg.ValueConverter = v
		case strings.HasPrefix(k, "key.converter."):
			if cfg.KeyConverterProps == nil {
				cfg.KeyConverterProps = map[string]string{}
			}
			cfg.KeyConverterProps[strings.TrimPrefix(k, "key.converter.")] = v
		case strings.HasPrefix(k, "value.converter."):
			if cfg.ValueConverterProps == nil {
				cfg.ValueConverterProps = map[string]string{}
			}
			cfg.ValueConverterProps[strings.TrimPrefix(k, "value.converter.")] = v
		case k == "rest.advertised.host.name":
			advHost = v
		case k == "rest.advertised.port":
			advPort = v
		case k == "rest.advertised.listener":
			advScheme = strings.ToLower(v)
		case k == "listeners":
			first := splitList(v)
			if len(first) > 0 {
				l := first[0]
				if i := strings.Index(l, "://"); i >= 0 {
					l = l[i+3:]
				}
				rest = l
			}
		default:
			ignored = append(ignored, k)
		}
	}
	if advHost != "" && advPort != "" {
		cfg.WorkerID = advHost + ":" + advPort
		cfg.RESTURL = advScheme + "://" + advHost + ":" + advPort
	}
	sort.Strings(ignored)
	return cfg, rest, ignored, nil
}
