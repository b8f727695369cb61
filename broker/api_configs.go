package broker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic and broker configuration APIs. Topic settings are described with their source and, on
// request, synonyms (the topic value, the broker-level default, Kafka's default) as Kafka 2.0+
// does (KIP-226); they change live through AlterConfigs (replace all, key 33) and
// IncrementalAlterConfigs (KIP-339, key 44), are persisted in topics.json and applied to the
// partition logs at once. Broker settings are described (read-only: they come from
// server.properties or Config); changing them at run time is refused.

// handleDescribeConfigs answers DescribeConfigs (key 32), v0-v4.
func handleDescribeConfigs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := r.resp.(*kmsg.DescribeConfigsResponse)
	b := c.b
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		wanted := func(name string) bool { return rr.ConfigNames == nil || slices.Contains(rr.ConfigNames, name) }
		if e := c.authorizedConfig(rr.ResourceType, rr.ResourceName, kmsg.ACLOperationDescribeConfigs); e != nil {
			sr.ErrorCode = e.Code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topics.get(rr.ResourceName)
			if t == nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				sr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("topic %q does not exist", rr.ResourceName))
				break
			}
			configs := b.topics.configsOf(t)
			for i := range topicConfigDefs {
				d := &topicConfigDefs[i]
				if !wanted(d.name) {
					continue
				}
				v, src := b.cfg.topicConfigValue(d, configs)
				e := describedConfig(req, d.name, v, src, d.typ, d.doc, false)
				if req.IncludeSynonyms {
					if tv, ok := configs[d.name]; ok {
						e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(d.name, tv, sourceTopic))
					}
					if bv, ok := b.cfg.brokerDefault(d); ok {
						e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(d.brokerName, bv, sourceStaticBroker))
					}
					e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(d.brokerName, d.def, sourceDefault))
				}
				sr.Configs = append(sr.Configs, e)
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("this is broker %d, not %s", b.cfg.NodeID, rr.ResourceName))
				break
			}
			for _, bc := range b.brokerConfigs() {
				if !wanted(bc.name) {
					continue
				}
				e := describedConfig(req, bc.name, bc.value, bc.source, bc.typ, bc.doc, true)
				if req.IncludeSynonyms {
					e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(bc.name, bc.value, bc.source))
				}
				sr.Configs = append(sr.Configs, e)
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("resource type %d is not supported", rr.ResourceType))
		}
		resp.Resources = append(resp.Resources, sr)
	}
}

func describedConfig(req *kmsg.DescribeConfigsRequest, name, value string, src, typ int8, doc string, readOnly bool) kmsg.DescribeConfigsResponseResourceConfig {
	e := kmsg.NewDescribeConfigsResponseResourceConfig()
	e.Name = name
	e.Value = kmsg.StringPtr(value)
	e.ReadOnly = readOnly
	e.Source = kmsg.ConfigSource(src)
	e.IsDefault = src == sourceDefault
	e.ConfigType = kmsg.ConfigType(typ)
	if req.IncludeDocumentation {
		e.Documentation = kmsg.StringPtr(doc)
	}
	return e
}

func synonym(name, value string, src int8) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, kmsg.StringPtr(value), kmsg.ConfigSource(src)
	return s
}

type brokerConfig struct {
	name, value string
	source      int8
	typ         int8
	doc         string
}

// brokerConfigs lists the broker's settings for DescribeConfigs on the broker resource.
func (b *Broker) brokerConfigs() []brokerConfig {
	c := &b.cfg
	static := func(name, value string, typ int8, doc string) brokerConfig {
		return brokerConfig{name, value, sourceStaticBroker, typ, doc}
	}
	out := []brokerConfig{
		static("node.id", strconv.Itoa(int(c.NodeID)), configTypeInt, KnownProperties["node.id"]),
		static("log.dirs", c.DataDir, configTypeString, KnownProperties["log.dirs"]),
		static("num.partitions", strconv.Itoa(int(c.NumPartitions)), configTypeInt, KnownProperties["num.partitions"]),
		static("auto.create.topics.enable", strconv.FormatBool(!c.DisableAutoCreateTopics), configTypeBoolean, KnownProperties["auto.create.topics.enable"]),
		static("socket.request.max.bytes", strconv.Itoa(int(c.MaxRequestBytes)), configTypeInt, KnownProperties["socket.request.max.bytes"]),
		static("log.retention.check.interval.ms", strconv.FormatInt(c.RetentionCheckInterval.Milliseconds(), 10), configTypeLong, KnownProperties["log.retention.check.interval.ms"]),
		static("log.cleaner.backoff.ms", strconv.FormatInt(c.CleanerBackoff.Milliseconds(), 10), configTypeLong, KnownProperties["log.cleaner.backoff.ms"]),
	}
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		v, src := c.topicConfigValue(d, nil)
		if d.name == "segment.bytes" || d.name == "max.message.bytes" {
			src = sourceStaticBroker // typed Config fields, always set
		}
		out = append(out, brokerConfig{d.brokerName, v, src, d.typ, d.doc})
	}
	slices.SortFunc(out, func(a, b brokerConfig) int { return strings.Compare(a.name, b.name) })
	return out
}

// alterTarget checks an Alter*Configs resource and returns its topic, or an error code and
// message for the response.
func (b *Broker) alterTarget(typ kmsg.ConfigResourceType, name string) (*topic, *kerr.Error, string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := b.topics.get(name)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", name)
		}
		return t, nil, ""
	case kmsg.ConfigResourceTypeBroker:
		return nil, kerr.InvalidRequest, "broker settings cannot be changed at run time; set them in server.properties and restart"
	default:
		return nil, kerr.InvalidRequest, fmt.Sprintf("resource type %d is not supported", typ)
	}
}

// commitConfigs validates and, unless validateOnly, applies a topic's new configs.
func (b *Broker) commitConfigs(t *topic, configs map[string]string, validateOnly bool) (*kerr.Error, string) {
	if err := validateTopicConfigs(configs); err != nil {
		return kerr.InvalidConfig, err.Error()
	}
	if validateOnly {
		return nil, ""
	}
	if err := b.topics.setConfigs(t.name, configs); err != nil {
		if errors.Is(err, errUnknownTopic) {
			return kerr.UnknownTopicOrPartition, err.Error()
		}
		return kerr.KafkaStorageError, err.Error()
	}
	b.cleaner.poke()
	return nil, ""
}

// handleAlterConfigs answers AlterConfigs (key 33), v0-v2: each resource's configs replace
// all of its previous ones.
func handleAlterConfigs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := r.resp.(*kmsg.AlterConfigsResponse)
	b := c.b
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		fail := func(e *kerr.Error, msg string) {
			sr.ErrorCode, sr.ErrorMessage = e.Code, kmsg.StringPtr(msg)
		}
		t, e, msg := b.alterTarget(rr.ResourceType, rr.ResourceName)
		if ae := c.authorizedConfig(rr.ResourceType, rr.ResourceName, kmsg.ACLOperationAlterConfigs); ae != nil {
			t, e, msg = nil, ae, ""
		}
		if e == nil {
			configs := map[string]string{}
			for _, rc := range rr.Configs {
				if _, dup := configs[rc.Name]; dup {
					e, msg = kerr.InvalidRequest, "duplicate config key "+rc.Name
					break
				}
				if rc.Value == nil {
					e, msg = kerr.InvalidRequest, "null value for config "+rc.Name
					break
				}
				configs[rc.Name] = *rc.Value
			}
			if e == nil {
				e, msg = b.commitConfigs(t, configs, req.ValidateOnly)
			}
		}
		if e != nil {
			fail(e, msg)
		}
		resp.Resources = append(resp.Resources, sr)
	}
}

// handleIncrementalAlterConfigs answers IncrementalAlterConfigs (key 44), v0-v1: SET, DELETE,
// and APPEND/SUBTRACT for list settings (cleanup.policy).
func handleIncrementalAlterConfigs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.resp.(*kmsg.IncrementalAlterConfigsResponse)
	b := c.b
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		t, e, msg := b.alterTarget(rr.ResourceType, rr.ResourceName)
		if ae := c.authorizedConfig(rr.ResourceType, rr.ResourceName, kmsg.ACLOperationAlterConfigs); ae != nil {
			t, e, msg = nil, ae, ""
		}
		if e == nil {
			configs := maps.Clone(b.topics.configsOf(t))
			if configs == nil {
				configs = map[string]string{}
			}
			e, msg = b.applyIncremental(rr.Configs, configs)
			if e == nil {
				e, msg = b.commitConfigs(t, configs, req.ValidateOnly)
			}
		}
		if e != nil {
			sr.ErrorCode, sr.ErrorMessage = e.Code, kmsg.StringPtr(msg)
		}
		resp.Resources = append(resp.Resources, sr)
	}
}

// applyIncremental applies ops to configs, a topic's own settings.
func (b *Broker) applyIncremental(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, configs map[string]string) (*kerr.Error, string) {
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return kerr.InvalidRequest, "Error due to duplicate config keys: " + op.Name
		}
		seen[op.Name] = true
		d := topicConfigByName[op.Name]
		if d == nil {
			return kerr.InvalidConfig, "Unknown topic config name: " + op.Name
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return kerr.InvalidRequest, "null value for config " + op.Name
			}
			configs[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.typ != configTypeList {
				return kerr.InvalidConfig, fmt.Sprintf("Config value append is not allowed for config key: %s", op.Name)
			}
			cur, _ := b.cfg.topicConfigValue(d, configs)
			var items []string
			for _, it := range strings.Split(cur, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			var value string
			if op.Value != nil {
				value = *op.Value
			}
			for _, it := range strings.Split(value, ",") {
				it = strings.TrimSpace(it)
				if it == "" {
					continue
				}
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(items, it) {
					items = append(items, it)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			configs[op.Name] = strings.Join(items, ",")
		default:
			return kerr.InvalidRequest, fmt.Sprintf("unknown operation %d for config %s", op.Op, op.Name)
		}
	}
	return nil, ""
}
