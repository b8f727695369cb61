package console

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// throughput keeps the records/s of every topic, computed from the sums of
// its partitions' end offsets sampled periodically, for the last history.
type throughput struct {
	mu      sync.Mutex
	history time.Duration
	lastAt  time.Time
	last    map[string]int64 // sum of end offsets per topic at lastAt
	points  []ratePoint      // oldest first
	lastErr string           // why the last sample failed, "" if it did not
}

// ratePoint is the records/s of each topic between two samples, at the
// time of the later one.
type ratePoint struct {
	At    time.Time
	Rates map[string]float64
}

func newThroughput(history time.Duration) *throughput {
	return &throughput{history: history}
}

// add records the end offsets seen at now. A topic's rate needs two
// samples; a topic whose offsets went down (deleted and created again) has
// no rate for that interval.
func (t *throughput) add(now time.Time, ends map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = ""
	if t.last != nil {
		dt := now.Sub(t.lastAt).Seconds()
		if dt > 0 {
			p := ratePoint{At: now, Rates: map[string]float64{}}
			for topic, end := range ends {
				if prev, ok := t.last[topic]; ok && end >= prev {
					p.Rates[topic] = float64(end-prev) / dt
				}
			}
			t.points = append(t.points, p)
		}
	}
	t.last, t.lastAt = ends, now
	cut := 0
	for cut < len(t.points) && now.Sub(t.points[cut].At) > t.history {
		cut++
	}
	t.points = append(t.points[:0], t.points[cut:]...)
}

func (t *throughput) failed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = err.Error()
}

// latest is the rate of every topic in the newest point.
func (t *throughput) latest() map[string]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.points) == 0 {
		return nil
	}
	return t.points[len(t.points)-1].Rates
}

// snapshot copies the points.
func (t *throughput) snapshot() ([]ratePoint, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]ratePoint(nil), t.points...), t.lastErr
}

// sample lists the end offsets of every topic every SampleInterval until
// ctx is done.
func (c *Console) sample(ctx context.Context) {
	tick := time.NewTicker(c.cfg.SampleInterval)
	defer tick.Stop()
	// Failures are logged once they last three samples: a blip, or a
	// cluster that a program checks with Ping right after New, is no news.
	failures := 0
	for {
		err := c.sampleOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.tp.failed(c.reachErr(ctx, err))
			if failures++; failures == 3 {
				c.log.Warn("cannot sample topic offsets; throughput unknown until the cluster answers", "err", err)
			}
		case failures > 0:
			if failures >= 3 {
				c.log.Info("sampling topic offsets again")
			}
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *Console) sampleOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	ends, err := c.adm.ListEndOffsets(ctx)
	if err != nil {
		return err
	}
	sums := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Partition >= 0 {
			sums[o.Topic] += o.Offset
		}
	})
	c.tp.add(time.Now(), sums)
	return nil
}

// series is one topic's rate history: [unix ms, records/s] pairs.
type series struct {
	Topic  string       `json:"topic"`
	Points [][2]float64 `json:"points"`
}

// throughputAnswer is GET api/throughput.
type throughputAnswer struct {
	SampleIntervalMs int64    `json:"sample_interval_ms"`
	HistoryMs        int64    `json:"history_ms"`
	Total            series   `json:"total"`
	Topics           []series `json:"topics"`
	Error            string   `json:"error,omitempty"` // why the latest sample failed
}

func (c *Console) throughputAPI(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	only := q.Get("topic")
	internal, _ := strconv.ParseBool(q.Get("internal"))
	points, lastErr := c.tp.snapshot()
	ans := throughputAnswer{
		SampleIntervalMs: c.cfg.SampleInterval.Milliseconds(),
		HistoryMs:        c.cfg.History.Milliseconds(),
		Total:            series{Topic: "", Points: [][2]float64{}},
		Topics:           []series{},
		Error:            lastErr,
	}
	byTopic := map[string]*series{}
	for _, p := range points {
		ms := float64(p.At.UnixMilli())
		var total float64
		for topic, rate := range p.Rates {
			if only != "" && topic != only || only == "" && !internal && strings.HasPrefix(topic, "__") {
				continue
			}
			total += rate
			s := byTopic[topic]
			if s == nil {
				s = &series{Topic: topic}
				byTopic[topic] = s
			}
			s.Points = append(s.Points, [2]float64{ms, rate})
		}
		ans.Total.Points = append(ans.Total.Points, [2]float64{ms, total})
	}
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		ans.Topics = append(ans.Topics, *byTopic[topic])
	}
	return ans, nil
}
