package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/eddy-streams/eddy/state"
	"github.com/eddy-streams/eddy/streams/internal/testhook"
)

func init() {
	testhook.NewEngine = func(topology any, cfg testhook.Config) (testhook.Engine, error) {
		t, ok := topology.(*Topology)
		if !ok {
			return nil, fmt.Errorf("streams: %T is not a *streams.Topology", topology)
		}
		return newLocalEngine(t, cfg)
	}
}

// localEngine runs a topology in memory for the test driver: every topic
// has one partition, every sub-topology one task (partition 0), stores are
// in memory, and records written to a topic the topology reads are
// processed right after the record that wrote them, in the order written.
type localEngine struct {
	top     *Topology
	cfg     testhook.Config
	log     *slog.Logger
	tasks   []*task
	readers map[string]localReader // resolved topic -> reader
	outputs map[string][]testhook.Record
	queue   []rawRecord
	wall    time.Time
	offsets map[string]int64
	late    int64
	globals map[string]*globalStore // by topic
}

type localReader struct {
	t   *task
	ref topicRef
}

func newLocalEngine(top *Topology, cfg testhook.Config) (*localEngine, error) {
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "test"
	}
	e := &localEngine{
		top: top, cfg: cfg,
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		readers: map[string]localReader{},
		outputs: map[string][]testhook.Record{},
		wall:    cfg.WallClock,
		offsets: map[string]int64{},
	}
	if e.wall.IsZero() {
		e.wall = time.Unix(0, 0)
	}
	e.globals = map[string]*globalStore{}
	for _, spec := range top.globals {
		gs, err := openGlobal(spec, "", true, nil)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.globals[spec.topic] = gs
	}
	for _, st := range top.subs {
		t, err := newTask(context.Background(), TaskID{SubTopology: st.ID}, st, e)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.tasks = append(e.tasks, t)
		for _, ref := range st.sources {
			e.readers[ref.resolve(cfg.ApplicationID)] = localReader{t: t, ref: ref}
		}
	}
	return e, nil
}

func (e *localEngine) appID() string { return e.cfg.ApplicationID }

func (e *localEngine) produce(topic string, partition int32, key, value []byte, ts time.Time, headers []Header) error {
	hs := make([]testhook.Header, len(headers))
	for i, h := range headers {
		hs[i] = testhook.Header(h)
	}
	e.outputs[topic] = append(e.outputs[topic], testhook.Record{Topic: topic, Key: key, Value: value, Timestamp: ts, Headers: hs})
	if gs := e.globals[topic]; gs != nil {
		if err := gs.apply(key, value); err != nil {
			return err
		}
	}
	if _, ok := e.readers[topic]; ok {
		e.queue = append(e.queue, rawRecord{topic: topic, key: key, value: value, timestamp: ts, headers: headers})
	}
	return nil
}

func (e *localEngine) partitions(string) (int32, error) { return 1, nil }

func (e *localEngine) openStore(ctx context.Context, t *task, spec *storeSpec) (*state.Store, error) {
	return state.OpenStore(ctx, state.StoreOptions{InMemory: true, NoCache: true, Logger: e.log})
}

func (e *localEngine) deserializationError(t *task, r *rawRecord, err error) error {
	return handleDeserializationError(ErrorPolicy(e.cfg.OnError), e.cfg.DeadLetterTopic, e.log, t, r, err)
}

func (e *localEngine) lateRecord(t *task, op string, ts time.Time, attrs ...any) {
	e.late++
	logLateRecord(e.log, t, op, ts, attrs)
}

func (e *localEngine) metrics() *appMetrics { return nil }

func (e *localEngine) globalStore(name string) (any, error) {
	for _, gs := range e.globals {
		if gs.spec.name == name {
			return gs.typed, nil
		}
	}
	return nil, fmt.Errorf("streams: no global store named %q", name)
}

func (e *localEngine) LateRecordsDropped() int64 { return e.late }

func (e *localEngine) Pipe(topic string, key, value []byte, ts time.Time, headers []testhook.Header) error {
	if gs := e.globals[topic]; gs != nil {
		// A global table's topic is applied to its store at once.
		return gs.apply(key, value)
	}
	if _, ok := e.readers[topic]; !ok {
		return fmt.Errorf("streams: the topology does not read topic %q", topic)
	}
	hs := make([]Header, len(headers))
	for i, h := range headers {
		hs[i] = Header(h)
	}
	e.queue = append(e.queue, rawRecord{topic: topic, key: key, value: value, timestamp: ts, headers: hs})
	return e.drain()
}

// drain processes the queued records, including those their processing
// writes to topics the topology reads.
func (e *localEngine) drain() error {
	for len(e.queue) > 0 {
		r := e.queue[0]
		e.queue = e.queue[1:]
		rd := e.readers[r.topic]
		r.offset = e.offsets[r.topic]
		e.offsets[r.topic]++
		if err := rd.t.process(&r, rd.ref); err != nil {
			e.queue = nil
			return err
		}
	}
	return nil
}

func (e *localEngine) Output(topic string) []testhook.Record {
	out := e.outputs[topic]
	delete(e.outputs, topic)
	return out
}

func (e *localEngine) Store(name string) (any, error) {
	for _, t := range e.tasks {
		if s := t.stores[name]; s != nil {
			return s.typed, nil
		}
	}
	return nil, fmt.Errorf("streams: no store named %q", name)
}

func (e *localEngine) AdvanceWallClock(d time.Duration) error {
	e.wall = e.wall.Add(d)
	for _, t := range e.tasks {
		if err := t.punctuate(WallClockTime, e.wall); err != nil {
			return err
		}
	}
	return e.drain()
}

func (e *localEngine) StreamTime() time.Time {
	var max time.Time
	for _, t := range e.tasks {
		if t.streamTime.After(max) {
			max = t.streamTime
		}
	}
	return max
}

func (e *localEngine) Close() error {
	var errs []error
	for _, t := range e.tasks {
		errs = append(errs, t.close())
	}
	e.tasks = nil
	for _, gs := range e.globals {
		errs = append(errs, gs.store.Close())
	}
	e.globals = nil
	return errors.Join(errs...)
}
