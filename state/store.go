package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
)

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// Dir is the store's directory: LevelDB data in Dir/leveldb, the
	// checkpoint in Dir/checkpoint. Unused when InMemory.
	Dir string
	// InMemory selects the memory backend; it is restored in full on every
	// open.
	InMemory bool
	LevelDB  LevelDBOptions

	// Topic and Partition name the changelog. With no Topic the store is
	// local only: no checkpoint, no restoration, nothing logged.
	Topic     string
	Partition int32
	// Writer receives the store's writes; it is the owner's (see
	// ChangelogWriter) and OpenStore does not close it.
	Writer ChangelogWriter
	// Restorer, if set, replays the changelog on open. Its Topic and
	// Partition must be the store's.
	Restorer *Restorer

	// NoCache leaves out the write cache.
	NoCache bool
	Cache   CacheOptions

	Logger *slog.Logger
}

// Store is a backend with its lifecycle: a locked directory, restoration
// from the changelog on open, a write cache, changelogging, and a checkpoint
// on every commit.
//
// The contract that keeps a store equal to its changelog across crashes:
// OpenStore reads the checkpoint and deletes it before anything else, and
// the first write to the local store after a commit deletes the commit's
// checkpoint before it writes; when
// there was none (first start, a crash since the last open, a wiped or
// corrupt checkpoint) it empties the local store and replays the whole
// changelog, otherwise only the records after the checkpoint. Commit flushes
// the cache, waits for the changelog, makes the local store durable
// (Flusher), then writes a new checkpoint. So a checkpoint exists only while the local store holds nothing that is not in
// the changelog up to the checkpoint's offset.
type Store struct {
	opts     StoreOptions
	log      *slog.Logger
	local    Backend
	top      Backend
	cache    *Cache
	position int64 // last changelog offset the local store reflects
	ckpt     string

	mu      sync.Mutex // guards the following
	hasCkpt bool       // a checkpoint file exists
}

// guarded is the local backend as the upper layers see it: the first write
// after a commit removes the checkpoint, so that a crash before the next
// commit leads to a full restoration.
type guarded struct {
	Backend
	s *Store
}

func (g *guarded) Put(key, value []byte) error {
	if err := g.s.dropCheckpoint(); err != nil {
		return err
	}
	return g.Backend.Put(key, value)
}

func (g *guarded) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	if err := g.s.dropCheckpoint(); err != nil {
		return nil, false, err
	}
	return g.Backend.PutIfAbsent(key, value)
}

func (g *guarded) Delete(key []byte) error {
	if err := g.s.dropCheckpoint(); err != nil {
		return err
	}
	return g.Backend.Delete(key)
}

func (g *guarded) Write(b Batch) error {
	if err := g.s.dropCheckpoint(); err != nil {
		return err
	}
	return g.Backend.Write(b)
}

// dropCheckpoint removes the checkpoint file if there is one.
func (s *Store) dropCheckpoint() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCkpt {
		return nil
	}
	if err := RemoveCheckpoint(s.ckpt); err != nil {
		return err
	}
	s.hasCkpt = false
	return nil
}

// OpenStore opens the store described by opts, restoring it first when it
// has a Restorer.
func OpenStore(ctx context.Context, opts StoreOptions) (*Store, error) {
	s := &Store{opts: opts, log: opts.Logger, position: -1}
	if s.log == nil {
		s.log = slog.Default()
	}
	if opts.InMemory {
		s.local = NewMemory()
	} else {
		if opts.Dir == "" {
			return nil, errors.New("state: StoreOptions.Dir is empty")
		}
		db, err := OpenLevelDB(filepath.Join(opts.Dir, "leveldb"), opts.LevelDB)
		if err != nil {
			return nil, err
		}
		s.local = db
		s.ckpt = filepath.Join(opts.Dir, "checkpoint")
	}
	if err := s.recover(ctx); err != nil {
		s.local.Close()
		return nil, err
	}
	s.top = &guarded{Backend: s.local, s: s}
	if opts.Writer != nil {
		s.top = NewLogged(s.top, opts.Writer)
	}
	if !opts.NoCache {
		s.cache = NewCache(s.top, opts.Cache)
		s.top = s.cache
	}
	return s, nil
}

func (s *Store) recover(ctx context.Context) error {
	if s.opts.Topic == "" {
		return nil
	}
	checkpointed := false
	if s.ckpt != "" {
		s.position, checkpointed = LoadCheckpoint(s.ckpt, s.opts.Topic, s.opts.Partition, s.log)
		// From here until the next commit, the local store may run ahead
		// of the changelog: a crash must not find a checkpoint.
		if err := RemoveCheckpoint(s.ckpt); err != nil {
			return err
		}
	}
	if !checkpointed {
		s.position = -1
		n, err := wipe(s.local)
		if err != nil {
			return fmt.Errorf("state: wipe store without checkpoint: %w", err)
		}
		if n > 0 {
			s.log.Info("state: no valid checkpoint; emptied the local store for a full restoration",
				"dir", s.opts.Dir, "keys", n)
		}
	}
	if s.opts.Restorer == nil {
		return nil
	}
	pos, err := s.opts.Restorer.Restore(ctx, s.local, s.position)
	if err != nil {
		return err
	}
	s.position = pos
	return nil
}

// wipe deletes every key of b and returns how many there were.
func wipe(b Backend) (int, error) {
	n := 0
	for {
		it := b.Range(nil, nil)
		batch := b.NewBatch()
		for batch.Len() < 100000 && it.Next() {
			batch.Delete(it.Key())
		}
		if err := it.Close(); err != nil {
			return n, err
		}
		if batch.Len() == 0 {
			return n, nil
		}
		n += batch.Len()
		if err := b.Write(batch); err != nil {
			return n, err
		}
	}
}

// Backend is the store's top layer (cache, log, local backend, as
// configured): give it to NewKeyValueStore, NewWindowStore or
// NewSessionStore.
func (s *Store) Backend() Backend { return s.top }

// Local is the local backend, below the cache and the log.
func (s *Store) Local() Backend { return s.local }

// Cache is the write cache, or nil with NoCache.
func (s *Store) Cache() *Cache { return s.cache }

// Position is the last changelog offset the local store reflects as of the
// last open or commit, or -1.
func (s *Store) Position() int64 { return s.position }

// Commit flushes the cache, waits until the changelog has every write,
// flushes the local store to disk, and records the changelog offset in the
// checkpoint file.
func (s *Store) Commit(ctx context.Context) error {
	if s.cache != nil {
		if err := s.cache.Flush(); err != nil {
			return err
		}
	}
	if s.opts.Writer != nil {
		off, err := s.opts.Writer.Flush(ctx)
		if err != nil {
			return err
		}
		if off > s.position {
			s.position = off
		}
	}
	if s.ckpt == "" || s.opts.Topic == "" {
		return nil
	}
	// The checkpoint claims the local store holds everything up to
	// position: make that true on disk first.
	if f, ok := s.local.(Flusher); ok {
		if err := f.Flush(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := WriteCheckpoint(s.ckpt, []Checkpoint{{Topic: s.opts.Topic, Partition: s.opts.Partition, Offset: s.position}})
	s.hasCkpt = err == nil
	return err
}

// Close closes the local backend and releases its directory. It does not
// commit: unflushed cached writes are dropped, and without a Commit since
// the last write the next open restores in full.
func (s *Store) Close() error {
	return s.local.Close()
}
