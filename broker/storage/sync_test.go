package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// TestSyncToConcurrent has many goroutines append and wait for durability at once.
func TestSyncToConcurrent(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 16 << 10})
	defer l.Close()
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				res, err := l.Append(makeBatch(1+i%3, 100, byte(w)))
				if err != nil {
					errs <- err
					return
				}
				if err := l.SyncTo(context.Background(), res.LastOffset+1); err != nil {
					errs <- err
					return
				}
				if d := l.DurableOffset(); d <= res.LastOffset {
					errs <- errors.New("SyncTo returned before the offset was durable")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.DurableOffset() != l.EndOffset() {
		t.Fatalf("DurableOffset %d, EndOffset %d", l.DurableOffset(), l.EndOffset())
	}
	t.Logf("%d SyncTo calls, %d sync rounds", writers*each, l.syncs.Load())
	if l.syncs.Load() > writers*each {
		t.Fatalf("%d sync rounds for %d calls", l.syncs.Load(), writers*each)
	}
}

func TestSyncToErrors(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	appendT(t, l, makeBatch(2, 1, 1))
	if err := l.SyncTo(context.Background(), 10); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("SyncTo beyond end: %v", err)
	}
	if err := l.SyncTo(context.Background(), 0); err != nil {
		t.Fatal(err)
	}

	// A waiter gives up when its context ends while a sync runs.
	l.becomeLeader() // pretend a slow fsync is in progress
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.SyncTo(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SyncTo with expired context: %v", err)
	}
	done := make(chan error)
	go func() { done <- l.SyncTo(context.Background(), 2) }()
	time.Sleep(10 * time.Millisecond)
	l.finishSync(nil) // the "slow sync" ends without progress; the waiter must lead its own
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.DurableOffset() != 2 {
		t.Fatalf("DurableOffset %d", l.DurableOffset())
	}
}

// TestSyncFailureSticky checks that after a failed fsync nothing claims durability and Close
// leaves no clean-shutdown marker.
func TestSyncFailureSticky(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	appendT(t, l, makeBatch(2, 1, 1))
	l.becomeLeader()
	l.finishSync(errors.New("injected fsync failure"))
	if err := l.Sync(); err == nil || err.Error() != "injected fsync failure" {
		t.Fatalf("Sync after failure: %v", err)
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close after fsync failure succeeded")
	}
	if _, err := os.Stat(dir + "/" + cleanShutdownFile); err == nil {
		t.Fatal("clean-shutdown marker written after fsync failure")
	}
	l = openT(t, dir, Options{})
	defer l.Close()
	if l.EndOffset() != 2 {
		t.Fatalf("EndOffset %d", l.EndOffset())
	}
}

// TestReadDuringAppend reads concurrently with appends and rolls: every read sees whole
// batches with the expected content and nothing at or past the end offset it started with.
func TestReadDuringAppend(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10, IndexIntervalBytes: 256})
	defer l.Close()
	const batches = 400
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			off := int64(0)
			for ctx.Err() == nil || off < l.EndOffset() {
				s, err := l.Read(off, 300*(r+1))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := s.Bytes()
				s.Release()
				if err != nil {
					t.Error(err)
					return
				}
				for _, batch := range splitBatches(t, b) {
					if _, _, err := ValidateBatches(batch); err != nil {
						t.Errorf("read a bad batch: %v", err)
						return
					}
					base, last := batchOffsets(batch)
					if base > off || off > last {
						t.Errorf("read offset %d got batch at %d", off, base)
						return
					}
					if end := l.EndOffset(); last >= end {
						t.Errorf("read batch ending at %d past end %d", last, end)
						return
					}
					want := makeBatch(1, 50, byte(base)) // batch i holds offset i
					if !bytes.Equal(batch[lengthFieldEnd:], want[lengthFieldEnd:]) {
						t.Errorf("batch at %d has wrong content", base)
						return
					}
					off = last + 1
				}
			}
		})
	}
	for i := range batches {
		appendT(t, l, makeBatch(1, 50, byte(i)))
	}
	cancel()
	wg.Wait()
}

// TestDeleteSegmentsBefore checks retention and that a Slice taken before its segment was
// deleted stays readable until released.
func TestDeleteSegmentsBefore(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 2 << 10})
	want := fill(t, l, 60, 4)
	held, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	heldBytes, _ := held.Bytes()
	before := len(segmentFiles(t, dir, logSuffix))
	n, err := l.DeleteSegmentsBefore(l.EndOffset() / 2)
	if err != nil || n == 0 {
		t.Fatalf("DeleteSegmentsBefore: %d, %v", n, err)
	}
	if got := len(segmentFiles(t, dir, logSuffix)); got != before-n {
		t.Fatalf("%d segments left, want %d", got, before-n)
	}
	if l.StartOffset() == 0 || l.StartOffset() > l.EndOffset()/2 {
		t.Fatalf("StartOffset %d", l.StartOffset())
	}
	if _, err := l.Read(0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below start: %v", err)
	}
	if b, err := held.Bytes(); err != nil || !bytes.Equal(b, heldBytes) {
		t.Fatalf("held Slice unreadable after deletion: %v", err)
	}
	held.Release()
	held.Release() // idempotent
	if _, err := held.File.Stat(); err == nil {
		t.Fatal("file of a deleted, released segment still open")
	}
	var size int64
	for _, f := range segmentFiles(t, dir, logSuffix) {
		size += fileSize(t, f)
	}
	if size != l.Size() {
		t.Fatalf("Size %d, files %d", l.Size(), size)
	}
	// The active segment is never deleted.
	l.DeleteSegmentsBefore(1 << 40)
	if got := len(segmentFiles(t, dir, logSuffix)); got != 1 {
		t.Fatalf("%d segments left", got)
	}
	l.Close()
	l = openT(t, dir, Options{SegmentBytes: 2 << 10})
	defer l.Close()
	got := readAll(t, l, l.StartOffset())
	if len(got) == 0 || !bytes.Equal(got[len(got)-1], want[len(want)-1]) {
		t.Fatal("last batch lost")
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir() + "/p0"
	l := openT(t, dir, Options{})
	fill(t, l, 5, 0)
	s, err := l.Read(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	if b, err := s.Bytes(); err != nil || len(b) == 0 {
		t.Fatalf("Slice unreadable after Delete: %v", err)
	}
	s.Release()
	if _, err := l.Append(makeBatch(1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Delete: %v", err)
	}
}
