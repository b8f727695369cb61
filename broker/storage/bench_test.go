package storage

import (
	"context"
	"testing"
)

// BenchmarkAppend appends 16 KiB batches of 1 KiB records without fsync.
func BenchmarkAppend(b *testing.B) {
	l := openT(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
	defer l.Close()
	batch := makeBatch(16, 1000, 'x')
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendSyncParallel is acks=all: every append waits for its fsync, shared by the
// concurrent producers through group commit.
func BenchmarkAppendSyncParallel(b *testing.B) {
	l := openT(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
	defer l.Close()
	b.SetBytes(int64(len(makeBatch(16, 1000, 'x'))))
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		batch := makeBatch(16, 1000, 'x')
		for pb.Next() {
			res, err := l.Append(batch)
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.SyncTo(context.Background(), res.LastOffset+1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(l.syncs.Load())/float64(b.N), "fsyncs/op")
}

// BenchmarkRead reads 1 MiB ranges from a log of 16 KiB batches.
func BenchmarkRead(b *testing.B) {
	l := openT(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
	defer l.Close()
	batch := makeBatch(16, 1000, 'x')
	for range 2000 {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end := l.EndOffset()
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		s, err := l.Read(off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		s.Release()
		off = (off + 997) % end
	}
}
