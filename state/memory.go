package state

import (
	"bytes"
	"math/rand/v2"
	"sync"
)

// Memory is the in-memory Backend: an ordered skip list behind a
// read-write lock. It has no directory and nothing to lock; its content is
// lost on Close and rebuilt from the changelog.
//
// Its iterators do not read a snapshot: they fetch entries in small chunks,
// each under the read lock, resuming after the last key they returned, so a
// write made during an iteration may or may not be seen, but keys are never
// returned twice or out of order, and the owner may write while iterating.
type Memory struct {
	mu     sync.RWMutex
	head   *memNode
	level  int
	count  int64
	closed bool
	rnd    *rand.Rand
}

const memMaxLevel = 24

type memNode struct {
	key, value []byte
	next       []*memNode
}

// NewMemory returns an empty in-memory backend.
func NewMemory() *Memory {
	return &Memory{
		head:  &memNode{next: make([]*memNode, memMaxLevel)},
		level: 1,
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// findLocked returns the first node with key >= key and fills prev, if not
// nil, with the rightmost node before it on each level.
// REQUIRES: m.mu held.
func (m *Memory) findLocked(key []byte, prev []*memNode) *memNode {
	x := m.head
	for lvl := m.level - 1; lvl >= 0; lvl-- {
		for n := x.next[lvl]; n != nil && bytes.Compare(n.key, key) < 0; n = x.next[lvl] {
			x = n
		}
		if prev != nil {
			prev[lvl] = x
		}
	}
	return x.next[0]
}

func (m *Memory) randomLevelLocked() int {
	lvl := 1
	for lvl < memMaxLevel && m.rnd.Uint32()&3 == 0 {
		lvl++
	}
	return lvl
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func (m *Memory) Get(key []byte) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	n := m.findLocked(key, nil)
	if n == nil || !bytes.Equal(n.key, key) {
		return nil, false, nil
	}
	return clone(n.value), true, nil
}

// putLocked stores key and value (copying both). REQUIRES: m.mu held for writing.
func (m *Memory) putLocked(key, value []byte) {
	var prev [memMaxLevel]*memNode
	n := m.findLocked(key, prev[:])
	if n != nil && bytes.Equal(n.key, key) {
		n.value = clone(value)
		return
	}
	lvl := m.randomLevelLocked()
	if lvl > m.level {
		for i := m.level; i < lvl; i++ {
			prev[i] = m.head
		}
		m.level = lvl
	}
	n = &memNode{key: clone(key), value: clone(value), next: make([]*memNode, lvl)}
	for i := 0; i < lvl; i++ {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
	m.count++
}

// deleteLocked removes key. REQUIRES: m.mu held for writing.
func (m *Memory) deleteLocked(key []byte) {
	var prev [memMaxLevel]*memNode
	n := m.findLocked(key, prev[:])
	if n == nil || !bytes.Equal(n.key, key) {
		return
	}
	for i := range n.next {
		prev[i].next[i] = n.next[i]
	}
	for m.level > 1 && m.head.next[m.level-1] == nil {
		m.level--
	}
	m.count--
}

func (m *Memory) Put(key, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.putLocked(key, value)
	return nil
}

func (m *Memory) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	if n := m.findLocked(key, nil); n != nil && bytes.Equal(n.key, key) {
		return clone(n.value), true, nil
	}
	m.putLocked(key, value)
	return nil, false, nil
}

func (m *Memory) Delete(key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.deleteLocked(key)
	return nil
}

func (m *Memory) Range(from, to []byte) Iterator {
	return &memIter{m: m, next: clone(from), to: to, first: true}
}

func (m *Memory) Prefix(prefix []byte) Iterator {
	return m.Range(prefix, prefixEnd(prefix))
}

// ApproximateCount is exact for the memory backend.
func (m *Memory) ApproximateCount() (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.count, nil
}

func (m *Memory) NewBatch() Batch { return &opBatch{} }

type memReplay struct{ m *Memory }

func (r memReplay) Put(key, value []byte) { r.m.putLocked(key, value) }
func (r memReplay) Delete(key []byte)     { r.m.deleteLocked(key) }

func (m *Memory) Write(b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return b.Replay(memReplay{m})
}

// Close drops the content. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.head = &memNode{next: make([]*memNode, memMaxLevel)}
	m.count = 0
	return nil
}

// memIterChunk is how many entries a memIter copies per lock acquisition.
const memIterChunk = 128

type memIter struct {
	m     *Memory
	next  []byte // where the next chunk starts
	to    []byte
	first bool // next is inclusive
	done  bool
	buf   []memNode
	pos   int
	err   error
}

func (it *memIter) fill() {
	it.buf, it.pos = it.buf[:0], 0
	it.m.mu.RLock()
	defer it.m.mu.RUnlock()
	if it.m.closed {
		it.err, it.done = ErrClosed, true
		return
	}
	n := it.m.findLocked(it.next, nil)
	if !it.first && n != nil && bytes.Equal(n.key, it.next) {
		n = n.next[0]
	}
	for ; n != nil && len(it.buf) < memIterChunk; n = n.next[0] {
		if it.to != nil && bytes.Compare(n.key, it.to) >= 0 {
			it.done = true
			break
		}
		// Keys and values are never modified in place (Put replaces the
		// value slice), so sharing them is safe.
		it.buf = append(it.buf, memNode{key: n.key, value: n.value})
	}
	if n == nil {
		it.done = true
	}
	if len(it.buf) > 0 {
		it.next, it.first = it.buf[len(it.buf)-1].key, false
	}
}

func (it *memIter) Next() bool {
	if it.pos+1 < len(it.buf) {
		it.pos++
		return true
	}
	if it.done {
		it.buf, it.pos = nil, 0
		return false
	}
	it.fill()
	return len(it.buf) > 0
}

func (it *memIter) Key() []byte   { return it.buf[it.pos].key }
func (it *memIter) Value() []byte { return it.buf[it.pos].value }
func (it *memIter) Err() error    { return it.err }
func (it *memIter) Close() error {
	it.done, it.buf = true, nil
	return it.err
}
