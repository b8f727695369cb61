package broker

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigFromProperties(t *testing.T) {
	cfg, ignored, err := ConfigFromProperties(Config{}, Properties{
		"log.dirs":                  "/data",
		"listeners":                 "PLAINTEXT://0.0.0.0:19092",
		"advertised.listeners":      "PLAINTEXT://kafka.local:19092",
		"node.id":                   "3",
		"num.partitions":            "6",
		"auto.create.topics.enable": "false",
		"log.segment.bytes":         "1048576",
		"message.max.bytes":         "2000000",
		"connections.max.idle.ms":   "60000",
		"log.retention.hours":       "168",
		"log.cleanup.policy":        "compact,delete",
		"log.cleaner.threads":       "2",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DataDir: "/data", Listen: "0.0.0.0:19092", AdvertisedAddr: "kafka.local:19092", NodeID: 3,
		NumPartitions: 6, DisableAutoCreateTopics: true, SegmentBytes: 1 << 20, MaxMessageBytes: 2000000, IdleTimeout: time.Minute,
		TopicDefaults: map[string]string{"log.retention.ms": "604800000", "log.cleanup.policy": "compact,delete"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	if len(ignored) != 1 || ignored[0] != "log.cleaner.threads" {
		t.Errorf("ignored = %v", ignored)
	}

	for _, bad := range []Properties{
		{"num.partitions": "zero"},
		{"num.partitions": "0"},
		{"auto.create.topics.enable": "maybe"},
		{"log.dirs": "/a,/b"},
		{"listeners": "SSL://host:9093"},
		{"message.max.bytes": "99999999999"},
		{"log.cleanup.policy": "shred"},
		{"log.retention.ms": "-2"},
		{"log.cleaner.min.cleanable.ratio": "1.5"},
	} {
		_, _, err := ConfigFromProperties(Config{}, bad)
		for k := range bad {
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%v: error %v should name the setting", bad, err)
			}
		}
	}
}
