package state

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// LevelDBOptions tunes a LevelDB backend. The zero value is a good default.
type LevelDBOptions struct {
	// WriteBufferBytes is the memtable size (goleveldb's default is 4 MiB).
	WriteBufferBytes int
	// BlockCacheBytes is the block cache size (goleveldb's default is 8 MiB).
	BlockCacheBytes int
	// Sync makes every write wait for fsync. Stores are rebuilt from their
	// changelog, so the default is false.
	Sync bool
}

// LevelDB is the persistent Backend, over github.com/syndtr/goleveldb. Its
// directory is locked (a LOCK file with flock) while it is open, so a second
// open, from this process or another, fails with ErrLocked.
//
// Iterators read a consistent snapshot taken when they were created.
type LevelDB struct {
	db  *leveldb.DB
	dir string
	wo  *opt.WriteOptions
	// mu serialises PutIfAbsent with the other writes, so that the check
	// and the write are one step for readers of the same key.
	mu     sync.Mutex
	closed bool
}

// OpenLevelDB opens (creating if needed) the LevelDB store in dir.
func OpenLevelDB(dir string, opts LevelDBOptions) (*LevelDB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: create store dir: %w", err)
	}
	o := &opt.Options{
		WriteBuffer:        opts.WriteBufferBytes,
		BlockCacheCapacity: opts.BlockCacheBytes,
	}
	db, err := leveldb.OpenFile(dir, o)
	if err != nil {
		if isLockError(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
		}
		return nil, fmt.Errorf("state: open leveldb %s: %w", dir, err)
	}
	return &LevelDB{db: db, dir: dir, wo: &opt.WriteOptions{Sync: opts.Sync}}, nil
}

func isLockError(err error) bool {
	return errors.Is(err, storage.ErrLocked) ||
		errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN)
}

// Dir is the directory the store lives in.
func (s *LevelDB) Dir() string { return s.dir }

// DB gives the underlying goleveldb handle, for tools and benchmarks.
func (s *LevelDB) DB() *leveldb.DB { return s.db }

func wrapLevelDBErr(err error) error {
	if errors.Is(err, leveldb.ErrClosed) {
		return ErrClosed
	}
	return err
}

func (s *LevelDB) Get(key []byte) ([]byte, bool, error) {
	v, err := s.db.Get(key, nil)
	if err == leveldb.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrapLevelDBErr(err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

func (s *LevelDB) Put(key, value []byte) error {
	s.mu.Lock()
	err := s.db.Put(key, value, s.wo)
	s.mu.Unlock()
	return wrapLevelDBErr(err)
}

func (s *LevelDB) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, found, err := s.Get(key)
	if err != nil || found {
		return old, found, err
	}
	return nil, false, wrapLevelDBErr(s.db.Put(key, value, s.wo))
}

func (s *LevelDB) Delete(key []byte) error {
	s.mu.Lock()
	err := s.db.Delete(key, s.wo)
	s.mu.Unlock()
	return wrapLevelDBErr(err)
}

func (s *LevelDB) Range(from, to []byte) Iterator {
	return &levelIter{it: s.db.NewIterator(&util.Range{Start: from, Limit: to}, nil)}
}

func (s *LevelDB) Prefix(prefix []byte) Iterator {
	return &levelIter{it: s.db.NewIterator(util.BytesPrefix(prefix), nil)}
}

// exactCountBelow is the on-disk size under which ApproximateCount counts
// keys one by one instead of extrapolating.
const exactCountBelow = 32 << 20

// ApproximateCount counts keys exactly while the store's tables are small
// (under 32 MiB); above that it extrapolates from the tables' size and the
// average entry size of a sample of keys, which overcounts overwritten and
// deleted keys not yet compacted.
func (s *LevelDB) ApproximateCount() (int64, error) {
	sizes, err := s.db.SizeOf([]util.Range{{}})
	if err != nil {
		return 0, wrapLevelDBErr(err)
	}
	onDisk := sizes.Sum()
	it := s.db.NewIterator(nil, nil)
	defer it.Release()
	var n, bytes int64
	for it.Next() {
		n++
		bytes += int64(len(it.Key()) + len(it.Value()))
		if onDisk >= exactCountBelow && n == 10000 {
			// Entries in tables cost about their bytes plus ~8 of overhead.
			return onDisk / (bytes/n + 8), nil
		}
	}
	return n, wrapLevelDBErr(it.Error())
}

// levelBatch adapts leveldb.Batch.
type levelBatch struct{ b leveldb.Batch }

func (b *levelBatch) Put(key, value []byte) { b.b.Put(key, value) }
func (b *levelBatch) Delete(key []byte)     { b.b.Delete(key) }
func (b *levelBatch) Len() int              { return b.b.Len() }
func (b *levelBatch) Size() int             { return len(b.b.Dump()) }
func (b *levelBatch) Reset()                { b.b.Reset() }
func (b *levelBatch) Replay(r BatchReplay) error {
	return b.b.Replay(r)
}

func (s *LevelDB) NewBatch() Batch { return &levelBatch{} }

func (s *LevelDB) Write(b Batch) error {
	lb, ok := b.(*levelBatch)
	if !ok {
		// A batch from another backend: copy it over.
		lb = &levelBatch{}
		if err := b.Replay(&lb.b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	err := s.db.Write(&lb.b, s.wo)
	s.mu.Unlock()
	return wrapLevelDBErr(err)
}

// Flush makes every write so far durable before it returns: goleveldb
// writes its memtable to a table file and records the table in its
// manifest, fsyncing both, as Kafka Streams flushes RocksDB's memtables
// before it writes a checkpoint. Without it, writes since the last fsync of
// LevelDB's journal live only in the page cache: a process crash keeps them,
// a power loss may not, and a checkpoint written after them would then
// claim state the store no longer has. With nothing written since the last
// flush it costs next to nothing.
func (s *LevelDB) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, err := s.db.OpenTransaction() // flushes the memtable, waiting for the table
	if err != nil {
		return fmt.Errorf("state: flush leveldb %s: %w", s.dir, wrapLevelDBErr(err))
	}
	if err := tr.Commit(); err != nil {
		tr.Discard()
		return fmt.Errorf("state: flush leveldb %s: %w", s.dir, wrapLevelDBErr(err))
	}
	return nil
}

// Flusher is a Backend whose writes can be made durable on demand; Store
// flushes it on every Commit before writing the checkpoint.
type Flusher interface {
	Flush() error
}

func (s *LevelDB) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

type levelIter struct {
	it iterator.Iterator
}

func (i *levelIter) Next() bool    { return i.it.Next() }
func (i *levelIter) Key() []byte   { return i.it.Key() }
func (i *levelIter) Value() []byte { return i.it.Value() }
func (i *levelIter) Err() error    { return wrapLevelDBErr(i.it.Error()) }
func (i *levelIter) Close() error {
	err := i.Err()
	i.it.Release()
	return err
}
