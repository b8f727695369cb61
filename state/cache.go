package state

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb/comparer"
	"github.com/syndtr/goleveldb/leveldb/memdb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// CacheOptions configures a Cache.
type CacheOptions struct {
	// MaxBytes bounds the keys and values held between flushes; when a
	// write takes the cache over it, the cache flushes everything. Zero
	// means 10 MiB.
	MaxBytes int
}

// Cache is a write cache in front of a Backend (usually a Logged one). It
// holds the latest write of each key until Flush, which the owner calls on
// commit, so a key updated many times between commits reaches the backend,
// and its changelog, once. Saved counts the writes it absorbed.
//
// Reads see the cache's writes: Get looks in the cache first and scans merge
// the cache with the backend. Like its backend, a Cache is safe for one
// writer and many readers.
type Cache struct {
	inner    Backend
	maxBytes int

	mu    sync.Mutex // guards the following
	dirty map[string]cacheEntry
	// keys holds the keys of dirty in order (a skip list, values unused),
	// so that a range scan visits only the cached keys in its range.
	keys  *memdb.DB
	bytes int

	saved   atomic.Int64
	flushed atomic.Int64
}

type cacheEntry struct {
	value   []byte
	deleted bool
}

// NewCache returns a cache in front of inner.
func NewCache(inner Backend, opts CacheOptions) *Cache {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	return &Cache{inner: inner, maxBytes: opts.MaxBytes, dirty: make(map[string]cacheEntry), keys: memdb.New(comparer.DefaultComparer, 0)}
}

// Inner is the backend behind the cache.
func (c *Cache) Inner() Backend { return c.inner }

// Saved is the number of writes the cache absorbed because a later write to
// the same key replaced them before a flush: each is a changelog record not
// sent.
func (c *Cache) Saved() int64 { return c.saved.Load() }

// Flushed is the number of writes the cache has passed to its backend.
func (c *Cache) Flushed() int64 { return c.flushed.Load() }

// setLocked records a write and reports whether the cache is now over its
// limit. REQUIRES: c.mu held.
func (c *Cache) setLocked(key []byte, e cacheEntry) bool {
	if old, ok := c.dirty[string(key)]; ok {
		c.saved.Add(1)
		c.bytes -= len(key) + len(old.value)
	} else {
		c.keys.Put(key, nil)
	}
	if !e.deleted {
		e.value = bytes.Clone(e.value)
		if e.value == nil {
			e.value = []byte{}
		}
	}
	c.dirty[string(key)] = e
	c.bytes += len(key) + len(e.value)
	return c.bytes > c.maxBytes
}

func (c *Cache) Get(key []byte) ([]byte, bool, error) {
	c.mu.Lock()
	e, ok := c.dirty[string(key)]
	c.mu.Unlock()
	if ok {
		if e.deleted {
			return nil, false, nil
		}
		return bytes.Clone(e.value), true, nil
	}
	return c.inner.Get(key)
}

func (c *Cache) Put(key, value []byte) error {
	c.mu.Lock()
	full := c.setLocked(key, cacheEntry{value: value})
	c.mu.Unlock()
	if full {
		return c.Flush()
	}
	return nil
}

func (c *Cache) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	c.mu.Lock()
	e, ok := c.dirty[string(key)]
	c.mu.Unlock()
	if ok && !e.deleted {
		return bytes.Clone(e.value), true, nil
	}
	if !ok {
		old, found, err := c.inner.Get(key)
		if err != nil || found {
			return old, found, err
		}
	}
	return nil, false, c.Put(key, value)
}

func (c *Cache) Delete(key []byte) error {
	c.mu.Lock()
	full := c.setLocked(key, cacheEntry{deleted: true})
	c.mu.Unlock()
	if full {
		return c.Flush()
	}
	return nil
}

func (c *Cache) NewBatch() Batch { return &opBatch{} }

type cacheReplay struct {
	c    *Cache
	full bool
}

func (r *cacheReplay) Put(key, value []byte) {
	r.full = r.c.setLocked(key, cacheEntry{value: value}) || r.full
}

func (r *cacheReplay) Delete(key []byte) {
	r.full = r.c.setLocked(key, cacheEntry{deleted: true}) || r.full
}

func (c *Cache) Write(b Batch) error {
	r := &cacheReplay{c: c}
	c.mu.Lock()
	err := b.Replay(r)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if r.full {
		return c.Flush()
	}
	return nil
}

// Flush writes the cached writes to the backend in one batch, in key order,
// and empties the cache.
func (c *Cache) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 {
		return nil
	}
	b := c.inner.NewBatch()
	it := c.keys.NewIterator(nil)
	for it.Next() {
		k := it.Key()
		if e := c.dirty[string(k)]; e.deleted {
			b.Delete(k)
		} else {
			b.Put(k, e.value)
		}
	}
	it.Release()
	if err := c.inner.Write(b); err != nil {
		return err
	}
	c.flushed.Add(int64(len(c.dirty)))
	clear(c.dirty)
	c.keys.Reset()
	c.bytes = 0
	return nil
}

// ApproximateCount is the backend's count plus the cached puts, an upper
// bound until the next flush.
func (c *Cache) ApproximateCount() (int64, error) {
	n, err := c.inner.ApproximateCount()
	c.mu.Lock()
	for _, e := range c.dirty {
		if !e.deleted {
			n++
		}
	}
	c.mu.Unlock()
	return n, err
}

// Close drops unflushed writes and closes the backend: call Flush (through
// the owner's commit) first to keep them.
func (c *Cache) Close() error {
	c.mu.Lock()
	clear(c.dirty)
	c.keys.Reset()
	c.bytes = 0
	c.mu.Unlock()
	return c.inner.Close()
}

func (c *Cache) Range(from, to []byte) Iterator {
	c.mu.Lock()
	var snap []cacheKV
	it := c.keys.NewIterator(&util.Range{Start: from, Limit: to})
	for it.Next() {
		k := it.Key()
		snap = append(snap, cacheKV{bytes.Clone(k), c.dirty[string(k)]})
	}
	it.Release()
	c.mu.Unlock()
	return &mergeIter{inner: c.inner.Range(from, to), cached: snap, innerOK: -1}
}

func (c *Cache) Prefix(prefix []byte) Iterator {
	return c.Range(prefix, prefixEnd(prefix))
}

type cacheKV struct {
	key []byte
	e   cacheEntry
}

// mergeIter merges a sorted snapshot of cached writes over a backend
// iterator: a cached key hides the backend's entry, a cached delete hides it
// altogether.
type mergeIter struct {
	inner   Iterator
	cached  []cacheKV
	innerOK int // -1: not advanced yet; 0: exhausted; 1: positioned
	k, v    []byte
}

func (m *mergeIter) Next() bool {
	if m.innerOK < 0 {
		m.advanceInner()
	}
	for {
		haveC := len(m.cached) > 0
		haveI := m.innerOK == 1
		switch {
		case !haveC && !haveI:
			m.k, m.v = nil, nil
			return false
		case haveC && haveI:
			cmp := bytes.Compare(m.cached[0].key, m.inner.Key())
			if cmp > 0 {
				m.k, m.v = m.inner.Key(), m.inner.Value()
				m.advanceInnerLater()
				return true
			}
			if cmp == 0 {
				m.advanceInner()
			}
		case haveI:
			m.k, m.v = m.inner.Key(), m.inner.Value()
			m.advanceInnerLater()
			return true
		}
		c := m.cached[0]
		m.cached = m.cached[1:]
		if !c.e.deleted {
			m.k, m.v = c.key, c.e.value
			return true
		}
	}
}

// advanceInnerLater marks the inner iterator to be advanced on the next
// call, so that Key and Value stay valid until then.
func (m *mergeIter) advanceInnerLater() { m.innerOK = -1 }

func (m *mergeIter) advanceInner() {
	if m.inner.Next() {
		m.innerOK = 1
	} else {
		m.innerOK = 0
	}
}

func (m *mergeIter) Key() []byte   { return m.k }
func (m *mergeIter) Value() []byte { return m.v }
func (m *mergeIter) Err() error    { return m.inner.Err() }
func (m *mergeIter) Close() error  { return m.inner.Close() }
