package streams

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/state"
)

// GlobalTable is a table read from every partition of a topic into a store
// of its own on every instance of an app: Kafka Streams' GlobalKTable.
// Before an instance processes anything it loads the whole topic into the
// store; afterwards it keeps applying the topic's new records in the
// background. Since every instance has all of it, a stream may join a
// global table on any key it computes (JoinGlobal, LeftJoinGlobal),
// without repartitioning and without co-partitioning.
//
// The topic is the store's changelog: a global store has no changelog topic
// of its own, and its records are stored as they are in the topic (so the
// table's serdes must be the ones the topic was written with). A record
// with a nil value deletes its key. A LevelDB global store that was closed
// cleanly resumes from a checkpoint of the offsets it had applied; after a
// crash, and always in memory (Config.InMemoryStores), it is rebuilt from
// the whole topic.
type GlobalTable[K, V any] struct {
	b    *Builder
	spec *globalSpec
}

// globalSpec is a global store of the topology.
type globalSpec struct {
	name   string // store name
	topic  string // source topic
	source string // source node name, for Describe
	proc   string // the processor that writes the store, for Describe
	open   func(b state.Backend) any
}

// GlobalTableFrom reads topic as a global table, stored in a store named
// m.Name (or a generated name). The timestamp extractor of c is not used.
func GlobalTableFrom[K, V any](b *Builder, topic string, c Consumed[K, V], m Materialized[K, V]) GlobalTable[K, V] {
	keys, values := serdeOverride(m.Keys, serdeOr(c.Keys)), serdeOverride(m.Values, serdeOr(c.Values))
	storeName := b.storeNameOr(m.Name, topic+"-STATE-STORE")
	srcName := b.nameOr(c.Name, "KSTREAM-SOURCE")
	procName := b.newName("KTABLE-SOURCE")
	for _, n := range []string{srcName, procName} {
		if b.names[n] {
			b.fail("two nodes named %q", n)
		}
		b.names[n] = true
	}
	for _, g := range b.globals {
		if g.topic == topic {
			b.fail("topic %q is read by two global tables", topic)
		}
	}
	if _, dup := b.stores[storeName]; dup {
		b.fail("two stores named %q", storeName)
	}
	spec := &globalSpec{name: storeName, topic: topic, source: srcName, proc: procName, open: func(be state.Backend) any {
		return state.NewKeyValueStore(be, keys, values)
	}}
	b.globals = append(b.globals, spec)
	return GlobalTable[K, V]{b: b, spec: spec}
}

// StoreName is the name of the global table's store.
func (g GlobalTable[K, V]) StoreName() string { return g.spec.name }

// JoinGlobal joins every record of s with the global table's value for
// the key that key computes from the record: Kafka Streams'
// KStream.join(GlobalKTable, KeyValueMapper, ValueJoiner). Records whose
// computed key is not in the table are dropped. The result keeps the
// stream's keys and timestamps.
func JoinGlobal[K, V, GK, GV, VR any](s Stream[K, V], g GlobalTable[GK, GV], key func(K, V) GK, fn func(v V, gv GV) VR) Stream[K, VR] {
	return globalJoin(s, g, "KSTREAM-JOIN", key, func(v V, gv GV, found bool) (VR, bool) {
		if !found {
			var zero VR
			return zero, false
		}
		return fn(v, gv), true
	})
}

// LeftJoinGlobal is JoinGlobal that keeps records whose computed key is
// not in the table: fn gets found=false and the zero GV for them.
func LeftJoinGlobal[K, V, GK, GV, VR any](s Stream[K, V], g GlobalTable[GK, GV], key func(K, V) GK, fn func(v V, gv GV, found bool) VR) Stream[K, VR] {
	return globalJoin(s, g, "KSTREAM-LEFTJOIN", key, func(v V, gv GV, found bool) (VR, bool) {
		return fn(v, gv, found), true
	})
}

func globalJoin[K, V, GK, GV, VR any](s Stream[K, V], g GlobalTable[GK, GV], prefix string, key func(K, V) GK, fn func(V, GV, bool) (VR, bool)) Stream[K, VR] {
	if g.b != s.b {
		s.b.fail("%s: the global table %s belongs to another builder", prefix, g.spec.name)
	}
	name := g.spec.name
	var n *node
	n = s.b.addNode(kindProcessor, s.b.newName(prefix), []*node{s.n}, func(t *task) error {
		in, err := inOf[K, V](t, s.n)
		if err != nil {
			return err
		}
		st, err := t.env.globalStore(name)
		if err != nil {
			return err
		}
		store, ok := st.(*state.KeyValueStore[GK, GV])
		if !ok {
			return fmt.Errorf("streams: global store %q is a %T, not a key-value store of these types", name, st)
		}
		out := newOut[K, VR](t, n)
		in.next = append(in.next, func(r Record[K, V]) error {
			gv, found, err := store.Get(key(r.Key, r.Value))
			if err != nil {
				return fmt.Errorf("streams: global store %s: %w", name, err)
			}
			vr, ok := fn(r.Value, gv, found)
			if !ok {
				return nil
			}
			return out.emit(Record[K, VR]{Key: r.Key, Value: vr, Timestamp: r.Timestamp, Headers: r.Headers})
		})
		return nil
	})
	n.globalStores = []string{name}
	return derive[K, V, K, VR](s, n, s.keys, nil, s.keyChanged)
}

// globalStore is a global table's store in one app (or test driver).
type globalStore struct {
	spec  *globalSpec
	store *state.Store
	typed any
	// ckpt is the checkpoint file of a LevelDB store ("" in memory).
	ckpt string
	// after is, per partition of the topic, the offset of the last record
	// the store holds (-1: none), from the checkpoint found at open.
	after map[int32]int64

	mu      sync.Mutex // serializes writes from the partitions' goroutines; guards applied
	applied map[int32]int64
}

// apply writes a record of the global topic to the store.
func (g *globalStore) apply(key, value []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.store.Backend()
	if value == nil {
		return b.Delete(key)
	}
	return b.Put(key, value)
}

// applyAt applies the record at offset of a partition and remembers it.
func (g *globalStore) applyAt(partition int32, offset int64, key, value []byte) error {
	if err := g.apply(key, value); err != nil {
		return err
	}
	g.mu.Lock()
	g.applied[partition] = offset
	g.mu.Unlock()
	return nil
}

// openGlobal opens the store of spec: in memory, or in a LevelDB
// directory. A LevelDB store that was closed cleanly has a checkpoint (the
// last offset applied of every partition): it is read and removed (so that
// a crash before the next clean close rebuilds the store in full) and the
// store resumes from there. Without one the directory is emptied first.
// Replaying records the store already holds is harmless: the topic is
// applied in order, last write wins.
//
// partitions are the topic's partitions: a checkpoint that does not cover
// exactly these is not used.
func openGlobal(spec *globalSpec, dir string, inMemory bool, partitions []int32) (*globalStore, error) {
	opts := state.StoreOptions{InMemory: inMemory, NoCache: true}
	gs := &globalStore{spec: spec, after: map[int32]int64{}, applied: map[int32]int64{}}
	if !inMemory {
		gs.ckpt = filepath.Join(dir, "global-checkpoint")
		cps, err := state.ReadCheckpoint(gs.ckpt)
		if err == nil {
			for _, cp := range cps {
				if cp.Topic == spec.topic {
					gs.after[cp.Partition] = cp.Offset
				}
			}
		}
		fits := err == nil && len(gs.after) == len(partitions)
		for _, p := range partitions {
			if _, ok := gs.after[p]; !ok {
				fits = false
			}
		}
		if !fits {
			gs.after = map[int32]int64{}
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("streams: global store %s: %w", spec.name, err)
			}
		} else if err := state.RemoveCheckpoint(gs.ckpt); err != nil {
			return nil, fmt.Errorf("streams: global store %s: %w", spec.name, err)
		}
		opts.Dir = dir
	}
	st, err := state.OpenStore(context.Background(), opts)
	if err != nil {
		return nil, fmt.Errorf("streams: global store %s: %w", spec.name, err)
	}
	gs.store, gs.typed = st, spec.open(st.Backend())
	return gs, nil
}

// checkpoint writes the offsets applied to disk after the store's data
// (LevelDB stores only).
func (g *globalStore) checkpoint() error {
	if g.ckpt == "" {
		return nil
	}
	if f, ok := g.store.Local().(state.Flusher); ok {
		if err := f.Flush(); err != nil {
			return err
		}
	}
	g.mu.Lock()
	cps := make([]state.Checkpoint, 0, len(g.applied))
	for p, off := range g.applied {
		cps = append(cps, state.Checkpoint{Topic: g.spec.topic, Partition: p, Offset: off})
	}
	g.mu.Unlock()
	return state.WriteCheckpoint(g.ckpt, cps)
}

// globals are the app's global stores and the goroutines that keep them up
// to date; Run owns them.
type globals struct {
	a      *App
	stores map[string]*globalStore
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cons   sarama.Consumer
	// failed stops the app when a store cannot be written.
	failed func()
	// loaded: every store was loaded to the end of its topic, so their
	// offsets may be checkpointed at stop.
	loaded bool
}

// startGlobals opens the global stores, loads each from every partition of
// its topic up to the partition's end, and starts a goroutine per partition
// that applies later records until stop.
func (a *App) startGlobals(ctx context.Context, failed func()) (*globals, error) {
	g := &globals{a: a, stores: map[string]*globalStore{}, failed: failed}
	if len(a.top.globals) == 0 {
		return g, nil
	}
	type resume struct {
		gs        *globalStore
		partition int32
		next      int64
	}
	var resumes []resume
	for _, spec := range a.top.globals {
		ps, err := a.client.Partitions(spec.topic)
		if err != nil {
			g.stop()
			return nil, fmt.Errorf("streams: global table topic %s: %w", spec.topic, err)
		}
		gs, err := openGlobal(spec, filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID, "global", spec.name), a.cfg.InMemoryStores, ps)
		if err != nil {
			g.stop()
			return nil, err
		}
		g.stores[spec.name] = gs
		for _, p := range ps {
			from, ok := gs.after[p]
			if !ok {
				from = -1
			}
			r := &state.Restorer{Client: a.client, Topic: spec.topic, Partition: p, Logger: a.log}
			last, err := r.Restore(ctx, gs.store.Backend(), from)
			if err != nil {
				g.stop()
				return nil, fmt.Errorf("streams: load global table %s: %w", spec.name, err)
			}
			gs.applied[p] = last
			resumes = append(resumes, resume{gs, p, last + 1})
		}
	}
	g.loaded = true
	cons, err := sarama.NewConsumerFromClient(a.client)
	if err != nil {
		g.stop()
		return nil, fmt.Errorf("streams: global tables: %w", err)
	}
	g.cons = cons
	gctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	for _, r := range resumes {
		next := r.next
		if next == 0 {
			next = sarama.OffsetOldest
		}
		pc, err := cons.ConsumePartition(r.gs.spec.topic, r.partition, next)
		if err != nil {
			g.stop()
			return nil, fmt.Errorf("streams: global table %s: consume %s/%d from %d: %w", r.gs.spec.name, r.gs.spec.topic, r.partition, r.next, err)
		}
		g.wg.Add(1)
		go g.follow(gctx, r.gs, pc)
	}
	return g, nil
}

// follow applies a partition's records to a global store until ctx ends.
func (g *globals) follow(ctx context.Context, gs *globalStore, pc sarama.PartitionConsumer) {
	defer g.wg.Done()
	defer pc.AsyncClose()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-pc.Messages():
			if !ok {
				return
			}
			if err := gs.applyAt(m.Partition, m.Offset, m.Key, m.Value); err != nil {
				g.a.fail(fmt.Errorf("streams: global table %s: %w", gs.spec.name, err))
				g.failed()
				return
			}
		case err, ok := <-pc.Errors():
			if !ok {
				return
			}
			g.a.log.Warn("streams: global table consumer", "store", gs.spec.name, "err", err)
		}
	}
}

// stop ends the goroutines and closes the stores.
func (g *globals) stop() error {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
	var errs []error
	if g.cons != nil {
		errs = append(errs, g.cons.Close())
	}
	for _, gs := range g.stores {
		if g.loaded {
			if err := gs.checkpoint(); err != nil {
				errs = append(errs, fmt.Errorf("streams: checkpoint global store %s: %w", gs.spec.name, err))
			}
		}
		errs = append(errs, gs.store.Close())
	}
	if err := errors.Join(errs...); err != nil {
		g.a.log.Warn("streams: closing global stores", "app", g.a.cfg.ApplicationID, "err", err)
		return err
	}
	return nil
}

func (g *globals) get(name string) (any, error) {
	gs := g.stores[name]
	if gs == nil {
		return nil, fmt.Errorf("streams: no global store named %q", name)
	}
	return gs.typed, nil
}
