package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// StreamsAppsTopic is the compacted topic (one partition) in which every
// App describes itself when it starts and after every rebalance: key the
// application id, value the JSON of an AppDescription. Consoles read it to
// list the streams apps of a cluster and draw their topologies. An app
// creates the topic if it is absent; failing to publish only logs a
// warning.
const StreamsAppsTopic = "__eddy_streams_apps"

// AppDescription is the value an App publishes to StreamsAppsTopic:
//
//	{"application_id":"wordcount","updated_ms":1733580000000,"instances":1,
//	 "subtopologies":[{"id":0,"nodes":[{"name":"KSTREAM-SOURCE-0000000000","type":"source",
//	   "topics":["lines"],"stores":[],"successors":["KSTREAM-FLATMAPVALUES-0000000001"]}, ...]}]}
//
// Internal topics carry their run-time names ("<application id>-...").
type AppDescription struct {
	ApplicationID string `json:"application_id"`
	// UpdatedMs is when it was published, in milliseconds since the epoch.
	UpdatedMs int64 `json:"updated_ms"`
	// Instances is the number of members of the app's consumer group as
	// the publishing instance saw it (at least 1).
	Instances int `json:"instances"`
	TopologyDescription
}

// publisher publishes the app's description whenever it is kicked, from a
// goroutine that Run owns.
type publisher struct {
	a    *App
	kick chan struct{} // capacity 1
	stop chan struct{}
	done chan struct{}
	// ok is false when the topic could not be created: nothing is
	// published.
	ok bool
}

func newPublisher(a *App) *publisher {
	return &publisher{a: a, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// setup creates StreamsAppsTopic if it is absent.
func (p *publisher) setup() {
	admin, err := sarama.NewClusterAdminFromClient(p.a.client)
	if err != nil {
		p.a.log.Warn("streams: admin client; this app will not be listed", "app", p.a.cfg.ApplicationID, "err", err)
		return
	}
	// Not admin.Close: it would close the shared client.
	compact := "compact"
	err = admin.CreateTopic(StreamsAppsTopic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: p.a.cfg.ReplicationFactor,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false)
	var te *sarama.TopicError
	if err != nil && !(errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists) && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		p.a.log.Warn("streams: cannot create the topic apps describe themselves in; this app will not be listed",
			"app", p.a.cfg.ApplicationID, "topic", StreamsAppsTopic, "err", err)
		return
	}
	p.ok = true
}

// request asks for a publication soon.
func (p *publisher) request() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run publishes on every request until close.
func (p *publisher) run() {
	defer close(p.done)
	if !p.ok {
		return
	}
	var prod sarama.SyncProducer
	defer func() {
		if prod != nil {
			prod.Close()
		}
	}()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		if prod == nil {
			var err error
			if prod, err = sarama.NewSyncProducerFromClient(p.a.pclient); err != nil {
				p.a.log.Warn("streams: cannot publish the app's description", "app", p.a.cfg.ApplicationID, "err", err)
				prod = nil
				continue
			}
		}
		if err := p.publish(prod); err != nil {
			p.a.log.Warn("streams: cannot publish the app's description", "app", p.a.cfg.ApplicationID, "topic", StreamsAppsTopic, "err", err)
		}
	}
}

func (p *publisher) close() {
	close(p.stop)
	<-p.done
}

func (p *publisher) publish(prod sarama.SyncProducer) error {
	a := p.a
	d := AppDescription{ApplicationID: a.cfg.ApplicationID, UpdatedMs: time.Now().UnixMilli(), Instances: 1,
		TopologyDescription: a.top.description(a.cfg.ApplicationID)}
	if admin, err := sarama.NewClusterAdminFromClient(a.pclient); err == nil {
		// Not admin.Close: it would close the shared client.
		if gs, err := admin.DescribeConsumerGroups([]string{a.cfg.ApplicationID}); err == nil && len(gs) == 1 {
			d.Instances = max(1, len(gs[0].Members))
		}
	}
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: StreamsAppsTopic, Partition: 0,
		Key: sarama.StringEncoder(a.cfg.ApplicationID), Value: sarama.ByteEncoder(v)})
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}
