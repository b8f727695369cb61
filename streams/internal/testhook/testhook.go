// Package testhook connects streams/streamstest to the in-memory engine of
// package streams without making that engine part of the streams API.
package testhook

import "time"

// Record is a record written to a topic by the engine.
type Record struct {
	Topic     string
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Config configures an engine.
type Config struct {
	ApplicationID string
	WallClock     time.Time
	// OnError is a streams.ErrorPolicy; DeadLetterTopic goes with it.
	OnError         int
	DeadLetterTopic string
}

// Engine runs a topology in memory, one task per sub-topology.
type Engine interface {
	Pipe(topic string, key, value []byte, ts time.Time, headers []Header) error
	// Output removes and returns what was written to topic.
	Output(topic string) []Record
	// Store returns the typed store (*state.KeyValueStore[K, V]) of name.
	Store(name string) (any, error)
	AdvanceWallClock(d time.Duration) error
	StreamTime() time.Time
	// LateRecordsDropped counts records dropped by windowed operations.
	LateRecordsDropped() int64
	Close() error
}

// NewEngine is set by package streams; topology is a *streams.Topology.
var NewEngine func(topology any, cfg Config) (Engine, error)
