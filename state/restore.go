package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// RestoreProgress is what a Restorer reports while it works and once at the
// end (Done).
type RestoreProgress struct {
	Topic     string
	Partition int32
	// StartOffset is the first offset read; EndOffset is the partition's
	// end (high watermark) when restoration began: the restorer stops
	// there.
	StartOffset, EndOffset int64
	// Offset is the last offset applied so far, or StartOffset-1.
	Offset int64
	// Records and Bytes (keys plus values) applied so far.
	Records, Bytes int64
	Elapsed        time.Duration
	RecordsPerSec  float64
	BytesPerSec    float64
	// ETA estimates the time left, from the offsets left and the rate so
	// far; 0 when unknown or done.
	ETA  time.Duration
	Done bool
}

// Restorer rebuilds a store from its changelog topic partition: it reads
// from a given offset to the partition's end, as it was when restoration
// began, and applies the records to a Backend in large batches (a record
// with a nil value deletes its key).
type Restorer struct {
	// Client connects to the brokers; the Restorer does not close it.
	Client    sarama.Client
	Topic     string
	Partition int32
	// BatchBytes is the size at which a batch is written to the store.
	// Zero means 4 MiB. While one batch is written the next one fills.
	BatchBytes int
	// Progress, if set, is called every ProgressEvery (zero means one
	// second) and once at the end.
	Progress      func(RestoreProgress)
	ProgressEvery time.Duration
	// Logger gets the same progress at Info level; nil means slog.Default.
	Logger *slog.Logger
	// IdleTimeout ends restoration with an error when no record arrives
	// for that long before the end offset is reached. Zero means 30s.
	// (A changelog whose last offset is a transaction marker, which
	// consumers never see, ends this way: transactional changelogs are not
	// supported yet.)
	IdleTimeout time.Duration
}

// ErrRestoreStalled is returned when the changelog stops delivering records
// before the end offset (see Restorer.IdleTimeout).
var ErrRestoreStalled = errors.New("state: restoration stalled before the end of the changelog")

// Restore applies the changelog records after offset after (use -1 for the
// whole changelog) to dst and returns the last offset applied (after, if
// there was nothing to apply). Restore writes to dst directly: give it the
// backend below any Logged or Cache layer, so that replayed records are not
// logged again.
func (r *Restorer) Restore(ctx context.Context, dst Backend, after int64) (int64, error) {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	batchBytes := r.BatchBytes
	if batchBytes <= 0 {
		batchBytes = 4 << 20
	}
	every := r.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	idleTimeout := r.IdleTimeout
	if idleTimeout <= 0 {
		idleTimeout = 30 * time.Second
	}
	oldest, err := r.Client.GetOffset(r.Topic, r.Partition, sarama.OffsetOldest)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: oldest offset: %w", r.Topic, r.Partition, err)
	}
	end, err := r.Client.GetOffset(r.Topic, r.Partition, sarama.OffsetNewest)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: end offset: %w", r.Topic, r.Partition, err)
	}
	start := after + 1
	if start < oldest {
		if after >= 0 {
			log.Warn("state: changelog starts after the checkpoint; records in between were deleted by retention",
				"topic", r.Topic, "partition", r.Partition, "checkpoint", after, "oldest", oldest)
		}
		start = oldest
	}
	p := RestoreProgress{Topic: r.Topic, Partition: r.Partition, StartOffset: start, EndOffset: end, Offset: start - 1}
	began := time.Now()
	report := func(done bool) {
		p.Elapsed = time.Since(began)
		p.Done = done
		if s := p.Elapsed.Seconds(); s > 0 {
			p.RecordsPerSec = float64(p.Records) / s
			p.BytesPerSec = float64(p.Bytes) / s
		}
		p.ETA = 0
		if done := p.Offset - start + 1; !p.Done && done > 0 {
			left := end - 1 - p.Offset
			p.ETA = time.Duration(float64(p.Elapsed) * float64(left) / float64(done))
		}
		if r.Progress != nil {
			r.Progress(p)
		}
		msg := "state: restoring"
		if p.Done {
			msg = "state: restored"
		}
		log.Info(msg, "topic", r.Topic, "partition", r.Partition, "offset", p.Offset, "end", end,
			"records", p.Records, "bytes", p.Bytes, "records_per_sec", int64(p.RecordsPerSec),
			"mb_per_sec", fmt.Sprintf("%.1f", p.BytesPerSec/1e6), "eta", p.ETA.Round(time.Second))
	}
	if start >= end {
		report(true)
		return after, nil
	}

	consumer, err := sarama.NewConsumerFromClient(r.Client)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d: %w", r.Topic, r.Partition, err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(r.Topic, r.Partition, start)
	if err != nil {
		return after, fmt.Errorf("state: restore %s/%d from %d: %w", r.Topic, r.Partition, start, err)
	}
	defer pc.Close()

	// Batches are filled here and written by a second goroutine, so that
	// reading the changelog and writing the store overlap.
	type filled struct {
		b    Batch
		last int64
	}
	free := make(chan Batch, 2)
	free <- dst.NewBatch()
	free <- dst.NewBatch()
	full := make(chan filled)
	writeErr := make(chan error, 1)
	var last int64 = after // written by the writer goroutine until it is done
	go func() {
		defer close(writeErr)
		for f := range full {
			if err := dst.Write(f.b); err != nil {
				writeErr <- fmt.Errorf("state: restore %s/%d: write: %w", r.Topic, r.Partition, err)
				for range full {
				}
				return
			}
			last = f.last
			f.b.Reset()
			free <- f.b
		}
	}()
	batch := <-free
	// finish hands over the last batch, waits for the writer and returns
	// its error.
	finish := func() error {
		if batch != nil && batch.Len() > 0 {
			full <- filled{batch, p.Offset}
		}
		batch = nil
		close(full)
		return <-writeErr
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	for p.Offset < end-1 {
		select {
		case <-ctx.Done():
			err := finish()
			return last, errors.Join(ctx.Err(), err)
		case err := <-pc.Errors():
			werr := finish()
			return last, errors.Join(fmt.Errorf("state: restore %s/%d: %w", r.Topic, r.Partition, err), werr)
		case <-ticker.C:
			report(false)
		case <-idle.C:
			err := finish()
			return last, errors.Join(fmt.Errorf("%w: %s/%d at offset %d of %d", ErrRestoreStalled, r.Topic, r.Partition, p.Offset, end), err)
		case m := <-pc.Messages():
			idle.Reset(idleTimeout)
			if m.Offset >= end {
				// Records appended after restoration began are the
				// owner's business; stop at the end we measured.
				p.Offset = end - 1
				break
			}
			if m.Value == nil {
				batch.Delete(m.Key)
			} else {
				batch.Put(m.Key, m.Value)
			}
			p.Records++
			p.Bytes += int64(len(m.Key) + len(m.Value))
			p.Offset = m.Offset
			if batch.Size() >= batchBytes {
				select {
				case full <- filled{batch, p.Offset}:
					batch = <-free
				case err := <-writeErr:
					batch = nil
					close(full)
					return last, err
				}
			}
		}
	}
	if err := finish(); err != nil {
		return last, err
	}
	report(true)
	return p.Offset, nil
}

// NewRestoreConfig returns a sarama configuration suited to a Restorer's
// client: large fetches and a deep channel buffer, since restoration reads
// one partition from one offset to its end as fast as it can.
func NewRestoreConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Consumer.Fetch.Default = 16 << 20
	c.Consumer.Fetch.Max = 64 << 20
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.ChannelBufferSize = 8192
	c.Consumer.Return.Errors = true
	return c
}
