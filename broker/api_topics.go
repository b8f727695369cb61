package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxPartitions bounds a topic's partition count so a typo cannot make the
// broker open millions of files.
const maxPartitions = 100000

// handleCreateTopics answers CreateTopics (key 19), v0-v7.
func handleCreateTopics(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := r.resp.(*kmsg.CreateTopicsResponse)
	b := c.b
	seen := make(map[string]int)
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, format string, args ...any) {
			st.ErrorCode = code
			st.ErrorMessage = kmsg.StringPtr(fmt.Sprintf(format, args...))
			st.NumPartitions, st.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, st)
		}
		if seen[rt.Topic] > 1 {
			fail(kerr.InvalidRequest.Code, "topic %q appears more than once in the request", rt.Topic)
			continue
		}
		if !c.authorizedCreate(rt.Topic) {
			fail(kerr.TopicAuthorizationFailed.Code, "CreateTopics needs CREATE on the cluster or the topic")
			continue
		}
		if err := validateTopicName(rt.Topic); err != nil {
			fail(kerr.InvalidTopicException.Code, "%v", err)
			continue
		}
		n, rf := rt.NumPartitions, rt.ReplicationFactor
		if len(rt.ReplicaAssignment) > 0 {
			if n != -1 || rf != -1 {
				fail(kerr.InvalidRequest.Code, "both replica assignment and partition count/replication factor were given")
				continue
			}
			n, rf = int32(len(rt.ReplicaAssignment)), 1
			if bad := b.badAssignment(rt.ReplicaAssignment); bad != "" {
				fail(kerr.InvalidReplicaAssignment.Code, "%s", bad)
				continue
			}
		}
		if n == -1 {
			n = b.cfg.NumPartitions
		}
		if rf == -1 {
			rf = 1
		}
		if n <= 0 || n > maxPartitions {
			fail(kerr.InvalidPartitions.Code, "number of partitions must be between 1 and %d, got %d", maxPartitions, n)
			continue
		}
		if rf != 1 {
			fail(kerr.InvalidReplicationFactor.Code, "replication factor %d is larger than the 1 available broker", rf)
			continue
		}
		configs := make(map[string]string)
		for _, cfg := range rt.Configs {
			if cfg.Value != nil {
				configs[cfg.Name] = *cfg.Value
			}
		}
		if err := validateTopicConfigs(configs); err != nil {
			fail(kerr.InvalidConfig.Code, "%v", err)
			continue
		}
		if b.topics.get(rt.Topic) != nil {
			fail(kerr.TopicAlreadyExists.Code, "topic %q already exists", rt.Topic)
			continue
		}
		if why := checkFileBudget(int(n)); why != "" {
			fail(kerr.PolicyViolation.Code, "%s", why)
			continue
		}
		if req.ValidateOnly {
			st.NumPartitions, st.ReplicationFactor = n, rf
			st.Configs = b.createdTopicConfigs(configs)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, err := b.topics.create(rt.Topic, n, configs)
		if err != nil {
			if errors.Is(err, errTopicExists) {
				fail(kerr.TopicAlreadyExists.Code, "topic %q already exists", rt.Topic)
			} else {
				fail(kerr.KafkaStorageError.Code, "create topic: %v", err)
			}
			continue
		}
		st.TopicID = t.id
		st.NumPartitions, st.ReplicationFactor = n, rf
		st.Configs = b.createdTopicConfigs(configs)
		resp.Topics = append(resp.Topics, st)
	}
}

// createdTopicConfigs lists every setting of a new topic with its value and source, as
// CreateTopics v5+ answers (KIP-525).
func (b *Broker) createdTopicConfigs(configs map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		v, src := b.cfg.topicConfigValue(d, configs)
		out = append(out, kmsg.CreateTopicsResponseTopicConfig{Name: d.name, Value: kmsg.StringPtr(v), Source: src})
	}
	return out
}

// badAssignment explains why a manual replica assignment cannot be placed
// on this single broker, or returns "".
func (b *Broker) badAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) string {
	for i, a := range as {
		if a.Partition != int32(i) {
			return fmt.Sprintf("replica assignment partitions must be 0..%d in order", len(as)-1)
		}
		if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
			return fmt.Sprintf("partition %d must be assigned to exactly broker %d, the only broker", i, b.cfg.NodeID)
		}
	}
	return ""
}

// handleDeleteTopics answers DeleteTopics (key 20), v0-v6.
func handleDeleteTopics(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := r.resp.(*kmsg.DeleteTopicsResponse)
	b := c.b
	type target struct {
		name *string
		id   topicID
	}
	var targets []target
	for _, name := range req.TopicNames {
		targets = append(targets, target{name: kmsg.StringPtr(name)})
	}
	for _, t := range req.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var t *topic
		if tg.name != nil {
			t = b.topics.get(*tg.name)
		} else {
			t = b.topics.getByID(tg.id)
		}
		name := ""
		if t != nil {
			name = t.name
		} else if tg.name != nil {
			name = *tg.name
		}
		if name != "" && !c.authorized(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t == nil {
			if tg.name == nil {
				st.ErrorCode = kerr.UnknownTopicID.Code
			} else {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			st.ErrorMessage = kmsg.StringPtr("no such topic")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.Topic, st.TopicID = kmsg.StringPtr(t.name), t.id
		if err := b.topics.delete(t.name); err != nil {
			st.ErrorCode = topicErrorCode(err)
			st.ErrorMessage = kmsg.StringPtr(err.Error())
		}
		b.sessions.forgetTopic(t.name)
		resp.Topics = append(resp.Topics, st)
	}
}

// handleCreatePartitions answers CreatePartitions (key 37), v0-v3.
func handleCreatePartitions(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := r.resp.(*kmsg.CreatePartitionsResponse)
	b := c.b
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, format string, args ...any) {
			st.ErrorCode = code
			st.ErrorMessage = kmsg.StringPtr(fmt.Sprintf(format, args...))
		}
		t := b.topics.get(rt.Topic)
		var noFiles string // why the new partitions' files would not fit the open file limit
		if t != nil && rt.Count > int32(len(b.topics.partitionsOf(t))) && rt.Count <= maxPartitions {
			noFiles = checkFileBudget(int(rt.Count) - len(b.topics.partitionsOf(t)))
		}
		switch {
		case !c.authorized(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic):
			fail(kerr.TopicAuthorizationFailed.Code, "CreatePartitions needs ALTER on the topic")
		case t == nil:
			fail(kerr.UnknownTopicOrPartition.Code, "no such topic %q", rt.Topic)
		case rt.Count <= int32(len(b.topics.partitionsOf(t))):
			fail(kerr.InvalidPartitions.Code, "topic %q has %d partitions; the new count %d must be larger",
				rt.Topic, len(b.topics.partitionsOf(t)), rt.Count)
		case rt.Count > maxPartitions:
			fail(kerr.InvalidPartitions.Code, "at most %d partitions are allowed, got %d", maxPartitions, rt.Count)
		case len(rt.Assignment) > 0 && len(rt.Assignment) != int(rt.Count)-len(b.topics.partitionsOf(t)):
			fail(kerr.InvalidReplicaAssignment.Code, "%d assignments given for %d new partitions",
				len(rt.Assignment), int(rt.Count)-len(b.topics.partitionsOf(t)))
		case noFiles != "":
			fail(kerr.PolicyViolation.Code, "%s", noFiles)
		case req.ValidateOnly:
		default:
			if err := b.topics.addPartitions(rt.Topic, rt.Count); err != nil {
				fail(topicErrorCode(err), "%v", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
}
