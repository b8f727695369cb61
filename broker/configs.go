package broker

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/eddy-streams/eddy/broker/storage"
)

// Topic settings, under Kafka's names, with Kafka's defaults and validation. A topic's
// effective value of a setting comes from, in order: the topic's own configs (source
// DYNAMIC_TOPIC_CONFIG), the broker-level default (Config.TopicDefaults or the typed Config
// fields; source STATIC_BROKER_CONFIG), Kafka's default (DEFAULT_CONFIG). DescribeConfigs reports
// the source and, on request, that chain as synonyms.

// Config sources and types as DescribeConfigs numbers them.
const (
	sourceTopic              int8 = 1 // DYNAMIC_TOPIC_CONFIG
	sourceStaticBroker       int8 = 4 // STATIC_BROKER_CONFIG
	sourceDefault            int8 = 5 // DEFAULT_CONFIG
	configTypeBoolean        int8 = 1
	configTypeString         int8 = 2
	configTypeInt            int8 = 3
	configTypeLong           int8 = 5
	configTypeDouble         int8 = 6
	configTypeList           int8 = 7
	maxLongString                 = "9223372036854775807"
	defaultRetentionMs            = 7 * 24 * 60 * 60 * 1000
	defaultDeleteRetentionMs      = 24 * 60 * 60 * 1000
)

// A configDef is one topic setting.
type configDef struct {
	name       string // topic setting, e.g. retention.ms
	brokerName string // its broker-level default, e.g. log.retention.ms
	typ        int8
	def        string // Kafka's default
	check      func(v string) string
	doc        string
}

func atLeast(min int64, bits int) func(string) string {
	return func(v string) string {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil {
			typ := "LONG"
			if bits == 32 {
				typ = "INT"
			}
			return "Not a number of type " + typ
		}
		if n < min {
			return fmt.Sprintf("Value must be at least %d", min)
		}
		return ""
	}
}

func anyLong(v string) string {
	if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
		return "Not a number of type LONG"
	}
	return ""
}

func oneOf(list bool, allowed ...string) func(string) string {
	return func(v string) string {
		items := []string{v}
		if list {
			items = strings.Split(v, ",")
		}
		for _, it := range items {
			if !slices.Contains(allowed, strings.TrimSpace(it)) {
				return "String must be one of: " + strings.Join(allowed, ", ")
			}
		}
		return ""
	}
}

func ratio(v string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return "Not a number of type DOUBLE"
	}
	if f < 0 || f > 1 || math.IsNaN(f) {
		return "Value must be between 0 and 1"
	}
	return ""
}

// topicConfigDefs lists the topic settings Eddy serves, in DescribeConfigs order.
var topicConfigDefs = []configDef{
	{"cleanup.policy", "log.cleanup.policy", configTypeList, "delete", oneOf(true, "compact", "delete"),
		`"delete" removes old segments by retention.ms and retention.bytes, "compact" keeps the newest record per key; both may be given`},
	{"delete.retention.ms", "log.cleaner.delete.retention.ms", configTypeLong, strconv.Itoa(defaultDeleteRetentionMs), atLeast(0, 64),
		"how long tombstones of a compacted topic stay readable after the cleaner first passed them"},
	{"flush.messages", "log.flush.interval.messages", configTypeLong, maxLongString, atLeast(1, 64),
		"accepted for compatibility: acks=all produces are always fsynced before they are answered"},
	{"flush.ms", "log.flush.interval.ms", configTypeLong, maxLongString, atLeast(0, 64),
		"accepted for compatibility: acks=all produces are always fsynced before they are answered"},
	{"max.message.bytes", "message.max.bytes", configTypeInt, strconv.Itoa(defaultMaxMessageBytes), atLeast(0, 32),
		"largest record batch a produce may carry"},
	{"message.timestamp.type", "log.message.timestamp.type", configTypeString, "CreateTime", oneOf(false, "CreateTime", "LogAppendTime"),
		"CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's time"},
	{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", configTypeDouble, "0.5", ratio,
		"the share of a compacted log that must be uncleaned before the cleaner rewrites it"},
	{"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", configTypeLong, "0", atLeast(0, 64),
		"records younger than this are not compacted"},
	{"min.insync.replicas", "min.insync.replicas", configTypeInt, "1", atLeast(1, 32),
		"accepted for compatibility; a single node is always in sync"},
	{"retention.bytes", "log.retention.bytes", configTypeLong, "-1", anyLong,
		"largest size of a partition before old segments are deleted (delete policy); -1 is unlimited"},
	{"retention.ms", "log.retention.ms", configTypeLong, strconv.Itoa(defaultRetentionMs), atLeast(-1, 64),
		"how long segments are kept after their newest record (delete policy); -1 is unlimited"},
	{"segment.bytes", "log.segment.bytes", configTypeInt, strconv.Itoa(defaultSegmentBytes), atLeast(14, 32),
		"size at which a partition's active segment is rolled"},
	{"segment.ms", "log.roll.ms", configTypeLong, strconv.Itoa(storage.DefaultSegmentMs), atLeast(1, 64),
		"age at which the active segment is rolled even if not full"},
}

var (
	topicConfigByName  = map[string]*configDef{}
	topicConfigByBroke = map[string]*configDef{}
)

func init() {
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		topicConfigByName[d.name] = d
		topicConfigByBroke[d.brokerName] = d
	}
}

// errInvalidConfig is a validation failure; its text names the setting, as Kafka's does.
type errInvalidConfig struct{ msg string }

func (e errInvalidConfig) Error() string { return e.msg }

// validateTopicConfig checks one topic setting.
func validateTopicConfig(name, value string) error {
	d := topicConfigByName[name]
	if d == nil {
		return errInvalidConfig{"Unknown topic config name: " + name}
	}
	if why := d.check(value); why != "" {
		return errInvalidConfig{fmt.Sprintf("Invalid value %s for configuration %s: %s", value, name, why)}
	}
	return nil
}

// validateTopicConfigs checks a whole set, in name order so the first error is stable.
func validateTopicConfigs(configs map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		if err := validateTopicConfig(name, configs[name]); err != nil {
			return err
		}
	}
	return nil
}

// brokerDefault returns the broker-level value of topic setting d, if the broker sets one.
func (c *Config) brokerDefault(d *configDef) (string, bool) {
	switch d.name {
	case "segment.bytes":
		if c.SegmentBytes != 0 && c.SegmentBytes != defaultSegmentBytes {
			return strconv.FormatInt(c.SegmentBytes, 10), true
		}
	case "max.message.bytes":
		if c.MaxMessageBytes != 0 && c.MaxMessageBytes != defaultMaxMessageBytes {
			return strconv.Itoa(int(c.MaxMessageBytes)), true
		}
	}
	v, ok := c.TopicDefaults[d.brokerName]
	return v, ok
}

// topicConfigValue resolves a topic setting: its value and source.
func (c *Config) topicConfigValue(d *configDef, topicConfigs map[string]string) (string, int8) {
	if v, ok := topicConfigs[d.name]; ok {
		return v, sourceTopic
	}
	if v, ok := c.brokerDefault(d); ok {
		return v, sourceStaticBroker
	}
	return d.def, sourceDefault
}

// logConfig is a topic's effective settings, resolved once per change.
type logConfig struct {
	compact, delete    bool
	retentionMs        int64
	retentionBytes     int64
	segmentBytes       int64
	segmentMs          int64
	maxMessageBytes    int32
	minCleanableRatio  float64
	deleteRetentionMs  int64
	minCompactionLagMs int64
	logAppendTime      bool
}

// resolveLogConfig computes a topic's effective settings. Values were validated on the way in;
// a bad one (a hand-edited topics.json) falls back to Kafka's default.
func (c *Config) resolveLogConfig(topicConfigs map[string]string) *logConfig {
	get := func(name string) string {
		d := topicConfigByName[name]
		v, _ := c.topicConfigValue(d, topicConfigs)
		if d.check(v) != "" {
			return d.def
		}
		return strings.TrimSpace(v)
	}
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(get(name), 10, 64)
		return n
	}
	lc := &logConfig{
		retentionMs:        num("retention.ms"),
		retentionBytes:     num("retention.bytes"),
		segmentBytes:       num("segment.bytes"),
		segmentMs:          num("segment.ms"),
		maxMessageBytes:    int32(num("max.message.bytes")),
		deleteRetentionMs:  num("delete.retention.ms"),
		minCompactionLagMs: num("min.compaction.lag.ms"),
		logAppendTime:      get("message.timestamp.type") == "LogAppendTime",
	}
	lc.minCleanableRatio, _ = strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64)
	for _, p := range strings.Split(get("cleanup.policy"), ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			lc.compact = true
		case "delete":
			lc.delete = true
		}
	}
	return lc
}

// applyLogConfig resolves t's settings and applies the live ones to its partition logs.
// REQUIRES: topicRegistry.mu held (read or write), so configs and partitions agree.
func (b *Broker) applyLogConfig(t *topic) {
	lc := b.cfg.resolveLogConfig(t.configs)
	t.live.Store(lc)
	for _, p := range t.partitions {
		p.log.SetSegmentBytes(lc.segmentBytes)
		p.log.SetSegmentMs(lc.segmentMs)
		p.log.SetLogAppendTime(lc.logAppendTime)
	}
}

// topicLiveConfig returns the effective settings of topic name (Kafka's defaults if it is gone).
func (b *Broker) topicLiveConfig(name string) *logConfig {
	if t := b.topics.get(name); t != nil {
		return b.liveConfig(t)
	}
	return b.cfg.resolveLogConfig(nil)
}

// liveConfig returns t's effective settings.
func (b *Broker) liveConfig(t *topic) *logConfig {
	if lc := t.live.Load(); lc != nil {
		return lc
	}
	return b.cfg.resolveLogConfig(nil)
}

func init() {
	for _, d := range topicConfigDefs {
		if _, ok := KnownProperties[d.brokerName]; !ok {
			KnownProperties[d.brokerName] = "default of the topic setting " + d.name + ": " + d.doc
		}
	}
	KnownProperties["log.retention.hours"] = "log.retention.ms in hours (log.retention.ms wins)"
	KnownProperties["log.retention.minutes"] = "log.retention.ms in minutes (log.retention.ms wins)"
	KnownProperties["log.roll.hours"] = "log.roll.ms in hours (log.roll.ms wins)"
	KnownProperties["log.retention.check.interval.ms"] = "how often retention runs"
	KnownProperties["log.cleaner.backoff.ms"] = "how often the cleaner looks for partitions to compact"
}
