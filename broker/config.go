package broker

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Config configures a Broker. Zero values mean Kafka's defaults, so
// Config{DataDir: dir} is a working single-node broker. Field comments name
// the Kafka setting each one mirrors.
type Config struct {
	// DataDir holds the partition logs and the broker's metadata
	// (Kafka: log.dirs). Required.
	DataDir string

	// Listen is the host:port to accept connections on (Kafka: listeners).
	// Port 0 picks a free port; Broker.Addr reports it. Default 127.0.0.1:9092.
	Listen string

	// AdvertisedAddr is the host:port clients are told to connect to in
	// Metadata responses (Kafka: advertised.listeners). Default: the
	// address the listener is bound to, with an unspecified host
	// (0.0.0.0 or ::) replaced by 127.0.0.1.
	AdvertisedAddr string

	// Listeners, if set, replaces Listen and AdvertisedAddr with one or
	// more listeners, each with its own security protocol (Kafka:
	// listeners, advertised.listeners, listener.security.protocol.map;
	// see listener.go and docs/security.md).
	Listeners []Listener

	// Authorizer turns on ACL authorization (Kafka: authorizer.class.name).
	// Off (the default), every principal may do everything and no ACL is
	// checked; the ACL APIs answer SECURITY_DISABLED.
	Authorizer bool

	// SuperUsers are principals allowed everything whatever the ACLs say,
	// e.g. "User:admin" (Kafka: super.users).
	SuperUsers []string

	// AllowEveryoneIfNoACLFound allows an operation on a resource no ACL
	// matches (Kafka: allow.everyone.if.no.acl.found). Default false:
	// only super users may use such a resource.
	AllowEveryoneIfNoACLFound bool

	// SSLPrincipalMappingRules turn a client certificate's subject into a
	// principal name (Kafka: ssl.principal.mapping.rules), e.g.
	// "RULE:^CN=([^,]+).*$/$1/,DEFAULT". Default DEFAULT: the whole
	// distinguished name, "User:CN=alice,O=Acme".
	SSLPrincipalMappingRules string

	// ReauthInterval is the longest a SASL session lasts before the client
	// must re-authenticate on the same connection (KIP-368; Kafka:
	// connections.max.reauth.ms). Default 0: sessions do not expire.
	ReauthInterval time.Duration

	// HTTPListen, if set, is the host:port of an HTTP listener serving
	// /metrics (Prometheus); port 0 picks a free one (Broker.HTTPAddr).
	HTTPListen string

	// HTTPHandler, if set, serves every path of the HTTP listener other
	// than /metrics: "eddy broker --http" mounts the web console
	// (package console) there. Default: / answers a short plain-text index.
	HTTPHandler http.Handler

	// NodeID is this broker's id (Kafka: node.id). Default 0.
	NodeID int32

	// NumPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that leave it unset (Kafka: num.partitions).
	// Default 1.
	NumPartitions int32

	// DisableAutoCreateTopics turns off topic creation on Metadata
	// requests for unknown topics (Kafka: auto.create.topics.enable=false).
	DisableAutoCreateTopics bool

	// SegmentBytes is the size at which a partition's active segment is
	// rolled (Kafka: log.segment.bytes). Default 1 GiB.
	SegmentBytes int64

	// MaxMessageBytes is the largest record batch a Produce may carry
	// (Kafka: message.max.bytes). Default 1048588.
	MaxMessageBytes int32

	// MaxRequestBytes is the largest request frame accepted; a larger
	// length prefix closes the connection (Kafka: socket.request.max.bytes).
	// Default 100 MiB.
	MaxRequestBytes int32

	// FetchSessionCacheSlots bounds the number of incremental fetch
	// sessions kept (Kafka: max.incremental.fetch.session.cache.slots).
	// Default 1000; negative disables fetch sessions.
	FetchSessionCacheSlots int

	// IdleTimeout closes connections that send nothing for this long
	// (Kafka: connections.max.idle.ms). Default 10 minutes.
	IdleTimeout time.Duration

	// OffsetsTopicPartitions is the partition count of __consumer_offsets,
	// created when the first group commits (Kafka:
	// offsets.topic.num.partitions). Default 50.
	OffsetsTopicPartitions int32

	// GroupInitialRebalanceDelay holds an empty group's first rebalance
	// open for more members to join (Kafka:
	// group.initial.rebalance.delay.ms). Default 3s; negative means none.
	GroupInitialRebalanceDelay time.Duration

	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the
	// session timeouts members may ask for (Kafka:
	// group.min.session.timeout.ms, group.max.session.timeout.ms).
	// Defaults 6s and 30m.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration

	// TopicDefaults are the broker-level defaults of topic settings, under the broker
	// settings' Kafka names: log.cleanup.policy, log.retention.ms, log.retention.bytes,
	// log.roll.ms, log.cleaner.delete.retention.ms, log.cleaner.min.compaction.lag.ms,
	// log.cleaner.min.cleanable.ratio, log.message.timestamp.type, log.flush.interval.messages,
	// log.flush.interval.ms, min.insync.replicas (log.segment.bytes and message.max.bytes are
	// the fields above). Unset names take Kafka's defaults; values are validated by Start.
	TopicDefaults map[string]string

	// RetentionCheckInterval is how often retention runs over every partition
	// (Kafka: log.retention.check.interval.ms). Default 5 minutes.
	RetentionCheckInterval time.Duration

	// CleanerBackoff is how often the cleaner looks for compacted partitions to clean
	// (Kafka: log.cleaner.backoff.ms). Default 15 seconds.
	CleanerBackoff time.Duration

	// Now is the clock of retention, compaction, segment.ms and log-append time. Default
	// time.Now; tests inject a fake one.
	Now func() time.Time

	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultListen          = "127.0.0.1:9092"
	defaultSegmentBytes    = 1 << 30
	defaultMaxMessageBytes = 1048588
	defaultMaxRequestBytes = 100 << 20
	defaultSessionSlots    = 1000
	defaultIdleTimeout     = 10 * time.Minute
	defaultRetentionCheck  = 5 * time.Minute
	defaultCleanerBackoff  = 15 * time.Second
)

// withDefaults returns c with zero fields filled in, or an error naming the
// first invalid setting.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, fmt.Errorf("broker: Config.DataDir (log.dirs) is required")
	}
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.NumPartitions == 0 {
		c.NumPartitions = 1
	}
	if c.NumPartitions < 0 {
		return c, fmt.Errorf("broker: num.partitions must be positive, got %d", c.NumPartitions)
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = defaultSegmentBytes
	}
	if c.SegmentBytes < 14 {
		return c, fmt.Errorf("broker: log.segment.bytes must be at least 14, got %d", c.SegmentBytes)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = defaultMaxMessageBytes
	}
	if c.MaxMessageBytes < 0 {
		return c, fmt.Errorf("broker: message.max.bytes must be positive, got %d", c.MaxMessageBytes)
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = defaultMaxRequestBytes
	}
	if c.MaxRequestBytes < 0 {
		return c, fmt.Errorf("broker: socket.request.max.bytes must be positive, got %d", c.MaxRequestBytes)
	}
	if c.FetchSessionCacheSlots == 0 {
		c.FetchSessionCacheSlots = defaultSessionSlots
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.OffsetsTopicPartitions == 0 {
		c.OffsetsTopicPartitions = defaultOffsetsTopicPartitions
	}
	if c.OffsetsTopicPartitions < 0 {
		return c, fmt.Errorf("broker: offsets.topic.num.partitions must be positive, got %d", c.OffsetsTopicPartitions)
	}
	switch {
	case c.GroupInitialRebalanceDelay == 0:
		c.GroupInitialRebalanceDelay = defaultInitialRebalanceDelay
	case c.GroupInitialRebalanceDelay < 0:
		c.GroupInitialRebalanceDelay = 0
	}
	if c.GroupMinSessionTimeout == 0 {
		c.GroupMinSessionTimeout = defaultMinSessionTimeout
	}
	if c.GroupMaxSessionTimeout == 0 {
		c.GroupMaxSessionTimeout = defaultMaxSessionTimeout
	}
	if c.GroupMinSessionTimeout > c.GroupMaxSessionTimeout {
		return c, fmt.Errorf("broker: group.min.session.timeout.ms (%s) is above group.max.session.timeout.ms (%s)",
			c.GroupMinSessionTimeout, c.GroupMaxSessionTimeout)
	}
	for name, v := range c.TopicDefaults {
		d := topicConfigByBroke[name]
		if d == nil {
			return c, fmt.Errorf("broker: %s is not a broker-level topic default", name)
		}
		if why := d.check(v); why != "" {
			return c, fmt.Errorf("broker: setting %s=%q: %s", name, v, why)
		}
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = defaultRetentionCheck
	}
	if c.CleanerBackoff <= 0 {
		c.CleanerBackoff = defaultCleanerBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReauthInterval < 0 {
		return c, fmt.Errorf("broker: connections.max.reauth.ms must not be negative, got %s", c.ReauthInterval)
	}
	if _, err := parsePrincipalRules(c.SSLPrincipalMappingRules); err != nil {
		return c, fmt.Errorf("broker: ssl.principal.mapping.rules: %w", err)
	}
	for _, p := range c.SuperUsers {
		if _, _, ok := strings.Cut(p, ":"); !ok {
			return c, fmt.Errorf("broker: super.users: %q is not a principal (Type:name, e.g. User:admin)", p)
		}
	}
	return c, nil
}
