package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizedOperationsOmitted is Kafka's value for "not requested".
const authorizedOperationsOmitted = -2147483648

// handleMetadata answers Metadata (key 3), v0-v12. Unknown topics named in
// the request are created when auto.create.topics.enable is on and the
// request allows it (v4+; always for older versions), as in Kafka.
func handleMetadata(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := r.resp.(*kmsg.MetadataResponse)
	b := c.b
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: c.lis.advHost, Port: c.lis.advPort}}
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.cfg.NodeID
	resp.AuthorizedOperations = authorizedOperationsOmitted
	if req.IncludeClusterAuthorizedOperations { // v8-v10
		resp.AuthorizedOperations = c.authorizedOperations(kmsg.ACLResourceTypeCluster, clusterResource)
	}
	if req.IncludeTopicAuthorizedOperations { // v8+
		defer func() {
			for i := range resp.Topics {
				if mt := &resp.Topics[i]; mt.ErrorCode == 0 && mt.Topic != nil {
					mt.AuthorizedOperations = c.authorizedOperations(kmsg.ACLResourceTypeTopic, *mt.Topic)
				}
			}
		}()
	}

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range b.topics.all() {
			if c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.name) {
				resp.Topics = append(resp.Topics, b.metadataTopic(t))
			}
		}
		return
	}
	autoCreate := !b.cfg.DisableAutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		if rt.Topic == nil {
			if t = b.topics.getByID(rt.TopicID); t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.name) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
			continue
		}
		name := *rt.Topic
		if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			// Whether or not it exists: existence is not told either.
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		t = b.topics.get(name)
		if t == nil && autoCreate && !c.authorizedCreate(name) {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if t == nil && autoCreate {
			var err error
			t, err = b.autoCreateTopic(name)
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr(name)
				mt.ErrorCode = topicErrorCode(err)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
}

// autoCreateTopic creates name with the broker's default partition count,
// tolerating a concurrent creation of the same topic.
func (b *Broker) autoCreateTopic(name string) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidTopic, err)
	}
	t, err := b.topics.create(name, b.cfg.NumPartitions, nil)
	if errors.Is(err, errTopicExists) {
		if t == nil {
			return nil, errTopicBusy // being created or deleted right now
		}
		return t, nil
	}
	if err != nil {
		b.log.Error("auto-create topic", "topic", name, "err", err)
	}
	return t, err
}

var errInvalidTopic = errors.New("invalid topic")

// topicErrorCode maps topic-management errors to Kafka error codes.
func topicErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, errTopicBusy):
		return kerr.LeaderNotAvailable.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = len(t.name) > 2 && t.name[:2] == "__"
	mt.AuthorizedOperations = authorizedOperationsOmitted
	node := []int32{b.cfg.NodeID}
	for _, p := range b.topics.partitionsOf(t) {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = node
		mp.ISR = node
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// handleDescribeCluster answers DescribeCluster (key 60), v0-v1.
func handleDescribeCluster(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := r.resp.(*kmsg.DescribeClusterResponse)
	b := c.b
	if req.Version >= 1 && req.EndpointType != 1 { // 1 = brokers; 2 = controllers
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only the brokers endpoint type (1) is served")
		return
	}
	resp.EndpointType = 1
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	resp.ClusterAuthorizedOperations = authorizedOperationsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = c.authorizedOperations(kmsg.ACLResourceTypeCluster, clusterResource)
	}
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{{NodeID: b.cfg.NodeID, Host: c.lis.advHost, Port: c.lis.advPort}}
}
