package broker

import (
	"math"
	"sync"
	"time"
)

// Fetch sessions (KIP-227) let a consumer send only the partitions whose
// fetch position changed, and receive only the partitions with something
// new. A request's sessionEpoch says what it wants:
//
//	-1  no session: a full fetch (and close sessionID if it is set)
//	 0  open a new session with the request's partitions (full fetch)
//	>0  continue session sessionID; the epoch must be the one expected
//
// franz-go and librdkafka use them; sarama does not.
const (
	finalEpoch   = -1
	initialEpoch = 0
)

// sessionPart is a partition a session fetches, and what the consumer was
// last told about it, so an incremental response can leave it out when
// nothing changed.
type sessionPart struct {
	key         fetchKey
	topicID     topicID
	fetchOffset int64
	maxBytes    int32
	// last sent values; -1 forces the partition into the next response.
	lastHW, lastStart int64
}

type fetchKey struct {
	topic     string
	partition int32
}

// fetchSession is one consumer's session; mu guards all of it (a session
// could be used from two connections, although clients don't).
type fetchSession struct {
	mu       sync.Mutex
	id       int32
	epoch    int32 // epoch the next request must carry
	parts    []*sessionPart
	index    map[fetchKey]*sessionPart
	lastUsed time.Time
}

func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

func (s *fetchSession) upsert(sp sessionPart) {
	if old, ok := s.index[sp.key]; ok {
		old.fetchOffset, old.maxBytes, old.topicID = sp.fetchOffset, sp.maxBytes, sp.topicID
		return
	}
	sp.lastHW, sp.lastStart = -1, -1
	p := &sp
	s.index[sp.key] = p
	s.parts = append(s.parts, p)
}

func (s *fetchSession) forget(key fetchKey) {
	if _, ok := s.index[key]; !ok {
		return
	}
	delete(s.index, key)
	for i, p := range s.parts {
		if p.key == key {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}

// fetchSessions is the broker's bounded session cache. When it is full, the
// least recently used session is evicted; its consumer gets
// FETCH_SESSION_ID_NOT_FOUND and starts a new one.
type fetchSessions struct {
	mu     sync.Mutex
	slots  int
	byID   map[int32]*fetchSession
	nextID int32
}

func newFetchSessions(slots int) *fetchSessions {
	return &fetchSessions{slots: slots, byID: make(map[int32]*fetchSession), nextID: 1}
}

// create opens a session, or returns nil when sessions are disabled.
func (fs *fetchSessions) create() *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.slots <= 0 {
		return nil
	}
	if len(fs.byID) >= fs.slots {
		var oldest *fetchSession
		for _, s := range fs.byID {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(fs.byID, oldest.id)
	}
	for fs.byID[fs.nextID] != nil || fs.nextID == 0 {
		fs.nextID = nextEpoch(fs.nextID)
	}
	s := &fetchSession{
		id:       fs.nextID,
		epoch:    initialEpoch, // the request that creates it moves it on to 1
		index:    make(map[fetchKey]*sessionPart),
		lastUsed: time.Now(),
	}
	fs.nextID = nextEpoch(fs.nextID)
	fs.byID[s.id] = s
	return s
}

func (fs *fetchSessions) get(id int32) *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.byID[id]
	if s != nil {
		s.lastUsed = time.Now()
	}
	return s
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	delete(fs.byID, id)
	fs.mu.Unlock()
}

// forgetTopic drops a deleted topic from every session, so that a topic
// re-created with the same name starts from a fresh fetch state.
func (fs *fetchSessions) forgetTopic(name string) {
	fs.mu.Lock()
	sessions := make([]*fetchSession, 0, len(fs.byID))
	for _, s := range fs.byID {
		sessions = append(sessions, s)
	}
	fs.mu.Unlock()
	for _, s := range sessions {
		s.mu.Lock()
		for _, p := range append([]*sessionPart(nil), s.parts...) {
			if p.key.topic == name {
				p.lastHW, p.lastStart = -1, -1
			}
		}
		s.mu.Unlock()
	}
}
