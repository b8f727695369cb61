package broker

import (
	"context"
	"errors"
	"time"

	"github.com/eddy-streams/eddy/broker/storage"
)

// The cleaner is the broker's one background goroutine for log lifecycle, started by Start
// and stopped by Close (it is counted in Broker.wg). Every log.retention.check.interval.ms it
// applies retention to every partition (retention.ms and retention.bytes for topics whose
// cleanup.policy includes delete; segments below the log start offset for all); every
// log.cleaner.backoff.ms it runs a compaction pass over every partition whose cleanup.policy
// includes compact and whose dirty ratio reaches min.cleanable.dirty.ratio. A wake-up
// (DeleteRecords, AlterConfigs) runs both soon. Partitions are cleaned one at a time, so the
// cleaner takes one core at most; appends and fetches go on while it works.

// cleaner holds the cleaner's wake-up channel.
type cleaner struct {
	wake chan struct{} // buffer 1
}

func newCleaner() *cleaner { return &cleaner{wake: make(chan struct{}, 1)} }

// poke asks the cleaner to run soon; it never blocks.
func (c *cleaner) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// runCleaner is the cleaner goroutine.
func (b *Broker) runCleaner() {
	defer b.wg.Done()
	retention := time.NewTicker(b.cfg.RetentionCheckInterval)
	defer retention.Stop()
	compaction := time.NewTicker(b.cfg.CleanerBackoff)
	defer compaction.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-retention.C:
			b.applyRetention()
		case <-compaction.C:
			b.compactAll()
		case <-b.cleaner.wake:
			b.applyRetention()
			b.compactAll()
		}
	}
}

// applyRetention runs retention over every partition once.
func (b *Broker) applyRetention() {
	for _, t := range b.topics.all() {
		lc := b.liveConfig(t)
		r := storage.Retention{Ms: -1, Bytes: -1}
		if lc.delete {
			r = storage.Retention{Ms: lc.retentionMs, Bytes: lc.retentionBytes}
		}
		for _, p := range b.topics.partitionsOf(t) {
			if b.ctx.Err() != nil {
				return
			}
			res, err := p.log.ApplyRetention(r)
			switch {
			case errors.Is(err, storage.ErrClosed): // topic deleted meanwhile
			case err != nil:
				b.log.Error("retention failed", "topic", t.name, "partition", p.index, "err", err)
			case res.Segments > 0:
				b.log.Info("retention deleted segments", "topic", t.name, "partition", p.index,
					"segments", res.Segments, "bytes", res.Bytes, "log_start_offset", p.log.StartOffset())
			}
		}
	}
}

// compactAll runs one compaction pass over every compacted partition whose dirty ratio
// qualifies.
func (b *Broker) compactAll() {
	for _, t := range b.topics.all() {
		lc := b.liveConfig(t)
		if !lc.compact {
			continue
		}
		cfg := storage.CompactConfig{
			DeleteRetentionMs:  lc.deleteRetentionMs,
			MinCompactionLagMs: lc.minCompactionLagMs,
			MinCleanableRatio:  lc.minCleanableRatio,
			Stop:               b.ctx.Done(),
		}
		for _, p := range b.topics.partitionsOf(t) {
			if b.ctx.Err() != nil {
				return
			}
			cfg.UpTo = max(p.lastStableOffset(), 1)
			cfg.Aborted = p.isAborted
			cfg.BeforeClean = p.saveProducerState
			_, err := p.log.Compact(cfg)
			switch {
			case err == nil, errors.Is(err, storage.ErrClosed), errors.Is(err, context.Canceled):
			default:
				b.log.Error("compaction failed", "topic", t.name, "partition", p.index, "err", err)
			}
		}
	}
}

// cleanerHook is passed to every partition log as storage.Options.CleanerHook: nil, except in
// the compaction crash test's child process, which stops there to be killed.
var cleanerHook func(step string) error
