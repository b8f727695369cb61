package streams

import (
	"time"

	"github.com/IBM/sarama"
)

// Input buffering and record choice, as Kafka Streams' PartitionGroup and
// RecordQueue: each input partition of a task has a bounded queue filled
// by its claim's goroutine; the task's goroutine processes the head record
// with the smallest timestamp across its partitions, so that a task reading
// several topics sees their records in timestamp order even when it catches
// up on a backlog.

// fetchWait bounds how long a task waits for records a partition's high
// watermark says are on the broker (max.task.idle.ms 0) when none come:
// sarama does not tell its consumer's position, and a partition that ends
// with transaction markers has a high watermark no record reaches.
const fetchWait = 3 * time.Second

// partitionQueue buffers the records of one input partition of a task, in
// the chunks its claim's goroutine pushed (no copying as it grows). Its
// fields are guarded by the taskInput's mu.
type partitionQueue struct {
	tp     topicPartition
	ref    topicRef
	src    func(*rawRecord) error // the task's source for the topic
	prep   func(*rawRecord)       // the source's prepare function, or nil
	chunks [][]rawRecord          // chunks[0][head:], chunks[1:] are buffered
	head   int
	n      int                       // records buffered
	claim  sarama.ConsumerGroupClaim // nil until the claim's goroutine starts
	next   int64                     // offset after the last record buffered, -1 before the first
	start  int64                     // the claim's starting offset when known, else -1
	paused bool                      // fetching paused because the queue is full
	// emptySince is when the task found the queue empty with records
	// buffered in other partitions (zero when not waiting for it).
	emptySince time.Time
}

func (q *partitionQueue) len() int { return q.n }

// push appends a chunk of records; the queue keeps it.
func (q *partitionQueue) push(rs []rawRecord) {
	q.chunks = append(q.chunks, rs)
	q.n += len(rs)
	q.next = rs[len(rs)-1].offset + 1
	q.emptySince = time.Time{}
}

func (q *partitionQueue) peek() *rawRecord { return &q.chunks[0][q.head] }

// headTime is the time the head record is chosen by: as Kafka Streams'
// RecordQueue, a source with a timestamp extractor decodes the record when
// it reaches the head and orders it by the extracted timestamp.
func (q *partitionQueue) headTime() time.Time {
	r := q.peek()
	if q.prep != nil && !r.prepared {
		q.prep(r)
	}
	return r.orderTime()
}

func (q *partitionQueue) pop() rawRecord {
	c := q.chunks[0]
	r := c[q.head]
	c[q.head] = rawRecord{}
	q.head++
	q.n--
	if q.head == len(c) {
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		q.head = 0
		if len(q.chunks) == 0 {
			q.chunks = nil
		}
	}
	return r
}

// fetchable tells whether the broker has records of the partition that
// are not buffered yet (as far as the claim's high watermark tells).
func (q *partitionQueue) fetchable() bool {
	if q.claim == nil {
		return true // not started: unknown, so wait
	}
	pos := q.next
	if pos < 0 {
		pos = q.start
	}
	if pos < 0 {
		return true
	}
	return q.claim.HighWaterMarkOffset() > pos
}

// queued is a record chosen for processing, with its partition.
type queued struct {
	q *partitionQueue
	r rawRecord
}

// choose moves up to limit records into out, smallest timestamp first (the
// extracted timestamp for sources with an extractor; ties
// go to the partition listed first), and stops when a partition the task
// must wait for is empty. It returns how long to wait before trying again
// when it chose nothing but has records buffered (0: wait for records).
// idle is max.task.idle (negative: never wait for an empty partition).
// REQUIRES: the taskInput's mu held.
func choose(parts []*partitionQueue, out []queued, limit int, idle time.Duration, now time.Time) ([]queued, time.Duration) {
	for len(out) < limit {
		var best *partitionQueue
		var bestTime, waitUntil time.Time
		blocked := false
		for _, q := range parts {
			if q.len() > 0 {
				if ts := q.headTime(); best == nil || ts.Before(bestTime) {
					best, bestTime = q, ts
				}
				continue
			}
			if idle < 0 {
				continue
			}
			if q.emptySince.IsZero() {
				q.emptySince = now
			}
			bound := idle
			if q.fetchable() {
				bound = max(idle, fetchWait)
			}
			if until := q.emptySince.Add(bound); now.Before(until) {
				blocked = true
				if waitUntil.IsZero() || until.Before(waitUntil) {
					waitUntil = until
				}
			}
		}
		if best == nil {
			// Nothing buffered: nothing to wait for either.
			for _, q := range parts {
				q.emptySince = time.Time{}
			}
			return out, 0
		}
		if blocked {
			if len(out) > 0 {
				return out, 0
			}
			return out, waitUntil.Sub(now)
		}
		out = append(out, queued{best, best.pop()})
	}
	return out, 0
}
